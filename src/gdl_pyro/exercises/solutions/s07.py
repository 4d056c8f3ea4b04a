"""Reference solutions of s07's exercises."""
