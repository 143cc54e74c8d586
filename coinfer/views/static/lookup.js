/* The render function of a precomputed explorer: Python computed every slider state's output
   once (coinfer.views.explorer.precomputed_explorer); the page only looks the state up. A state is
   one index into data.parts per entry of data.fields ([part, field]: e.g. ["text", "time"], or
   ["bars", null] for a part stored whole; -1 where the state lacks it), so that what many states
   share (e.g. the curve of chapter 1's plot, which no slider changes) is stored once. */
function (data, state, util) {
  var key = data.sliders.map(function (name) { return util.index(name); }).join(",");
  var row = data.states[key], out = {};
  if (!row) { throw new Error("no precomputed output for slider state " + key); }
  data.fields.forEach(function (f, i) {
    if (row[i] < 0) { return; }
    if (f[1] === null) { out[f[0]] = data.parts[row[i]]; return; }
    out[f[0]] = out[f[0]] || {};
    out[f[0]][f[1]] = data.parts[row[i]];
  });
  return out;
}
