"""s05's exercises."""
