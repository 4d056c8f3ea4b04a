r"""Probabilistic PCA: the linear latent-variable model (Tipping and Bishop, 1999).

.. math:: z \sim \mathcal N(0, I_q), \qquad x \mid z \sim \mathcal N(W z + \mu, \sigma^2 I_D)

so that x ~ N(mu, W W^T + sigma^2 I) once z is integrated out. ``model`` is the latent form (the
generative story, z -> x), ``marginal_model`` the collapsed one; both are Pyro models whose
W, mu and sigma are ``pyro.param``s. ``mle`` is the closed-form maximum-likelihood solution,
``fit`` reaches it by gradient descent on the marginal NLL with Pyro, and ``posterior`` is the
exact q(z | x), which makes PPCA the reference for every amortised guide.

References
----------
Tipping, M. E. and Bishop, C. M. (1999). Probabilistic principal component analysis.
Journal of the Royal Statistical Society B, 61(3), 611-622.
"""

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from gdl_pyro.infer import SVIResult, fit_svi

__all__ = [
    "PPCAParams",
    "fit",
    "log_likelihood",
    "marginal_model",
    "mle",
    "model",
    "nll_per_point",
    "posterior",
    "principal_angles",
]


@dataclass
class PPCAParams:
    """W (D, q), mu (D,) and sigma (noise standard deviation) of a PPCA model."""

    W: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor

    def marginal(self) -> dist.LowRankMultivariateNormal:
        """p(x) = N(mu, W W^T + sigma^2 I), stored in low-rank form."""
        cov_diag = (self.sigma**2).expand(self.mu.shape)
        return dist.LowRankMultivariateNormal(self.mu, self.W, cov_diag)


def _as_data(x) -> torch.Tensor:
    """(N, D) float data with N >= 2 and finite values."""
    x = torch.as_tensor(x, dtype=torch.get_default_dtype())
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (N, D) with N >= 2; got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x must hold finite values")
    return x


def _params(data_dim: int, latent_dim: int, init: PPCAParams | None) -> PPCAParams:
    """The model's pyro.params, started at ``init`` or at small random values."""
    if init is None:
        init = PPCAParams(
            0.1 * torch.randn(data_dim, latent_dim), torch.zeros(data_dim), torch.tensor(1.0)
        )
    W = pyro.param("W", init.W)
    mu = pyro.param("mu", init.mu)
    sigma = pyro.param("sigma", init.sigma, constraint=constraints.positive)
    return PPCAParams(W, mu, sigma)


def model(
    x=None, *, params: PPCAParams | None = None, num_data=None, data_dim=None, latent_dim: int = 2
):
    """PPCA as a latent-variable Pyro model: z ~ N(0, I), x ~ N(W z + mu, sigma^2 I).

    With ``params`` the model uses those values; without, W, mu and sigma are ``pyro.param``s
    (to be learned). Called with ``x=None`` it simulates ``num_data`` points.
    """
    if x is not None:
        num_data, data_dim = x.shape
    elif num_data is None or (data_dim is None and params is None):
        raise ValueError("num_data (and data_dim or params) are required when x is None")
    if params is not None:
        data_dim, latent_dim = params.W.shape
    p = params if params is not None else _params(data_dim, latent_dim, None)
    with pyro.plate("data", num_data):
        z = pyro.sample("z", dist.Normal(torch.zeros(latent_dim), 1.0).to_event(1))
        loc = z @ p.W.T + p.mu
        return pyro.sample("obs", dist.Normal(loc, p.sigma).to_event(1), obs=x)


def marginal_model(x, *, latent_dim: int = 2, init: PPCAParams | None = None):
    """PPCA with z integrated out: x ~ N(mu, W W^T + sigma^2 I); MLE minimises its NLL."""
    p = _params(x.shape[1], latent_dim, init)
    with pyro.plate("data", x.shape[0]):
        pyro.sample("obs", p.marginal(), obs=x)


def mle(x, latent_dim: int = 2) -> PPCAParams:
    """The closed-form maximum-likelihood PPCA (Tipping and Bishop, 1999, eqs. 7-8).

    mu is the sample mean, sigma^2 the mean of the D - q smallest eigenvalues of the sample
    covariance S, and W = U_q (Lambda_q - sigma^2 I)^{1/2} with U_q, Lambda_q the q leading
    eigenvectors and eigenvalues of S (the rotation R = I, so W's columns are orthogonal).
    """
    x = _as_data(x)
    if not 1 <= latent_dim < x.shape[1]:
        raise ValueError(
            f"latent_dim must be between 1 and D - 1 = {x.shape[1] - 1}; got {latent_dim}"
        )
    x64 = x.double()
    mu = x64.mean(0)
    centred = x64 - mu
    S = centred.T @ centred / x.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(S)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[latent_dim:].mean()
    W = eigenvectors[:, :latent_dim] * (eigenvalues[:latent_dim] - sigma2).clamp(min=0).sqrt()
    dtype = x.dtype
    return PPCAParams(W.to(dtype), mu.to(dtype), sigma2.sqrt().to(dtype))


def log_likelihood(x, params: PPCAParams) -> torch.Tensor:
    """Exact log p(x_i) of each row under the PPCA marginal, shape (N,)."""
    return params.marginal().log_prob(torch.as_tensor(x, dtype=params.mu.dtype))


def posterior(x, params: PPCAParams) -> dist.MultivariateNormal:
    """Exact p(z | x) = N(M^{-1} W^T (x - mu), sigma^2 M^{-1}), where M = W^T W + sigma^2 I."""
    x = torch.as_tensor(x, dtype=params.mu.dtype)
    sigma2 = params.sigma**2
    M = params.W.T @ params.W + sigma2 * torch.eye(params.W.shape[1], dtype=params.W.dtype)
    M_inv = torch.linalg.inv(M)
    loc = (x - params.mu) @ params.W @ M_inv.T
    return dist.MultivariateNormal(loc, covariance_matrix=sigma2 * M_inv)


def fit(
    x, *, latent_dim: int = 2, num_steps: int = 1000, lr: float = 0.02, quiet: bool = False
) -> tuple[PPCAParams, SVIResult]:
    """Maximum likelihood by Pyro's SVI on the marginal model (an empty guide: nothing is latent).

    Starts from mu = sample mean, sigma = 1 and a small random W. Returns the fitted parameters
    and the SVI result, whose losses are the NLL per point.
    """
    x = _as_data(x)
    init = PPCAParams(0.1 * torch.randn(x.shape[1], latent_dim), x.mean(0), torch.tensor(1.0))

    def scaled_model(x):
        with pyro.poutine.scale(scale=1.0 / x.shape[0]):
            marginal_model(x, latent_dim=latent_dim, init=init)

    result = fit_svi(
        scaled_model, lambda x: None, x, num_steps=num_steps, lr=lr, quiet=quiet, desc="PPCA MLE"
    )
    params = PPCAParams(result.params["W"], result.params["mu"], result.params["sigma"])
    return params, result


def nll_per_point(x, params: PPCAParams) -> float:
    """Mean negative log-likelihood, in nats per data point."""
    return -log_likelihood(x, params).mean().item()


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians) between the column spaces of A and B."""
    qa, _ = torch.linalg.qr(A.double())
    qb, _ = torch.linalg.qr(B.double())
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)
    return torch.arccos(cosines)
