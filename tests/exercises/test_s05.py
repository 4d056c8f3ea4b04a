"""s05's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import config_enumerate

from gdl_pyro import exercises
from gdl_pyro.distributions import UniformBox
from gdl_pyro.exercises.solutions.s05 import fit_boxes


def _num(x, num_data):
    return len(x) if x is not None else num_data


def z_outside_the_plate(x=None, *, weights, locs, scales, num_data=None):
    z = pyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
    with pyro.plate("data", _num(x, num_data)):
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1), obs=x)


def z_not_enumerated(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        z = pyro.sample("z", dist.Categorical(weights))
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1), obs=x)


def no_to_event(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        z = pyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]), obs=x)


def weights_as_logits(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        z = pyro.sample("z", dist.Categorical(logits=weights), infer={"enumerate": "parallel"})
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1), obs=x)


def obs_not_observed(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        z = pyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1))


def marginal_only(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        components = dist.Normal(locs, scales).to_event(1)
        mixture = dist.MixtureSameFamily(dist.Categorical(weights), components)
        return pyro.sample("obs", mixture, obs=x)


def needs_x(x=None, *, weights, locs, scales, num_data=None):
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1), obs=x)


def _by_hand(x, *, cell=10.0, pseudo_count=0.0, divide_by_area=True):
    """A histogram written by hand (the learner's own log density), by default no pseudo-count."""
    counts = torch.histogramdd(
        x, bins=[int(360 / cell), int(180 / cell)], range=[-180.0, 180.0, -90.0, 90.0]
    ).hist
    shares = (counts + pseudo_count) / (len(x) + pseudo_count * counts.numel())
    density = shares / (cell**2 if divide_by_area else 1.0)

    def log_q(points):
        column = ((points[:, 0] + 180) // cell).clamp(0, counts.shape[0] - 1).long()
        row = ((points[:, 1] + 90) // cell).clamp(0, counts.shape[1] - 1).long()
        return density[column, row].log()

    return log_q


def one_gaussian(x):
    return dist.MultivariateNormal(x.mean(0), torch.cov(x.T))


def bounding_boxes(x, cell=10.0):
    """Boxes laid from the points' south-west corner: the last ones reach beyond the map."""
    low = torch.cartesian_prod(
        torch.arange(float(x[:, 0].min()), float(x[:, 0].max()), cell),
        torch.arange(float(x[:, 1].min()), float(x[:, 1].max()), cell),
    )
    counts = ((x[:, None] >= low) & (x[:, None] < low + cell)).all(-1).sum(0)
    weights = (counts + 0.5) / (counts + 0.5).sum()
    return dist.MixtureSameFamily(dist.Categorical(weights), UniformBox(low, low + cell))


def _components(locs, scales):
    return dist.Normal(locs, scales).to_event(1)


WRONG = {
    "s05.1": [
        (z_outside_the_plate, "one component is drawn for all 1000 points"),
        (z_not_enumerated, "not marked for enumeration"),
        (no_to_event, ".to_event(1)"),
        (weights_as_logits, "reads the weights as logits"),
        (obs_not_observed, "is not observed"),
        (marginal_only, "no sample site 'z'"),
        (needs_x, "fixed_mixture_model(num_data=3000) raised TypeError"),
    ],
    "s05.2": [
        # The maximum-likelihood weights: boxes without a training point get density 0.
        (_by_hand, "pseudo-count"),
        # Shares of the points, not divided by the box's area.
        (lambda x: _by_hand(x, divide_by_area=False), "divided by its box's area"),
        (one_gaussian, "of its mass lies off the map"),
        (lambda x: fit_boxes(x, cell=30.0), "smaller boxes"),
        # Small cells with a tiny pseudo-count: the fit follows the training points.
        (lambda x: _by_hand(x, cell=4.0, pseudo_count=0.01), "fewer, larger boxes"),
        (bounding_boxes, "cover the whole map"),
        (lambda x: torch.zeros(3), "must return a distribution"),
    ],
    "s05.3": [
        # Densities, then normalised: 0 / 0 where every density underflows.
        (
            lambda x, w, locs, scales: (
                (w * _components(locs, scales).log_prob(x.unsqueeze(-2)).exp())
                / (w * _components(locs, scales).log_prob(x.unsqueeze(-2)).exp()).sum(-1, True)
            ),
            "underflows",
        ),
        (
            lambda x, w, locs, scales: (
                _components(locs, scales).log_prob(x.unsqueeze(-2)).softmax(-1)
            ),
            "ignore the weights",
        ),
        (
            lambda x, w, locs, scales: (
                w.log() + _components(locs, scales).log_prob(x.unsqueeze(-2))
            ).softmax(0),
            "normalised each component over the points",
        ),
        (
            lambda x, w, locs, scales: (
                w.log() + _components(locs, scales).log_prob(x.unsqueeze(-2))
            ).log_softmax(-1),
            "not their logs",
        ),
        (
            lambda x, w, locs, scales: (
                (w.log() + _components(locs, scales).log_prob(x.unsqueeze(-2))).softmax(-1).T
            ),
            "your answer must have shape (1000, 3)",
        ),
        (lambda x, w, locs, scales: torch.full((len(x), 3), math.nan), "your answer holds NaN"),
    ],
}


@config_enumerate
def decorated(x=None, *, weights, locs, scales, num_data=None):
    """Another right answer: @config_enumerate, and a MultivariateNormal per component."""
    with pyro.plate("data", _num(x, num_data)):
        z = pyro.sample("z", dist.Categorical(logits=weights.log()))
        scale_tril = torch.diag_embed(scales[z])
        return pyro.sample("obs", dist.MultivariateNormal(locs[z], scale_tril=scale_tril), obs=x)


def test_other_right_answers_pass_too():
    assert exercises.check("s05.1", decorated).passed
    # A histogram written by hand, with a pseudo-count, as a function of the points.
    assert exercises.check("s05.2", lambda x: _by_hand(x, pseudo_count=0.5)).passed


# Its check takes most of a second (EM's 10 Gaussians fitted in the check): slow loop only.
SLOW = {"s05.2"}
