"""s06's exercises."""
