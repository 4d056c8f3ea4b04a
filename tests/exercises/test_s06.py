"""s06's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import numpy as np
import torch

from gdl_pyro import exercises
from gdl_pyro.convert import az
from gdl_pyro.data import world

ENTROPY = math.log(world.land_area())


def _normalised(log_weights):
    return log_weights - log_weights.logsumexp(0)


def naive_exp(loglik, log_weights):
    """Right in exact arithmetic; exp(log weight) overflows once the weights are large."""
    weights = log_weights.exp()
    return (weights.sum() / (weights * (-loglik).exp()).sum()).log()


def with_psis(loglik, log_weights):
    """ArviZ's Pareto-smoothed leave-one-out weights: another right answer."""
    smoothed, _ = az.psislw((log_weights - loglik).numpy())
    return float(np.log(np.exp(smoothed + loglik.numpy()).sum()))


def _gap(log_q, points):
    nll = -log_q(points)
    return nll.mean() - ENTROPY, nll


def over_the_map(log_q, n):
    """Points uniform over the whole map, sea included."""
    points = (torch.rand(n, 2) - 0.5) * torch.tensor([360.0, 180.0])
    gap, nll = _gap(log_q, points)
    return gap, nll.std() / math.sqrt(n)


def unpaired(log_q_a, log_q_b, n):
    x = world.sample_land(n)
    a, b = log_q_a(x), log_q_b(x)
    return (a - b).mean(), math.sqrt((a.var() + b.var()) / n)


def separate_points(log_q_a, log_q_b, n):
    a, b = log_q_a(world.sample_land(n)), log_q_b(world.sample_land(n))
    return a.mean() - b.mean(), math.sqrt((a.var() + b.var()) / n)


def _paired(log_q_a, log_q_b, n):
    x = world.sample_land(n)
    return log_q_a(x) - log_q_b(x)


WRONG = {
    "s06.1": [
        (
            lambda ll, lw: (_normalised(lw) + ll).logsumexp(0),
            "posterior predictive with y_i itself in the data",
        ),
        (lambda ll, lw: math.log(len(ll)) - (-ll).logsumexp(0), "harmonic mean"),
        (lambda ll, lw: (_normalised(lw).exp() * ll).sum(), "E[log p]"),
        (
            lambda ll, lw: math.log(len(ll)) - (lw - ll).logsumexp(0),
            "not normalised by the weights' sum",
        ),
        (naive_exp, "overflows"),
        (lambda ll, lw: lw - ll, "must have shape ()"),
    ],
    "s06.2": [
        (lambda log_q, n: (-log_q(world.sample_land(n)).mean(), 0.0), "cross-entropy"),
        (
            lambda log_q, n: (log_q(world.sample_land(n)).mean() + ENTROPY, 0.0),
            "never negative",
        ),
        (
            lambda log_q, n: (lambda g, nll: (g, nll.std()))(*_gap(log_q, world.sample_land(n))),
            "the points' sd",
        ),
        (
            lambda log_q, n: (lambda g, nll: (g, nll.std() / n))(
                *_gap(log_q, world.sample_land(n))
            ),
            "that is sd / n",
        ),
        (over_the_map, "sea included"),
        (lambda log_q, n: _gap(log_q, world.sample_land(n))[0], "must be two numbers"),
    ],
    "s06.3": [
        (unpaired, "unpaired error"),
        (separate_points, "same points"),
        (
            lambda a, b, n: (lambda d: (-d.mean(), d.std() / math.sqrt(n)))(_paired(a, b, n)),
            "sign is flipped",
        ),
        (lambda a, b, n: (lambda d: (d.mean(), d.std()))(_paired(a, b, n)), "the points' sd"),
    ],
}


def test_pareto_smoothed_weights_pass_too():
    result = exercises.check("s06.1", with_psis)
    assert result.passed, result.message
