"""Reference solutions of s02's exercises."""
