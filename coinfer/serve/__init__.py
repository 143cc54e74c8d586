"""The running system: wire format, link shaper, edge server and device over TCP."""
