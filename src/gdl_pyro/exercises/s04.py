"""s04's exercises."""
