"""Reference solutions of s03's exercises."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox


def log_likelihood(x, low, high):
    """s03.1: the sum of the log densities; -inf as soon as one point lies outside the box."""
    return UniformBox(low, high).log_prob(x).sum()


def log_p_data(x):
    """s03.2: 1 / land area on land, 0 at sea."""
    return torch.where(world.is_land(x), -math.log(world.land_area()), -math.inf)
