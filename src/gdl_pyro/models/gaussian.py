r"""A 2-D Gaussian with full covariance: maximum likelihood in closed form, and a Bayesian version.

.. math:: x_i \sim \mathcal N(\mu, \Sigma)

``mle`` gives the sample mean and the (1/N) sample covariance. ``model`` puts priors on mu and on
Sigma = diag(tau) L L^T diag(tau) (an LKJ prior on the correlation Cholesky factor L and
half-normal scales tau), to be fitted by NUTS or by SVI with AutoMultivariateNormal. With a known
covariance (``cov=...``) only mu is latent and its posterior is conjugate: ``conjugate_posterior``.
``fit(x, method="mle" | "nuts" | "vi")`` gives each of them the fit interface of every family.

The latent sites are dimensionless: "loc" and "scale" are in units of the map's half-extent
(180 degrees of longitude, 90 of latitude), so that every site is of order 1 and NUTS and SVI
need no tuning for the units; ``in_degrees`` converts. Observations are in degrees.
"""

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoMultivariateNormal

from gdl_pyro._state import Timer
from gdl_pyro._validation import as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.fitting import (
    NUTSFit,
    PointFit,
    VIFit,
    checked_model,
    method_options,
    nuts_fit,
    preamble,
    vi_fit,
)

__all__ = [
    "HALF_EXTENT",
    "GaussianFit",
    "conjugate_posterior",
    "distribution",
    "fit",
    "in_degrees",
    "mle",
    "model",
    "scale_tril",
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
    return x.mean(0), torch.cov(x.T, correction=0)


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
    device = None if x is None else x.device  # tensors of the model live where the data are
    loc = pyro.sample(
        "loc", dist.Normal(torch.zeros(2, device=device), PRIOR_LOC_SCALE).to_event(1)
    )
    if cov is None:
        scale = pyro.sample(
            "scale",
            dist.HalfNormal(torch.full((2,), PRIOR_SCALE_SCALE, device=device)).to_event(1),
        )
        concentration = torch.tensor(LKJ_CONCENTRATION, device=device)
        corr = pyro.sample("corr_cholesky", dist.LKJCholesky(2, concentration))
        tril = scale_tril(scale * HALF_EXTENT.to(scale.device), corr)
    else:
        cov = torch.as_tensor(cov, dtype=torch.get_default_dtype(), device=device)
        tril = torch.linalg.cholesky(cov)
    with pyro.plate("data", num_data):
        return pyro.sample(
            "obs", dist.MultivariateNormal(loc * HALF_EXTENT.to(loc.device), scale_tril=tril), obs=x
        )


# ``fit``'s own ``model`` argument (a copy of the program) shadows the module's ``model`` there.
_MODEL = model


def in_degrees(loc, scale) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert "loc" and "scale" site values from map units to degrees."""
    half_extent = HALF_EXTENT.to(loc.device)
    return loc * half_extent, scale * half_extent


def distribution(loc, scale, corr_cholesky) -> dist.MultivariateNormal:
    """N(mu, Sigma) in degrees for site values in map units; leading dims are batch dims (draws)."""
    loc, scale = in_degrees(loc, scale)
    return dist.MultivariateNormal(loc, scale_tril=scale_tril(scale, corr_cholesky))


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


class GaussianFit(PointFit):
    """The maximum-likelihood Gaussian, in closed form: ``loc`` and ``cov`` in degrees."""

    def __init__(self, loc, cov, seconds):
        self.loc, self.cov = loc.cpu(), cov.cpu()
        super().__init__(
            "gaussian (MLE)",
            "gaussian",
            lambda: dist.MultivariateNormal(self.loc, covariance_matrix=self.cov),
            seconds=seconds,
        )


# The options of each method and their defaults (``method_options`` refuses the others).
_METHODS = {
    "mle": {},
    "nuts": {"num_samples": 500, "warmup_steps": 500, "num_chains": 2, "model": None},
    "vi": {"num_steps": 1500, "lr": 0.02, "num_draws": 1000, "model": None},
}


def fit(
    x,
    *,
    method: str = "mle",
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_steps: int | None = None,
    lr: float | None = None,
    num_draws: int | None = None,
    num_samples: int | None = None,
    warmup_steps: int | None = None,
    num_chains: int | None = None,
    model: Callable | None = None,
) -> GaussianFit | NUTSFit | VIFit:
    """Fit the 2-D Gaussian: closed-form MLE, NUTS, or VI (the fit interface of every family).

    An option of another method is refused with a ValueError.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    method : {"mle", "nuts", "vi"}
        "mle": sample mean and 1/N covariance (``GaussianFit``). "nuts": the Bayesian model
        sampled by NUTS. "vi": the same model by SVI with a full-rank guide
        (AutoMultivariateNormal). Both Bayesian fits give the posterior predictive.
    seed, quiet, device
        As for every fit.
    num_steps, lr, num_draws : int, float, int
        SVI steps, Adam learning rate and guide draws kept (VI; 1500, 0.02, 1000).
    num_samples, warmup_steps, num_chains : int
        NUTS draws per chain, warm-up steps and chains (500, 500, 2).
    model : callable, optional
        The Bayesian program that NUTS samples or VI fits: this module's ``model`` by default,
        or a copy of it with the same sites, such as the one s06 writes out (the same program
        gives the same fit).
    """
    options = method_options(
        method,
        {
            "num_steps": num_steps,
            "lr": lr,
            "num_draws": num_draws,
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "num_chains": num_chains,
            "model": model,
        },
        _METHODS,
    )
    with preamble(x, seed=seed, device=device) as setup:
        if method == "mle":
            with Timer() as timer:
                loc, cov = mle(setup.x)
            return GaussianFit(loc, cov, timer.seconds)
        mle(setup.x)  # the same checks on x
        program = checked_model(options.pop("model"), _MODEL)
        if method == "nuts":
            return nuts_fit(
                "gaussian (NUTS)", "gaussian", program, setup, distribution, quiet=quiet, **options
            )
        return vi_fit(
            "gaussian (VI)",
            "gaussian",
            program,
            AutoMultivariateNormal(program),
            setup,
            distribution,
            quiet=quiet,
            **options,
        )
