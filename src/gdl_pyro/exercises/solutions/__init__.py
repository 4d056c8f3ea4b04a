"""Reference solutions of the chapter's exercises, one module per section, apart from the stubs.

Each module defines the name the section's stub defines: ``solutions.s03.log_likelihood`` answers
exercise s03.1. ``gdl_pyro.exercises.solution(id)`` finds it; the book shows them on a page of
their own.
"""
