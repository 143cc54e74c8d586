"""The paper's algorithms: network and split, costs, pruning, encoding, entropy coding, channels, JSCC, latency. No file I/O, no plots, no presets."""
