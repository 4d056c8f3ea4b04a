r"""A 2-D Gaussian with full covariance: maximum likelihood in closed form, and a Bayesian version.

.. math:: x_i \sim \mathcal N(\mu, \Sigma)

``mle`` gives the sample mean and the (1/N) sample covariance. ``model`` puts priors on mu and on
Sigma = diag(tau) L L^T diag(tau) (an LKJ prior on the correlation Cholesky factor L and
half-normal scales tau), to be fitted by NUTS or by SVI with AutoMultivariateNormal. With a known
covariance (``cov=...``) only mu is latent and its posterior is conjugate: ``conjugate_posterior``.

The latent sites are dimensionless: "loc" and "scale" are in units of the map's half-extent
(180 degrees of longitude, 90 of latitude), so that every site is of order 1 and NUTS and SVI
need no tuning for the units; ``in_degrees`` converts. Observations are in degrees.
"""

import pyro
import pyro.distributions as dist
import torch

from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data

__all__ = [
    "HALF_EXTENT",
    "conjugate_posterior",
    "in_degrees",
    "log_density",
    "mle",
    "model",
    "scale_tril",
    "sample_predictive",
]

# Latent sites are in units of the map's half-extent; the priors then cover the whole map.
HALF_EXTENT = torch.tensor([180.0, 90.0])
PRIOR_LOC_SCALE = 1.0
PRIOR_SCALE_SCALE = 1.0
LKJ_CONCENTRATION = 2.0


def mle(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form maximum likelihood: the sample mean and the 1/N sample covariance."""
    x = as_points(x)
    if x.shape[0] < 3:
        raise ValueError(f"x must hold at least 3 points for a 2-D covariance; got {x.shape[0]}")
    loc = x.mean(0)
    centred = x - loc
    return loc, centred.T @ centred / x.shape[0]


def scale_tril(scale: torch.Tensor, corr_cholesky: torch.Tensor) -> torch.Tensor:
    """Cholesky factor of diag(scale) C diag(scale), with C = L L^T; batches broadcast."""
    return scale.unsqueeze(-1) * corr_cholesky


def model(x=None, *, num_data=None, cov=None):
    """The Bayesian Gaussian: mu ~ N(0, I); Sigma from LKJ(2) and HalfNormal(1) scales (map units).

    Parameters
    ----------
    x : torch.Tensor of shape (N, 2), optional
        Observations; without them the model simulates ``num_data`` points.
    cov : torch.Tensor of shape (2, 2), optional
        A known covariance in degrees^2: then only "loc" is latent (the conjugate case).
    """
    num_data = checked_num_data(x, num_data)
    loc = pyro.sample("loc", dist.Normal(torch.zeros(2), PRIOR_LOC_SCALE).to_event(1))
    if cov is None:
        scale = pyro.sample(
            "scale", dist.HalfNormal(torch.full((2,), PRIOR_SCALE_SCALE)).to_event(1)
        )
        corr = pyro.sample("corr_cholesky", dist.LKJCholesky(2, LKJ_CONCENTRATION))
        tril = scale_tril(scale * HALF_EXTENT, corr)
    else:
        tril = torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.get_default_dtype()))
    with pyro.plate("data", num_data):
        return pyro.sample(
            "obs", dist.MultivariateNormal(loc * HALF_EXTENT, scale_tril=tril), obs=x
        )


def in_degrees(loc, scale) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert "loc" and "scale" site values from map units to degrees."""
    return loc * HALF_EXTENT, scale * HALF_EXTENT


def log_density(points, loc, scale, corr_cholesky) -> torch.Tensor:
    """log N(points | mu, Sigma) for site values (map units) with leading draw dims: (..., N)."""
    loc, scale = in_degrees(loc, scale)
    tril = scale_tril(scale, corr_cholesky).unsqueeze(-3)
    return dist.MultivariateNormal(loc.unsqueeze(-2), scale_tril=tril).log_prob(points)


def conjugate_posterior(x, cov) -> dist.MultivariateNormal:
    """Exact posterior of the "loc" site (map units) given a known covariance (degrees^2).

    In degrees mu = D l with D = diag(180, 90) and prior l ~ N(0, I), so mu ~ N(0, D^2); the
    precisions add, Lambda = D^-2 + N Sigma^-1, and the mean is Lambda^-1 Sigma^-1 sum(x).
    Returned in map units: D^-1 times that mean, D^-1 Lambda^-1 D^-1.
    """
    x = as_points(x)
    cov = torch.as_tensor(cov, dtype=x.dtype)
    cov_inv = torch.linalg.inv(cov)
    precision = torch.diag(1 / (PRIOR_LOC_SCALE * HALF_EXTENT) ** 2) + x.shape[0] * cov_inv
    post_cov = torch.linalg.inv(precision)
    post_mean = post_cov @ cov_inv @ x.sum(0)
    unit = torch.diag(1 / HALF_EXTENT)
    return dist.MultivariateNormal(unit @ post_mean, covariance_matrix=unit @ post_cov @ unit)


def sample_predictive(draws: dict, num_samples: int) -> torch.Tensor:
    """Points from the posterior predictive: each from the Gaussian of a random posterior draw."""
    index = torch.randint(len(draws["loc"]), (as_count(num_samples, "num_samples"),))
    loc, scale = in_degrees(draws["loc"][index], draws["scale"][index])
    tril = scale_tril(scale, draws["corr_cholesky"][index])
    return dist.MultivariateNormal(loc, scale_tril=tril).sample()
