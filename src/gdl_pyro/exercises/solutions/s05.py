"""Reference solutions of s05's exercises."""
