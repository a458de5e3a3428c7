"""Block Kit builders: pure functions, data in, (fallback text, blocks) or a view out."""
