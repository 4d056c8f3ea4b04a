"""s08's exercises."""
