"""The autoregressive model: a proper density on the map, its sites in order, its samples
following its own conditionals, and maximum likelihood that reaches a known entropy."""

import math

import pyro
import pytest
import torch
from scipy import stats

from gdl_pyro.models import autoregressive as ar

# 1500 steps on 4000 Gaussian points: within 0.05 nats of the Gaussian's entropy. The latitude
# histogram's own estimation error is about (B - 1) / 2N = 0.007 nats at B = 60 bands, and the
# MLE's sampling noise on 4000 points is about 0.01.
ENTROPY_TOL = 0.05
# A Kolmogorov-Smirnov p-value below this on 2000 draws would say the draws do not follow the
# model's own conditionals; the seeds are fixed, so the test is deterministic.
KS_ALPHA = 0.01


def sharp_module(seed=0):
    """A random module whose components are narrow (about 2 degrees), as after training."""
    torch.manual_seed(seed)
    module = ar.Autoregressive(num_components=8, hidden_dim=16, num_frequencies=2, num_lat_bins=36)
    with torch.no_grad():
        module.lat_logits.normal_()
        module.net[-1].bias[16:] = 6.5  # concentration e^6.5 = 665: an sd of about 2.2 degrees
    return module.requires_grad_(False).eval()


@pytest.mark.slow
def test_density_integrates_to_one_over_the_map():
    module = sharp_module()
    # Midpoint rule on quarter-degree cells: exact in latitude (the bands are 5 degrees wide and
    # the density is constant inside each), and in longitude a periodic function whose
    # narrowest bump is ten cells wide, for which the rule's error is far below 1e-4.
    step = 0.25
    lon = torch.arange(-180 + step / 2, 180, step)
    lat = torch.arange(-90 + step / 2, 90, step)
    density = module.distribution().log_prob(torch.cartesian_prod(lon, lat)).exp().double()
    assert density.sum().item() * step**2 == pytest.approx(1.0, abs=1e-4)


def test_longitude_density_is_continuous_across_the_seam():
    module = sharp_module(1)
    lat = torch.tensor([10.0, 10.0])
    at_seam = module.lon_distribution(lat).log_prob(torch.tensor([180.0, -180.0]))
    assert at_seam[0] == pytest.approx(at_seam[1].item(), abs=1e-4)


def test_sample_sites_come_latitude_first():
    module = sharp_module()
    trace = pyro.poutine.trace(ar.model).get_trace(module=module, num_data=5)
    sites = [name for name, site in trace.nodes.items() if site["type"] == "sample"]
    assert [s for s in sites if s != "data"] == ["lat", "lon"]
    assert trace.nodes["_RETURN"]["value"].shape == (5, 2)


def probability_integral_transform(module, points):
    """Each point's (F(lat), F(lon | lat)) under the model's own two factors."""
    lon, lat = points[:, 0], points[:, 1]
    # F(lat): the histogram's CDF, exact
    lat_dist = module.lat_distribution()
    probs = lat_dist.logits.softmax(-1)
    index = ((lat + 90) / lat_dist.width).floor().clamp(max=probs.numel() - 1).long()
    below = torch.cat([torch.zeros(1), probs.cumsum(0)])[index]
    within = (lat + 90 - index * lat_dist.width) / lat_dist.width
    u_lat = below + probs[index] * within
    # F(lon | lat): the density integrated from -180 on a 0.05-degree grid (trapezoid)
    grid = torch.linspace(-180.0, 180.0, 7201)
    density = module.lon_distribution(lat.unsqueeze(-1)).log_prob(grid).exp().double()
    cdf = torch.cumulative_trapezoid(density, grid.double(), dim=-1)
    cdf = torch.cat([torch.zeros(len(points), 1, dtype=cdf.dtype), cdf], dim=-1)
    column = torch.searchsorted(grid, lon.contiguous()).clamp(max=grid.numel() - 1)
    u_lon = cdf.gather(-1, column.unsqueeze(-1)).squeeze(-1)
    return u_lat.numpy(), u_lon.numpy()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["pyro model", "distribution"])
def test_samples_follow_the_models_own_conditionals(path):
    module = sharp_module(2)
    pyro.set_rng_seed(4)
    if path == "pyro model":  # ancestral sampling by the model's own two sites
        points = ar.model(module=module, num_data=2000)
    else:  # the fast sampler: one component per draw
        points = module.distribution().sample((2000,))
    u_lat, u_lon = probability_integral_transform(module, points)
    assert stats.kstest(u_lat, "uniform").pvalue > KS_ALPHA
    assert stats.kstest(u_lon, "uniform").pvalue > KS_ALPHA


@pytest.mark.slow
def test_maximum_likelihood_reaches_the_entropy_of_gaussian_data():
    scales, loc = torch.tensor([30.0, 20.0]), torch.tensor([10.0, 5.0])
    g = torch.Generator().manual_seed(1)
    x, x_test = (torch.randn(4000, 2, generator=g) * scales + loc for _ in range(2))
    entropy = (math.log(2 * math.pi * math.e) + scales.log().sum()).item()
    fitted = ar.fit(
        x,
        num_components=8,
        hidden_dim=32,
        num_frequencies=2,
        num_lat_bins=60,
        noise=0.0,
        num_steps=1500,
        batch_size=1000,
        lr=1e-2,
        quiet=True,
        seed=0,
    )
    nll = -fitted.log_prob(x_test).mean().item()
    assert nll == pytest.approx(entropy, abs=ENTROPY_TOL)
    assert fitted.losses[0] > nll + 0.5  # it started far and learned
    samples = fitted.sample(500, seed=0)
    assert samples.shape == (500, 2) and torch.isfinite(samples).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_components"):
        ar.Autoregressive(num_components=0)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        ar.fit(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="noise"):
        ar.fit(torch.zeros(10, 2), noise=-1.0)
    with pytest.raises(ValueError, match="num_data"):
        ar.model(module=ar.Autoregressive(num_components=1))


# Off the map: beyond each edge, by a hair and by far, and at infinity.
OFF_MAP = torch.tensor(
    [[500.0, 0.0], [0.0, 90.5], [180.0001, 0.0], [-180.5, 10.0], [0.0, -91.0], [math.inf, 0.0]]
)
EDGES = torch.tensor([[180.0, 0.0], [-180.0, 10.0], [0.0, -90.0], [0.0, 90.0]])


@pytest.mark.parametrize("validate", [True, False])
def test_log_prob_is_minus_inf_off_the_map_and_never_raises(validate):
    d = sharp_module().distribution()
    with pyro.validation_enabled(validate):
        assert torch.equal(d.log_prob(OFF_MAP), torch.full((len(OFF_MAP),), -math.inf))
        assert torch.isfinite(d.log_prob(EDGES)).all()
        # longitude does not wrap: 500 is off the map, not 140
        assert d.log_prob(torch.tensor([500.0, 10.0])) == -math.inf
    assert not d.support.check(OFF_MAP).any() and d.support.check(EDGES).all()


def test_log_prob_refuses_nan_and_scores_no_points():
    d = ar.Autoregressive(num_components=2, hidden_dim=4).distribution()
    with pyro.validation_enabled(True):
        with pytest.raises(ValueError, match="NaN"):
            d.log_prob(torch.tensor([[0.0, math.nan]]))
        assert d.log_prob(torch.empty(0, 2)).shape == (0,)


def test_sampling_nothing_gives_no_points():
    d = ar.Autoregressive(num_components=2, hidden_dim=4).distribution()
    assert d.sample((0,)).shape == (0, 2)
    assert d.sample((0, 3)).shape == (0, 3, 2)


def test_the_model_refuses_observations_off_the_map():
    # The "lon" site is a density on the circle: lon 500 would wrap to 140 and score there.
    module = ar.Autoregressive(num_components=2, hidden_dim=4, num_lat_bins=10)
    with pytest.raises(ValueError, match="x must lie on the map"):
        pyro.poutine.trace(ar.model).get_trace(torch.tensor([[500.0, 0.0]]), module=module)
