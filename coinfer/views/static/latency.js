/* Chapter 6's latency explorer (coinfer.views.latency.latency_twin): the latency, memory and
   choice rules of coinfer.core.latency (latency, footprint_bytes, choose) in JavaScript, with the
   same formulas, order of operations, comparisons and tie-breaking; its output is the one
   coinfer.views.latency.latency_output computes in Python, and a browser test
   (tests/test_latency_browser.py) checks that the two agree at many slider settings.
   Slider units: rate in KB/s, device in GFLOP/s, memory in MB available to the model, server in
   TFLOP/s, accuracy threshold as a fraction (shown in percent; the chapter's exact threshold is
   one of the values), compared with each record's `selection` accuracy
   (coinfer.stats.selection_accuracy: the validation accuracy; the test accuracy is only reported). */
function (data, state, util) {
  var rate = state.rate * 8000, df = state.device * 1e9, sf = state.server * 1e12;
  var budget = state.memory * 1e6 * 1.0, thr = state.accuracy;
  function cmp(a, b) {            // coinfer.core.latency._sort_key
    var ka = [a.total, a.r.device_macs, a.r.bits, -a.r.selection], kb = [b.total, b.r.device_macs, b.r.bits, -b.r.selection];
    for (var i = 0; i < ka.length; i++) { if (ka[i] !== kb[i]) { return ka[i] < kb[i] ? -1 : 1; } }
    var sa = [a.r.method, a.r.split_index, a.r.sparsity, a.r.code_size, a.r.channel];
    var sb = [b.r.method, b.r.split_index, b.r.sparsity, b.r.code_size, b.r.channel];
    for (var j = 0; j < sa.length; j++) { if (sa[j] !== sb[j]) { return sa[j] < sb[j] ? -1 : 1; } }
    return 0;
  }
  var cols = data.records, names = Object.keys(cols), records = [];
  for (var i = 0; i < cols.method.length; i++) {
    var rec = {};
    names.forEach(function (f) { rec[f] = cols[f][i]; });
    records.push(rec);
  }
  var all = records.map(function (r) {
    var dev = 2 * r.device_macs / df, link = r.bits / rate, srv = 2 * r.server_macs / sf;
    var size = data.overhead_factor * (data.bytes_per_value * (r.params + r.activations));
    return {r: r, dev: dev, link: link, srv: srv, total: dev + link + srv, size: size,
            accurate: r.selection >= thr, fits: size <= budget};
  });
  var best = null, perMethod = {};
  all.forEach(function (c) {
    if (!(c.accurate && c.fits)) { return; }
    if (best === null || cmp(c, best) < 0) { best = c; }
    var m = c.r.method;
    if (!(m in perMethod) || cmp(c, perMethod[m]) < 0) { perMethod[m] = c; }
  });
  var series = data.methods.map(function (m) {
    return {label: m, color: data.colors[m], marker: "circle", size: 4, line: false,
            points: all.filter(function (c) { return c.r.method === m && c.accurate && c.fits; })
                       .map(function (c) { return [c.r.device_macs, c.r.bits]; })};
  });
  series.push({label: "does not fit (accuracy or memory)", color: "#c0c0c0", marker: "circle", size: 2.5, line: false,
               points: all.filter(function (c) { return !(c.accurate && c.fits); })
                          .map(function (c) { return [c.r.device_macs, c.r.bits]; })});
  var highlight = [];
  data.methods.forEach(function (m) {
    if (perMethod[m] && perMethod[m] !== best) {
      highlight.push({x: perMethod[m].r.device_macs, y: perMethod[m].r.bits, color: data.colors[m], marker: "circle", size: 6});
    }
  });
  var rows = data.methods.map(function (m) {
    var c = perMethod[m];
    var n = all.filter(function (a) { return a.r.method === m; });
    var why = [];
    if (!c) {
      if (n.some(function (a) { return !a.accurate; })) { why.push("accuracy"); }
      if (n.some(function (a) { return !a.fits; })) { why.push("memory"); }
    }
    return "<tr><td style='color:" + data.colors[m] + ";padding-right:10px'>" + m + "</td><td style='padding-right:10px'>" +
           (c ? c.r.label.replace(m + " @ ", "") + "</td><td>" + util.seconds(c.total)
              : "none fits</td><td>(" + why.join(" and ") + ")") + "</td></tr>";
  });
  var out = {html: {methods: "<table>" + rows.join("") + "</table>"}, plot: {series: series, highlight: highlight}};
  if (best === null) {
    out.text = {choice: "none fits", latency: "-", breakdown: "-",
                memory: "budget " + util.fixed(budget / 1e6, 2) + " MB", feasible: "0 of " + all.length};
    out.bars = [];
    return out;
  }
  highlight.push({x: best.r.device_macs, y: best.r.bits, label: "chosen", color: data.colors[best.r.method], marker: "star", size: 10});
  out.text = {
    choice: best.r.label + " (validation " + util.fixed(100 * best.r.selection, 2) + "%, test " +
            util.fixed(100 * best.r.accuracy, 2) + "%)",
    latency: util.seconds(best.total),
    breakdown: "device " + util.seconds(best.dev) + " + link " + util.seconds(best.link) + " + server " + util.seconds(best.srv),
    memory: util.fixed(best.size / 1e6, 2) + " MB of " + util.fixed(budget / 1e6, 2) + " MB",
    feasible: all.filter(function (c) { return c.accurate && c.fits; }).length + " of " + all.length
  };
  out.bars = [{label: "device " + util.seconds(best.dev), value: best.dev, color: "#0072b2"},
              {label: "link " + util.seconds(best.link), value: best.link, color: "#e69f00"},
              {label: "server " + util.seconds(best.srv), value: best.srv, color: "#009e73"}];
  return out;
}
