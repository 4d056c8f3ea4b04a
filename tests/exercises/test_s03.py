"""s03's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox

WRONG = {
    "s03.1": [
        # The product of 5,000 densities underflows to 0.
        (lambda x, low, high: UniformBox(low, high).log_prob(x).exp().prod().log(), "underflows"),
        # torch's Uniform is half-open: the bounding box "misses" its own extreme points.
        (
            lambda x, low, high: torch.distributions.Uniform(low, high).log_prob(x).sum(),
            "half-open",
        ),
        (lambda x, low, high: UniformBox(low, high).log_prob(x).mean(), "mean log density"),
        # Clipping -inf to a floor pretends a point outside the box is merely unlikely.
        (
            lambda x, low, high: UniformBox(low, high).log_prob(x).clamp(min=-100).sum(),
            "do not skip it or clip it",
        ),
        (lambda x, low, high: UniformBox(low, high).log_prob(x), "must have shape ()"),
    ],
    "s03.2": [
        # Uniform, but unnormalised: the integral is the land's area.
        (
            lambda x: torch.where(world.is_land(x), 0.0, -math.inf),
            "integrates to 21418.9 over the map, not 1",
        ),
        # Normalised, but over the whole map: mass at sea.
        (lambda x: torch.full((len(x),), -math.log(360 * 180)), "mass at sea"),
        # Normalised over the map's land but not uniform: denser in the north.
        (
            lambda x: torch.where(
                world.is_land(x),
                -math.log(world.land_area()) + 0.5 * (x[:, 1] > 0) - 0.5 * (x[:, 1] <= 0),
                -math.inf,
            ),
            "",
        ),
        (lambda x: torch.zeros(3), "must have shape (1036800,)"),
    ],
}
