"""Reference solutions of s06's exercises."""
