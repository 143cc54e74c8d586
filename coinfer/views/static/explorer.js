// coinfer explorers: the runtime shared by every kernel-free explorer. It reads the spec, wires the
// sliders, calls `render` (defined just before this code, in the same closure) and draws its
// result: readouts, an inline SVG plot, a stacked bar. Plain ES5, no dependencies. __ID__ is
// replaced by the explorer's element id.
var root = document.getElementById("__ID__");
var spec = JSON.parse(root.querySelector("script[data-spec]").textContent);
var SVGNS = "http://www.w3.org/2000/svg";
var inputs = {};
spec.sliders.forEach(function (s) { inputs[s.name] = root.querySelector('input[data-slider="' + s.name + '"]'); });
var util = {
  // coinfer.views.style.format_int: Python's f"{round(x):,}" (halves to even, no "-0")
  int: function (x) { var s = util.fixed(x, 0); return s === "-0" ? "0" : s; },
  // coinfer.views.style.format_fixed: Python's f"{x:,.{d}f}", the exact binary value rounded, halves
  // to even (toLocaleString rounds the shortest decimal half up: 0.125 -> 0.13, 1.005 -> 1.01).
  // toFixed rounds the exact value but takes the larger of two equally near; toFixed(100) shows
  // whether x lies exactly halfway (a tie's expansion ends at digit d + 1). Exact below 1e21.
  fixed: function (x, d) {
    if (!isFinite(x)) { return x !== x ? "nan" : (x > 0 ? "inf" : "-inf"); }
    var a = Math.abs(x), s = a.toFixed(d);
    if (a >= 1e21) { return x.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d}); }
    var exact = a.toFixed(100), dot = exact.indexOf(".");
    if (/^50*$/.test(exact.slice(dot + 1 + d)) && /[13579]$/.test(s)) { s = exact.slice(0, d ? dot + 1 + d : dot); }
    var parts = s.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (x < 0 || 1 / x < 0 ? "-" : "") + parts.join(".");
  },
  seconds: function (t) {
    if (!isFinite(t)) { return "inf"; }
    return t < 1 ? util.fixed(t * 1e3, 1) + " ms" : util.fixed(t, 2) + " s";
  },
  si: function (x, unit) {
    var p = [[1e12, " T"], [1e9, " G"], [1e6, " M"], [1e3, " k"]];
    for (var i = 0; i < p.length; i++) { if (Math.abs(x) >= p[i][0]) { return util.fixed(x / p[i][0], 2) + p[i][1] + (unit || ""); } }
    return util.fixed(x, x === Math.round(x) ? 0 : 2) + " " + (unit || "");
  },
  index: function (name) { return parseInt(inputs[name].value, 10); },
  argmin: function (arr, key) {
    var best = -1, bestv = Infinity;
    arr.forEach(function (a, i) { var v = key ? key(a, i) : a; if (v < bestv) { bestv = v; best = i; } });
    return best;
  }
};
function el(name, attrs, parent) {
  var e = document.createElementNS(SVGNS, name);
  for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) { e.setAttribute(k, attrs[k]); } }
  if (parent) { parent.appendChild(e); }
  return e;
}
var limits = null;
function extent(out, pl) {
  var xs = [], ys = [];
  (out.series || []).forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
  (out.highlight || []).forEach(function (h) { xs.push(h.x); ys.push(h.y); });
  (out.hlines || []).forEach(function (h) { ys.push(h.y); });
  (out.vlines || []).forEach(function (v) { xs.push(v.x); });
  function lim(vals, log, fixed) {
    if (fixed) { return fixed; }
    vals = vals.filter(function (v) { return isFinite(v) && (!log || v > 0); });
    if (!vals.length) { return log ? [1, 10] : [0, 1]; }
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (log) { return [Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi)))]; }
    var pad = (hi - lo) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  return {x: lim(xs, pl.logx, pl.xlim), y: lim(ys, pl.logy, pl.ylim)};
}
function ticks(lim, log) {
  var t = [];
  if (log) {
    for (var e = Math.floor(Math.log10(lim[0])); e <= Math.ceil(Math.log10(lim[1])); e++) {
      var v = Math.pow(10, e); if (v >= lim[0] * 0.999 && v <= lim[1] * 1.001) { t.push(v); }
    }
    return t;
  }
  var span = lim[1] - lim[0], step = Math.pow(10, Math.floor(Math.log10(span / 5)));
  if (span / step > 10) { step *= 2; } if (span / step > 10) { step *= 2.5; }
  for (var v2 = Math.ceil(lim[0] / step) * step; v2 <= lim[1] + 1e-9 * span; v2 += step) { t.push(v2); }
  return t;
}
function tickLabel(v, log) {
  if (log) { var e = Math.round(Math.log10(v)); return e >= -2 && e <= 3 ? String(v) : "1e" + e; }
  return Math.abs(v) >= 1e4 ? v.toExponential(1) : String(Math.round(v * 1e6) / 1e6);
}
function markerShape(g, kind, x, y, size, color) {
  if (kind === "star") {
    var pts = [];
    for (var k = 0; k < 10; k++) {
      var r = k % 2 ? size * 0.45 : size, a = Math.PI / 2 + k * Math.PI / 5;
      pts.push((x + r * Math.cos(a)).toFixed(2) + "," + (y - r * Math.sin(a)).toFixed(2));
    }
    return el("polygon", {points: pts.join(" "), fill: color, stroke: "#222", "stroke-width": 0.8}, g);
  }
  if (kind === "square") { return el("rect", {x: x - size, y: y - size, width: 2 * size, height: 2 * size, fill: color}, g); }
  return el("circle", {cx: x, cy: y, r: size, fill: color}, g);
}
function drawPlot(out) {
  var svg = root.querySelector("svg[data-plot]");
  if (!svg || !out) { return; }
  var pl = spec.plot, W = pl.width, H = pl.height, m = {l: 64, r: 12, t: 10, b: 44};
  if (!limits) { limits = extent(out, pl); }
  var lx = limits.x, ly = limits.y;
  function sx(v) {
    if (pl.logx) { v = v > 0 ? Math.log10(v) : Math.log10(lx[0]); return m.l + (v - Math.log10(lx[0])) / (Math.log10(lx[1]) - Math.log10(lx[0])) * (W - m.l - m.r); }
    return m.l + (v - lx[0]) / (lx[1] - lx[0]) * (W - m.l - m.r);
  }
  function sy(v) {
    if (pl.logy) { v = v > 0 ? Math.log10(v) : Math.log10(ly[0]); return H - m.b - (v - Math.log10(ly[0])) / (Math.log10(ly[1]) - Math.log10(ly[0])) * (H - m.t - m.b); }
    return H - m.b - (v - ly[0]) / (ly[1] - ly[0]) * (H - m.t - m.b);
  }
  while (svg.firstChild) { svg.removeChild(svg.firstChild); }
  var axes = el("g", {}, svg);
  ticks(lx, pl.logx).forEach(function (v) {
    var x = sx(v);
    el("line", {x1: x, x2: x, y1: m.t, y2: H - m.b, stroke: "#e5e7eb"}, axes);
    el("text", {x: x, y: H - m.b + 14, "text-anchor": "middle"}, axes).textContent = tickLabel(v, pl.logx);
  });
  ticks(ly, pl.logy).forEach(function (v) {
    var y = sy(v);
    el("line", {x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: "#e5e7eb"}, axes);
    el("text", {x: m.l - 4, y: y + 4, "text-anchor": "end"}, axes).textContent = tickLabel(v, pl.logy);
  });
  el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "none", stroke: "#57606a"}, axes);
  el("text", {x: (m.l + W - m.r) / 2, y: H - 8, "text-anchor": "middle"}, axes).textContent = pl.xlabel;
  el("text", {x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
              transform: "rotate(-90 14 " + (m.t + H - m.b) / 2 + ")"}, axes).textContent = pl.ylabel;
  var legend = root.querySelector("[data-legend]"), items = [];
  // Data are clipped to the plot area, so that points outside fixed limits do not spill over.
  var clip = el("clipPath", {id: "__ID__-clip"}, el("defs", {}, svg));
  el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b}, clip);
  var g = el("g", {"clip-path": "url(#__ID__-clip)"}, svg);
  (out.hlines || []).forEach(function (h) {
    el("line", {x1: m.l, x2: W - m.r, y1: sy(h.y), y2: sy(h.y), stroke: h.color || "#888",
                "stroke-dasharray": h.dash || "6 4", "stroke-width": 1.5}, g);
    if (h.label) { items.push([h.label, h.color || "#888"]); }
  });
  (out.vlines || []).forEach(function (v) {
    el("line", {x1: sx(v.x), x2: sx(v.x), y1: m.t, y2: H - m.b, stroke: v.color || "#888",
                "stroke-dasharray": v.dash || "6 4", "stroke-width": 1.5}, g);
    if (v.label) { items.push([v.label, v.color || "#888"]); }
  });
  (out.series || []).forEach(function (s) {
    var color = s.color || "#0072b2";
    if (s.line !== false && s.points.length > 1) {
      el("polyline", {points: s.points.map(function (p) { return sx(p[0]).toFixed(2) + "," + sy(p[1]).toFixed(2); }).join(" "),
                      fill: "none", stroke: color, "stroke-width": 1.8, "stroke-dasharray": s.dash || null}, g);
    }
    if (s.marker !== "none") {
      s.points.forEach(function (p) { markerShape(g, s.marker || "circle", sx(p[0]), sy(p[1]), s.size || 3.5, color); });
    }
    if (s.label) { items.push([s.label, color]); }
  });
  (out.highlight || []).forEach(function (h) {
    var x = sx(h.x), y = sy(h.y);
    var shape = markerShape(g, h.marker || "circle", x, y, h.size || 8, h.color || "#d55e00");
    shape.setAttribute("data-highlight", h.label || "");
    if (h.marker !== "star") { shape.setAttribute("fill-opacity", "0.85"); shape.setAttribute("stroke", "#222"); }
    if (h.label) {
      el("text", {x: Math.min(x + 10, W - m.r - 4), y: Math.max(y - 10, m.t + 10),
                  "text-anchor": x + 10 > W - 120 ? "end" : "start"}, svg).textContent = h.label;
    }
  });
  if (legend) {
    legend.innerHTML = "";
    items.forEach(function (it) {
      var span = document.createElement("span"), sw = document.createElement("span");
      sw.className = "cx-swatch"; sw.style.background = it[1];
      span.appendChild(sw); span.appendChild(document.createTextNode(it[0])); legend.appendChild(span);
    });
  }
}
function drawBars(bars) {
  var box = root.querySelector("[data-bars]");
  if (!bars || !bars.length) { box.hidden = true; return; }
  box.hidden = false;
  var bar = box.querySelector(".cx-bar"), leg = box.querySelector(".cx-bar-legend");
  bar.innerHTML = ""; leg.innerHTML = "";
  var total = bars.reduce(function (a, b) { return a + Math.max(b.value, 0); }, 0) || 1;
  var palette = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#000000"];
  bars.forEach(function (b, i) {
    var color = b.color || palette[i % palette.length], d = document.createElement("div");
    d.style.width = (100 * Math.max(b.value, 0) / total) + "%"; d.style.background = color; d.title = b.label;
    bar.appendChild(d);
    var s = document.createElement("span"), sw = document.createElement("span");
    sw.className = "cx-swatch"; sw.style.background = color;
    s.appendChild(sw); s.appendChild(document.createTextNode(b.label)); leg.appendChild(s);
  });
}
function update() {
  var state = {};
  spec.sliders.forEach(function (s) {
    var i = parseInt(inputs[s.name].value, 10);
    state[s.name] = s.values[i];
    root.querySelector('output[data-slider-value="' + s.name + '"]').textContent = s.labels[i];
  });
  var err = root.querySelector("[data-error]");
  try {
    var out = render(spec.data, state, util) || {};
    var k, cell;
    for (k in (out.text || {})) { cell = root.querySelector('[data-readout="' + k + '"]'); if (cell) { cell.textContent = out.text[k]; } }
    for (k in (out.html || {})) { cell = root.querySelector('[data-readout="' + k + '"]'); if (cell) { cell.innerHTML = out.html[k]; } }
    if (out.plot) { drawPlot(out.plot); }
    drawBars(out.bars);
    err.hidden = true;
  } catch (e) {
    err.hidden = false; err.textContent = "explorer error: " + e;
    if (window.console) { console.error(e); }
  }
}
spec.sliders.forEach(function (s) { inputs[s.name].addEventListener("input", update); });
update();
root.setAttribute("data-ready", "1");
