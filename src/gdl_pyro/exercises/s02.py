"""s02's exercises."""
