"""The point VAE: its bound never beats the exact marginal, and it learns a known Gaussian."""

import math

import pyro
import pytest
import torch

from gdl_pyro.models import vae_points

# On 3000 points of a 2-D Gaussian, 1500 steps bring the quadrature NLL within 0.1 nats of the
# entropy: a VAE with a Normal decoder can represent this density exactly (a linear decoder with
# a constant scale), so what is left is optimisation and the sampling noise of 3000 points.
ENTROPY_TOL = 0.1
# The IWAE bound is a Monte Carlo estimate; averaged over 500 points with 500 particles its
# noise is far below this, so it may exceed the exact log p(x) by at most this much.
IWAE_NOISE = 0.01

SCALES, LOC = torch.tensor([30.0, 20.0]), torch.tensor([10.0, 5.0])


@pytest.fixture(scope="module")
def fitted():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 2, generator=g) * SCALES + LOC
    return vae_points.fit(x, hidden_dim=32, num_steps=1500, lr=1e-2, quiet=True, seed=0)


@pytest.fixture(scope="module")
def heldout():
    return torch.randn(500, 2, generator=torch.Generator().manual_seed(1)) * SCALES + LOC


@pytest.mark.slow
def test_quadrature_marginal_reaches_the_gaussian_entropy(fitted, heldout):
    entropy = (math.log(2 * math.pi * math.e) + SCALES.log().sum()).item()
    nll = -fitted.log_prob_quadrature(heldout).mean().item()
    assert nll == pytest.approx(entropy, abs=ENTROPY_TOL)


@pytest.mark.slow
def test_quadrature_agrees_at_two_resolutions(fitted, heldout):
    coarse = fitted.log_prob_quadrature(heldout)  # the default step, 0.05
    fine = fitted.log_prob_quadrature(heldout, step=0.02)
    assert torch.allclose(coarse, fine, atol=1e-3)


@pytest.mark.slow
def test_iwae_bound_is_no_better_than_the_exact_marginal_and_tightens(fitted, heldout):
    exact = fitted.log_prob_quadrature(heldout).mean().item()
    elbo = fitted.log_prob_lower_bound(heldout, num_particles=1, seed=0).mean().item()
    iwae = fitted.log_prob_lower_bound(heldout, num_particles=500, seed=0).mean().item()
    assert iwae <= exact + IWAE_NOISE
    assert elbo < iwae  # more particles, a tighter bound


@pytest.mark.slow
def test_model_and_guide_sites(fitted):
    trace = pyro.poutine.trace(vae_points.model).get_trace(vae=fitted.vae, num_data=4)
    sites = [n for n, s in trace.nodes.items() if s["type"] == "sample" and n != "data"]
    assert sites == ["z", "obs"] and trace.nodes["obs"]["value"].shape == (4, 2)
    samples = fitted.sample(100, seed=0)
    assert samples.shape == (100, 2) and torch.equal(samples, fitted.sample(100, seed=0))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        vae_points.fit(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="hidden_dim"):
        vae_points.PointVAE(hidden_dim=0)


@pytest.mark.slow
def test_quadrature_on_a_grid_is_the_pointwise_quadrature(fitted):
    lon, lat = torch.arange(-170.0, 180, 40.0), torch.arange(80.0, -90, -40.0)
    points = torch.cartesian_prod(lat, lon).flip(1)
    pointwise = fitted.log_prob_quadrature(points, step=0.05).reshape(len(lat), len(lon))
    assert torch.allclose(fitted.log_prob_quadrature_grid(lon, lat), pointwise, atol=1e-4)
