"""Reference solutions of s08's exercises."""
