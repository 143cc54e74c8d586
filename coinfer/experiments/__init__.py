"""One module per committed lookup table: run(preset) -> LookupTable."""
