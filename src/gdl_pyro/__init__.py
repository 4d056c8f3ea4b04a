"""gdl-pyro: Chapter 1 of Generative Deep Learning (Generative Modeling) as Pyro models."""

__version__ = "0.1.0"
