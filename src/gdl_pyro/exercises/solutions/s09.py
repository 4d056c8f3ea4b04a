"""Reference solutions of s09's exercises."""
