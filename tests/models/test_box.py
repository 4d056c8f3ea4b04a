"""The box family: MLE is the bounding box, Pyro's fit reaches it, and bad input is refused."""

import math

import pyro
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gdl_pyro.data import world
from gdl_pyro.models import box

# float32 resolves about 1e-5 degrees at 180: the fit is held to a few of those.
FIT_TOL_DEG = 1e-4

coordinate = st.floats(-170, 170, allow_nan=False, width=32)
point_sets = st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=40).filter(
    lambda pts: len({p[0] for p in pts}) > 1 and len({p[1] for p in pts}) > 1
)


@given(point_sets)
def test_mle_contains_every_point_and_no_smaller_box_does(points):
    x = torch.tensor(points)
    low, high = box.mle(x)
    assert torch.isfinite(box.log_likelihood(x, low, high))
    # Moving any one edge inward by a little leaves some point outside: likelihood 0.
    for corner, side, sign in [(low, 0, 1), (low, 1, 1), (high, 0, -1), (high, 1, -1)]:
        moved = corner.clone()
        moved[side] += sign * 1e-3
        lo, hi = (moved, high) if corner is low else (low, moved)
        if (lo < hi).all():
            assert box.log_likelihood(x, lo, hi).item() == -math.inf


@given(point_sets, st.floats(0.01, 50), st.floats(0.01, 50))
def test_mle_beats_every_larger_box(points, grow_x, grow_y):
    x = torch.tensor(points)
    low, high = box.mle(x)
    bigger_high = high + torch.tensor([grow_x, grow_y])
    assert box.log_likelihood(x, low, high) > box.log_likelihood(x, low, bigger_high)


def test_log_likelihood_closed_form():
    x = torch.tensor([[0.0, 0.0], [2.0, 1.0], [1.0, 3.0]])
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([3.0, 4.0])
    assert box.log_likelihood(x, low, high).item() == pytest.approx(-3 * math.log(16))
    assert box.log_likelihood(x, low, torch.tensor([3.0, 2.0])).item() == -math.inf


def test_model_scores_and_simulates():
    x = world.sample_land(100, seed=0)
    low, high = box.mle(x)
    trace = pyro.poutine.trace(box.model).get_trace(x, low=low, high=high)
    assert trace.log_prob_sum().item() == pytest.approx(
        box.log_likelihood(x, low, high).item(), rel=1e-6
    )
    simulated = box.model(low=low, high=high, num_data=500)
    assert simulated.shape == (500, 2)
    assert ((simulated >= low) & (simulated <= high)).all()


@pytest.mark.slow
def test_pyro_fit_converges_to_the_bounding_box():
    x = world.sample_land(500, seed=2)
    low, high = box.mle(x)
    fitted = box.fit(x, num_steps=300, quiet=True)
    assert torch.allclose(fitted.low, low, atol=FIT_TOL_DEG)
    assert torch.allclose(fitted.high, high, atol=FIT_TOL_DEG)
    # The loss is the NLL per point and ends at the closed form's.
    closed_form = -box.log_likelihood(x, low, high).item() / 500
    assert fitted.losses[-1] == pytest.approx(closed_form, abs=1e-4)
    assert fitted.losses[0] > closed_form + 0.05  # it started wider and improved
    # Its density is the bounding box's: -log(area) inside, -inf outside.
    inside = fitted.log_prob(x)
    assert torch.allclose(inside, torch.full((500,), closed_form).neg(), atol=1e-4)
    assert fitted.log_prob(torch.tensor([[179.9, 89.9]])).item() == -math.inf


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.zeros(0, 2), "at least one point"),
        (torch.zeros(5), r"shape \(N, 2\)"),
        (torch.tensor([[0.0, 1.0], [math.nan, 2.0]]), "finite"),
        (torch.tensor([[0.0, 1.0], [math.inf, 2.0]]), "finite"),
        (torch.tensor([[0.0, 1.0], [0.0, 2.0]]), "vary in both coordinates"),
    ],
)
def test_mle_and_fit_reject_bad_data(bad, match):
    with pytest.raises(ValueError, match=match):
        box.mle(bad)
    with pytest.raises(ValueError, match=match):
        box.fit(bad, num_steps=1, quiet=True)


def test_model_rejects_bad_arguments():
    low, high = torch.zeros(2), torch.ones(2)
    with pytest.raises(ValueError, match="num_data is required"):
        box.model(low=low, high=high)
    with pytest.raises(ValueError, match="num_data must be an integer >= 1"):
        box.model(low=low, high=high, num_data=-3)
    with pytest.raises(ValueError, match="low must be < high"):
        box.model(low=high, high=low, num_data=3)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1"):
        box.fit(world.sample_land(10, seed=0), num_steps=0)
    with pytest.raises(ValueError, match="init_margin"):
        box.fit(world.sample_land(10, seed=0), init_margin=-1.0)


@pytest.mark.slow
def test_bayesian_box_posterior_matches_the_closed_form_mean():
    # Points in a small square far from the map's edges: the margins' priors do not truncate.
    g = torch.Generator().manual_seed(4)
    x = torch.rand(100, 2, generator=g) * 10.0
    fitted = box.fit(x, method="nuts", num_samples=300, warmup_steps=200, quiet=True, seed=0)
    draws = fitted.draws
    expected = box.posterior_mean_margin(x)  # W / (N - 3), about 0.1 degrees
    # The margins are roughly exponential (sd = mean); 600 draws give the mean to ~10%; allow 30%.
    assert torch.allclose(draws["margin_low"].mean(0), expected, rtol=0.3)
    assert torch.allclose(draws["margin_high"].mean(0), expected, rtol=0.3)
    # Every posterior box contains the data.
    density = fitted.log_density(x)
    assert torch.isfinite(density).all() and density.shape == (600, 100)
    # The posterior predictive averages the boxes' densities.
    expected = torch.logsumexp(density, 0) - math.log(600)
    assert torch.allclose(fitted.log_prob(x), expected)


def test_bayesian_box_rejects_data_outside_the_map():
    with pytest.raises(ValueError, match="inside the sample space"):
        box.bayesian_model(torch.tensor([[0.0, 0.0], [200.0, 10.0]]))
    with pytest.raises(ValueError, match="bounding_box is required"):
        box.bayesian_model(num_data=3)
    with pytest.raises(ValueError, match="method"):
        box.fit(world.sample_land(10, seed=0), method="vi")


def test_bayesian_box_simulates_boxes_that_contain_the_given_bounding_box():
    inner = (torch.tensor([0.0, 0.0]), torch.tensor([10.0, 5.0]))
    trace = pyro.poutine.trace(box.bayesian_model).get_trace(num_data=50, bounding_box=inner)
    points = trace.nodes["obs"]["value"]
    low = inner[0] - trace.nodes["margin_low"]["value"]
    high = inner[1] + trace.nodes["margin_high"]["value"]
    assert points.shape == (50, 2) and ((points >= low) & (points <= high)).all()
    assert (low <= inner[0]).all() and (high >= inner[1]).all()
