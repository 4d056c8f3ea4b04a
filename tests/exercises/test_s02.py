"""s02's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox


def _rejection(num_samples, low=(-180.0, -90.0), high=(180.0, 90.0), keep=None):
    """A rejection sampler from the box [low, high], with an extra acceptance rule ``keep``."""
    proposal = UniformBox(torch.tensor(low), torch.tensor(high))
    kept, count = [], 0
    while count < num_samples:
        points = proposal.sample((num_samples,))
        accept = world.is_land(points)
        if keep is not None:
            accept &= keep(points)
        kept.append(points[accept])
        count += int(accept.sum())
    return torch.cat(kept)[:num_samples]


def uniform_on_the_sphere(num_samples):
    """Uniform per km² of the globe (latitude from arcsin), then rejection: not p_data."""
    kept, count = [], 0
    while count < num_samples:
        lon = 360 * torch.rand(num_samples) - 180
        lat = torch.rad2deg(torch.asin(2 * torch.rand(num_samples) - 1))
        points = torch.stack([lon, lat], -1)
        kept.append(points[world.is_land(points)])
        count += len(kept[-1])
    return torch.cat(kept)[:num_samples]


def one_batch(num_samples):
    """Rejection without drawing again: about a third of the points asked for."""
    points = UniformBox(torch.tensor([-180.0, -90.0]), torch.tensor([180.0, 90.0])).sample(
        (num_samples,)
    )
    return points[world.is_land(points)]


WRONG = {
    "s02.1": [
        # The proposal itself: uniform over the map, sea and all.
        (
            lambda n: UniformBox(torch.tensor([-180.0, -90.0]), torch.tensor([180.0, 90.0])).sample(
                (n,)
            ),
            "are at sea",
        ),
        (one_batch, "propose again until you have num_samples"),
        (lambda n: world.sample_land(n), "world.sample_land"),
        # Accurate but covering one continent: a box over Eurasia.
        (lambda n: _rejection(n, (40.0, 40.0), (140.0, 75.0)), "never makes a point on Americas"),
        (uniform_on_the_sphere, "not per km²"),
        # One point on land, repeated.
        (lambda n: torch.tensor([[30.0, 27.0]]).expand(n, 2), "distinct"),
        # A proposal box that stops at 80 degrees north: the tip of Greenland is never made.
        (lambda n: _rejection(n, (-180.0, -90.0), (180.0, 80.0)), "makes no point in the cell"),
        # Masses in proportion, but alternate 10-degree bands of longitude kept a fifth as often.
        (
            lambda n: _rejection(
                n, keep=lambda p: (torch.floor(p[:, 0] / 10) % 2 == 0) | (torch.rand(len(p)) < 0.2)
            ),
            "but not the land within them",
        ),
        (lambda n: torch.zeros(n, 3), "must have shape (N, 2)"),
    ],
    "s02.2": [
        # The section's box: the bounding box of the data, nearly the whole map.
        (lambda: (torch.tensor([-179.0, -85.0]), torch.tensor([179.0, 83.0])), "at sea"),
        # All land, but a small part of p_data: Siberia.
        (lambda: (torch.tensor([60.0, 55.0]), torch.tensor([120.0, 70.0])), "lies outside it"),
        # Antarctica, but reaching below the map's south edge.
        (
            lambda: (torch.tensor([-180.0, -120.0]), torch.tensor([180.0, -70.0])),
            "off the map",
        ),
        # Corners the other way round.
        (
            lambda: (torch.tensor([180.0, -70.0]), torch.tensor([-180.0, -90.0])),
            "low must be below",
        ),
        (lambda: torch.tensor([-180.0, -90.0, 180.0, -70.0]), "two corners"),
        (lambda: (torch.full((2,), math.nan), torch.zeros(2)), "holds NaN"),
    ],
}

# Its check takes most of a second (20,000 rejection draws): the slow loop only.
SLOW = {"s02.1"}
