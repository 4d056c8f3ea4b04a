"""s09's exercises."""
