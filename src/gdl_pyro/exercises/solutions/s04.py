"""Reference solutions of s04's exercises."""
