"""The KDE baseline: scikit-learn's density, written in Pyro, normalised, and the CV bandwidth."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from sklearn.neighbors import KernelDensity

from gdl_pyro.models import kde


def gaussian_points(num, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(num, 2, generator=g) * torch.tensor([20.0, 10.0])


def test_pyro_density_is_scikit_learns():
    x = gaussian_points(500, 0)
    fitted = kde.fit(x, bandwidths=[2.0, 4.0, 8.0])
    reference = KernelDensity(bandwidth=fitted.bandwidth).fit(x.double().numpy())
    probe = gaussian_points(50, 1)
    expected = torch.as_tensor(reference.score_samples(probe.double().numpy()), dtype=torch.float32)
    assert torch.allclose(fitted.log_prob(probe), expected, atol=1e-4)
    assert fitted.distribution().log_prob(probe).shape == (50,)


def test_chunked_density_is_the_equal_weight_mixture_and_has_gradients():
    from gdl_pyro.distributions import CHUNK, EqualWeightMixture

    points = gaussian_points(300, 3)
    density = kde.GaussianKDE(points, 3.0)
    reference = EqualWeightMixture(lambda loc: dist.Normal(loc, 3.0).to_event(1), {"loc": points})
    probe = gaussian_points(CHUNK + 7, 4).reshape(CHUNK + 7, 1, 2)  # two chunks, a batch shape
    with torch.no_grad():  # the in-place path
        assert torch.allclose(density.log_prob(probe), reference.log_prob(probe), atol=1e-5)
    assert density.component_log_prob(probe).shape == (CHUNK + 7, 1, 300)
    value = probe[:5].clone().requires_grad_()  # the path that keeps the graph
    density.log_prob(value).sum().backward()
    expected = torch.autograd.grad(reference.log_prob(value).sum(), value)[0]
    assert torch.allclose(value.grad, expected, atol=1e-5)


def test_density_integrates_to_one():
    fitted = kde.fit(gaussian_points(200, 2), bandwidths=[5.0])
    # Midpoint rule on 1-degree cells over +-150 x +-80 degrees (7 sd and 8 bandwidths out).
    lon, lat = torch.arange(-149.5, 150), torch.arange(-79.5, 80)
    grid = torch.cartesian_prod(lon, lat)
    integral = fitted.log_prob(grid).exp().double().sum().item()
    assert integral == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_cross_validation_picks_a_sensible_bandwidth_and_nears_the_entropy():
    # 4000 points of N(0, diag(20, 10)^2): the CV bandwidth is a few degrees, and the KDE's
    # held-out NLL comes within 0.05 nats of the Gaussian's entropy (a KDE's bias at this N).
    x, x_test = gaussian_points(4000, 3), gaussian_points(4000, 4)
    fitted = kde.fit(x)
    assert 1.0 < fitted.bandwidth < 8.0
    entropy = math.log(2 * math.pi * math.e) + math.log(20.0 * 10.0)
    assert -fitted.log_prob(x_test).mean().item() == pytest.approx(entropy, abs=0.05)
    # A KDE's samples are a data point plus kernel noise: variance sigma^2 + h^2 per axis.
    samples = fitted.sample(4000, seed=0)
    assert samples.shape == (4000, 2)
    expected = (x.var(0) + fitted.bandwidth**2).sqrt()
    assert torch.allclose(samples.std(0), expected, rtol=0.05)  # an sd's own sd here: 1.1%


def test_bad_input():
    with pytest.raises(ValueError, match="bandwidths"):
        kde.fit(gaussian_points(10, 0), bandwidths=[-1.0])
    with pytest.raises(ValueError, match="folds"):
        kde.fit(gaussian_points(3, 0))
    with pytest.raises(ValueError, match="finite"):
        kde.fit(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_points_off_the_map_and_no_points_are_scored_not_refused():
    """The KDE's support is the plane (its kernels leak past the map's edges): off the map its
    density is small but positive; infinitely far it is 0; no points give no values."""
    density = kde.GaussianKDE(gaussian_points(50, 0), bandwidth=2.0)
    with pyro.validation_enabled(True):
        log_p = density.log_prob(torch.tensor([[181.0, 0.0], [0.0, 95.0], [math.inf, 0.0]]))
        assert torch.isfinite(log_p[:2]).all() and log_p[2] == -math.inf
        assert density.log_prob(torch.empty(0, 2)).shape == (0,)
        with pytest.raises(ValueError, match="NaN"):
            density.log_prob(torch.tensor([[math.nan, 0.0]]))
    assert density.sample((0,)).shape == (0, 2)
