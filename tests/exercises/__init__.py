"""Tests of the exercises: the machinery, and each section's wrong answers."""
