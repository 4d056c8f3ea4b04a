"""Quadrature over a 2-D latent: the exact marginal of a linear-Gaussian model, broad and peaked."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from gdl_pyro.quadrature import latent_grid, log_marginal

# The midpoint rule on a Gaussian integrand converges exponentially once the step is below the
# posterior's width; float64 sums leave errors far below this.
EXACT_TOL = 1e-4


def linear_gaussian(scale: float, noise: float, seed: int = 0):
    """log p(x | z) of x = W z + b + noise e, and the exact p(x) = N(b, W W^T + noise^2 I)."""
    g = torch.Generator().manual_seed(seed)
    weight = scale * torch.randn(4, 2, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)

    def log_likelihood(x, z):  # (n, 4) and (cells, 2) -> (n, cells)
        loc = z.double() @ weight.T + bias
        return Normal(loc, noise).log_prob(x.unsqueeze(-2)).sum(-1)

    covariance = weight @ weight.T + noise**2 * torch.eye(4, dtype=torch.float64)
    marginal = MultivariateNormal(bias, covariance)
    return log_likelihood, marginal, marginal.sample((6,))


def test_grid_covers_the_box_and_the_prior():
    z, log_cell = latent_grid(5.0, 0.1)
    assert len(z) == 100**2 and math.exp(log_cell) * len(z) == pytest.approx(100.0)
    prior = Normal(0.0, 1.0).log_prob(z.double()).sum(-1)
    assert torch.logsumexp(prior + log_cell, 0).item() == pytest.approx(0.0, abs=1e-5)


def test_broad_posterior_one_grid_is_exact():
    log_likelihood, marginal, x = linear_gaussian(scale=1.0, noise=0.7)
    quadrature = log_marginal(log_likelihood, x, half_width=6.0, step=0.05)
    assert torch.allclose(quadrature, marginal.log_prob(x), atol=EXACT_TOL)


def test_peaked_posterior_needs_the_refined_grid():
    # Posterior widths near noise / (scale |w|), about 0.01: a grid of step 0.1 over the prior
    # misses tens of nats of each peak's mass, the refined grid of each point finds it. (At
    # widths near a twentieth of the step, scale 5, the refined grid is 0.03 nats off.)
    log_likelihood, marginal, x = linear_gaussian(scale=3.0, noise=0.05)
    exact = marginal.log_prob(x)
    coarse = log_marginal(log_likelihood, x, half_width=6.0, step=0.1)
    refined = log_marginal(log_likelihood, x, half_width=6.0, step=0.1, refine=40)
    assert (exact - coarse).abs().max() > 10  # the check can fail: one grid is not enough
    assert torch.allclose(refined, exact, atol=EXACT_TOL)


def test_bad_arguments_and_empty_data():
    log_likelihood, _, x = linear_gaussian(scale=1.0, noise=0.7)
    with pytest.raises(ValueError, match="step"):
        latent_grid(5.0, 0.0)
    with pytest.raises(ValueError, match="refine"):
        log_marginal(log_likelihood, x, refine=1)
    assert log_marginal(log_likelihood, x[:0]).shape == (0,)
    assert log_marginal(log_likelihood, x[:0], refine=10).shape == (0,)
