"""s08's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.exercises.solutions.s08 import sample_given


def naive_posterior(log_prior, log_likelihood):
    joint = log_prior.exp() * log_likelihood.exp()
    return joint / joint.sum(-1, keepdim=True)


def cell_centres(land_mass, num_samples):
    cells = torch.nonzero(world.land_mass_labels() == land_mass)
    pick = cells[torch.randint(len(cells), (num_samples,))].float()
    return torch.stack([-180 + 0.25 * (pick[:, 1] + 0.5), 90 - 0.25 * (pick[:, 0] + 0.5)], -1)


def near_the_middle(land_mass, num_samples):
    """Points drawn around the land mass's centre, kept when on it: on target, not uniform."""
    centre = world.sample_land_mass(land_mass, 10_000).mean(0)
    kept = []
    while sum(map(len, kept)) < num_samples:
        x = centre + 10 * torch.randn(10_000, 2)
        kept.append(x[world.land_mass_of(x) == land_mass])
    return torch.cat(kept)[:num_samples]


def in_the_bounding_box(land_mass, num_samples):
    """Uniform over the land mass's bounding box, sea and all."""
    points = world.sample_land_mass(land_mass, 10_000)
    low, high = points.min(0).values, points.max(0).values
    return low + (high - low) * torch.rand(num_samples, 2)


WRONG = {
    "s08.1": [
        (lambda log_prior, log_lik: torch.softmax(log_lik, -1), "you left out the prior p(y)"),
        (naive_posterior, "exp of those underflows to 0"),
        (lambda log_prior, log_lik: torch.softmax(log_prior + log_lik, 0), "normalise along dim"),
        (
            lambda log_prior, log_lik: torch.log_softmax(log_prior + log_lik, -1),
            "they are log p(y | x)",
        ),
        (lambda log_prior, log_lik: (log_prior + log_lik).exp(), "they are the joint p(x, y)"),
    ],
    "s08.2": [
        (lambda log_prior, log_lik: torch.logsumexp(log_lik, -1), "each by its p(y)"),
        (
            lambda log_prior, log_lik: torch.logsumexp(log_lik, -1) - math.log(5),
            "the mean of the class densities",
        ),
        (lambda log_prior, log_lik: (log_prior + log_lik).sum(-1), "a sum of their logs is -inf"),
        (
            lambda log_prior, log_lik: (log_prior.exp() * log_lik.exp()).sum(-1).log(),
            "underflows to 0",
        ),
        (
            lambda log_prior, log_lik: (log_prior + log_lik).max(-1).values,
            "the largest term p(y) p(x | y) is not the sum",
        ),
        (lambda log_prior, log_lik: log_prior + log_lik, "must have shape (1036800,)"),
    ],
    "s08.3": [
        (lambda land_mass, n: sample_given(land_mass + 1, n), "the index counts from 0"),
        (lambda land_mass, n: world.sample_land(n), "that is p(x), not p(x | y)"),
        (
            lambda land_mass, n: (lambda x: x[world.land_mass_of(x) == land_mass])(
                world.sample_land(n)
            ),
            "draw about 3000 / p(y)",
        ),
        (lambda land_mass, n: sample_given(land_mass, 1).expand(n, 2), "are distinct"),
        (cell_centres, "centres or corners"),
        (near_the_middle, "not spread uniformly over it"),
        (in_the_bounding_box, "at sea"),
    ],
}
