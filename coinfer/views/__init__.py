"""Figures and explorers: one module per chapter, one style table, one explorer runtime."""
