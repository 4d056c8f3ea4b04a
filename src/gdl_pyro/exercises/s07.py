"""s07's exercises."""
