"""One module per model family; each has a Pyro ``model`` and, where one exists, its closed form."""

from gdl_pyro.models import (
    autoregressive,
    box,
    diffusion,
    energy,
    flow,
    gan,
    gaussian,
    kde,
    mixture,
    ppca,
    vae,
    vae_points,
)

__all__ = [
    "autoregressive",
    "box",
    "diffusion",
    "energy",
    "flow",
    "gan",
    "gaussian",
    "kde",
    "mixture",
    "ppca",
    "vae",
    "vae_points",
]
