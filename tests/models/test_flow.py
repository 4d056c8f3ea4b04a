"""The flow: a proper density, and maximum likelihood that reaches a known entropy."""

import math

import pyro
import pytest
import torch

from gdl_pyro.models import flow as flow_module

# 800 steps on 4000 Gaussian points: within 0.05 nats of the Gaussian's entropy (the MLE's own
# sampling noise on 4000 points is about 0.01; 400 steps leave it 0.05 above).
ENTROPY_TOL = 0.05


@pytest.mark.slow
def test_density_integrates_to_one():
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=2, count_bins=4, hidden_dim=8)
    # Midpoint rule over the map, which is the flow's whole support (tanh maps the plane onto
    # it). tanh packs the base's tails into thin, steep strips along the edges, so the rule needs
    # fine cells there: 0.5 degrees gave 1.027, 0.25 gave 1.022, 0.1 gives 1.0005.
    step = 0.1
    lon = torch.arange(-180 + step / 2, 180, step)
    lat = torch.arange(-90 + step / 2, 90, step)
    integral = sum(
        flow.log_prob(torch.cartesian_prod(chunk, lat)).exp().double().sum().item()
        for chunk in lon.split(200)
    )
    assert integral * step**2 == pytest.approx(1.0, abs=0.002)


@pytest.mark.slow
def test_maximum_likelihood_reaches_the_entropy_of_gaussian_data():
    scales = torch.tensor([30.0, 20.0])
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1)) * scales + torch.tensor(
        [10.0, 5.0]
    )
    entropy = (0.5 * math.log(2 * math.pi * math.e) * 2 + scales.log().sum()).item()
    fitted = flow_module.fit(
        x,
        num_layers=2,
        count_bins=8,
        hidden_dim=16,
        num_steps=800,
        batch_size=1000,
        lr=1e-2,
        quiet=True,
        seed=0,
    )
    nll = -fitted.log_prob(x).mean().item()
    assert nll == pytest.approx(entropy, abs=ENTROPY_TOL)
    assert fitted.losses[0] > nll + 0.5  # it started far and learned
    samples = fitted.sample(500, seed=0)
    assert samples.shape == (500, 2) and torch.isfinite(samples).all()
    assert (samples[:, 0].abs() <= 180).all() and (samples[:, 1].abs() <= 90).all()


def test_points_on_the_edge_of_the_map_have_a_finite_density():
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=1, count_bins=4, hidden_dim=8)
    edges = torch.tensor([[180.0, 0.0], [-180.0, 10.0], [0.0, -90.0], [0.0, 90.0]])
    assert torch.isfinite(flow.log_prob(edges)).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        flow_module.Flow(num_layers=0)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        flow_module.fit(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="x must hold finite"):
        flow_module.model(torch.tensor([[0.0, math.nan]]), flow=flow_module.Flow(num_layers=1))
    with pytest.raises(ValueError, match="num_data"):
        flow_module.model(flow=flow_module.Flow(num_layers=1))


# Off the map: beyond each edge, by a hair and by far, and at infinity.
OFF_MAP = torch.tensor(
    [[500.0, 0.0], [0.0, 90.5], [180.0001, 0.0], [-180.5, 10.0], [0.0, -91.0], [math.inf, 0.0]]
)


@pytest.mark.parametrize("validate", [True, False])
def test_the_flow_lives_on_the_map(validate):
    """Off the map the density is 0: -inf, not the density of the nearest edge point."""
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=1, count_bins=4, hidden_dim=8)
    d = flow.distribution()
    with pyro.validation_enabled(validate):
        assert torch.equal(d.log_prob(OFF_MAP), torch.full((len(OFF_MAP),), -math.inf))
    assert not d.support.check(OFF_MAP).any()
    assert d.support.check(torch.tensor([[180.0, 90.0], [-180.0, -90.0]])).all()


def test_off_map_points_leave_the_gradients_finite():
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=1, count_bins=4, hidden_dim=8)
    log_p = flow.distribution().log_prob(torch.cat([OFF_MAP, torch.tensor([[10.0, 20.0]])]))
    log_p[-1].backward()
    grads = [p.grad for p in flow.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_log_prob_takes_float64_and_no_points_and_sample_takes_zero():
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=1, count_bins=4, hidden_dim=8)
    points = torch.tensor([[10.0, 20.0], [-30.0, 40.0]])
    assert torch.allclose(flow.log_prob(points.double()), flow.log_prob(points))
    assert flow.log_prob(torch.empty(0, 2)).shape == (0,)
    assert flow.distribution().sample((0,)).shape == (0, 2)


def test_the_model_scores_data_under_a_plate():
    torch.manual_seed(0)
    flow = flow_module.Flow(num_layers=1, count_bins=4, hidden_dim=8)
    x = torch.tensor([[10.0, 20.0], [-30.0, 40.0], [180.0, -90.0]])
    trace = pyro.poutine.trace(flow_module.model).get_trace(x, flow=flow)
    site = trace.nodes["obs"]
    assert isinstance(site["fn"], flow_module.MapFlow)
    assert torch.isfinite(trace.log_prob_sum())
