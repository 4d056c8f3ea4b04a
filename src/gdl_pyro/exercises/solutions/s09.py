"""Reference solutions of s09's exercises."""

import math

import numpy as np
import pyro
import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import PiecewiseUniform
from gdl_pyro.models import kde


def lon_first_model(x=None, *, num_data=None):
    """s09.1: p(lon) from each column's land, then p(lat | lon) uniform over that column's land."""
    land = world.land_mask().flip(0).T.float()  # (1440 columns west to east, 720 cells from south)
    with pyro.plate("data", len(x) if x is not None else num_data):
        lon = pyro.sample(
            "lon",
            PiecewiseUniform(-180.0, 180.0, land.sum(1).log()),
            obs=None if x is None else x[:, 0],
        )
        column = ((lon + 180.0) / 0.25).floor().clamp(0, 1439).long()
        pyro.sample(
            "lat",
            PiecewiseUniform(-90.0, 90.0, land[column].log()),
            obs=None if x is None else x[:, 1],
        )


def wrapped_lon_log_prob(lon, centres, bandwidth):
    """s09.2: a Gaussian at every centre and at its images one turn away, lon +- 360."""
    images = torch.cat([centres - 360.0, centres, centres + 360.0])
    kernels = torch.distributions.Normal(images, bandwidth).log_prob(lon[:, None])
    return kernels.logsumexp(-1) - math.log(len(centres))


def choose_bandwidth(x_train, x_valid):
    """s09.3: the candidate whose KDE of x_train gives x_valid the highest mean log density."""
    candidates = np.geomspace(1.0, 20.0, 15)
    scores = [kde.MapKDE(x_train, h).log_prob(x_valid).mean().item() for h in candidates]
    return float(candidates[np.argmax(scores)])
