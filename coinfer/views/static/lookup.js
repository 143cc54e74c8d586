/* The render function of a precomputed explorer: Python computed every slider state's output
   once (coinfer.views.explorer.precomputed_explorer); the page only looks the state up. Each
   state maps its parts (text, html, plot, bars) to indices into data.parts, so that a part many
   states share (e.g. chapter 1's plot, which depends on the split point only) is stored once. */
function (data, state, util) {
  var key = data.sliders.map(function (name) { return util.index(name); }).join(",");
  var ref = data.states[key], out = {};
  if (!ref) { throw new Error("no precomputed output for slider state " + key); }
  for (var part in ref) { out[part] = data.parts[ref[part]]; }
  return out;
}
