r"""Probabilistic PCA: the linear latent-variable model (Tipping and Bishop, 1999).

.. math:: z \sim \mathcal N(0, I_q), \qquad x \mid z \sim \mathcal N(W z + \mu, \sigma^2 I_D)

so that x ~ N(mu, W W^T + sigma^2 I) once z is integrated out. ``model`` is the latent form (the
generative story, z -> x), ``marginal_model`` the collapsed one; both are Pyro models whose
W, mu and sigma are ``pyro.param``s (or given values). ``mle`` is the closed-form
maximum-likelihood solution, ``fit(method="svi")`` reaches it by gradient descent on the marginal
NLL with Pyro, and ``posterior`` is the exact q(z | x), which makes PPCA the reference for every
amortised guide. ``fit`` returns a ``PPCAFit``, shaped like every other fit.

References
----------
Tipping, M. E. and Bishop, C. M. (1999). Probabilistic principal component analysis.
Journal of the Royal Statistical Society B, 61(3), 611-622.
"""

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import scipy.linalg
import torch
from torch.distributions import constraints

from gdl_pyro._validation import as_count
from gdl_pyro.fitting import Fit, method_options, preamble
from gdl_pyro.infer import fit_svi

__all__ = [
    "PPCAFit",
    "PPCAParams",
    "fit",
    "log_likelihood",
    "marginal_model",
    "mle",
    "model",
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


def _as_data(x, name: str = "x", *, data_dim: int | None = None) -> torch.Tensor:
    """(N, D) float data with N >= 2 (N >= 1 with ``data_dim``) and finite values.

    A copy when needed, never the caller's tensor itself: detached and contiguous (a transposed
    view gives the same numbers as its contiguous copy).
    """
    try:
        x = torch.as_tensor(
            x.detach() if torch.is_tensor(x) else x, dtype=torch.get_default_dtype()
        ).contiguous()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{name} must be an array of shape (N, D); got {type(x).__name__}"
        ) from error
    minimum = 1 if data_dim else 2
    if x.dim() != 2 or x.shape[0] < minimum or (data_dim and x.shape[1] != data_dim):
        shape = f"(N, {data_dim})" if data_dim else "(N, D) with N >= 2"
        raise ValueError(f"{name} must have shape {shape}; got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must hold finite values; got NaN or infinite values")
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


def _sizes(x, num_data, data_dim, params) -> tuple[int, int]:
    """(N, D) of a model call: from ``x``, or from ``num_data`` and ``data_dim`` or ``params``."""
    if x is not None:
        return tuple(_as_data(x, data_dim=None if params is None else params.mu.shape[-1]).shape)
    if params is not None:
        data_dim = params.mu.shape[-1]
    if num_data is None or data_dim is None:
        raise ValueError("num_data (and data_dim or params) are required when x is None")
    return as_count(num_data, "num_data", minimum=1), as_count(data_dim, "data_dim", minimum=1)


def model(
    x=None, *, params: PPCAParams | None = None, num_data=None, data_dim=None, latent_dim: int = 2
):
    """PPCA as a latent-variable Pyro model: z ~ N(0, I), x ~ N(W z + mu, sigma^2 I).

    With ``params`` the model uses those values; without, W, mu and sigma are ``pyro.param``s
    (to be learned). Called with ``x=None`` it simulates ``num_data`` points.
    """
    num_data, data_dim = _sizes(x, num_data, data_dim, params)
    if params is not None:
        latent_dim = params.W.shape[-1]
    p = params if params is not None else _params(data_dim, latent_dim, None)
    with pyro.plate("data", num_data):
        z = pyro.sample("z", dist.Normal(p.mu.new_zeros(latent_dim), 1.0).to_event(1))
        loc = z @ p.W.T + p.mu
        return pyro.sample("obs", dist.Normal(loc, p.sigma).to_event(1), obs=x)


def marginal_model(
    x=None,
    *,
    params: PPCAParams | None = None,
    num_data=None,
    data_dim=None,
    latent_dim: int = 2,
    init: PPCAParams | None = None,
):
    """PPCA with z integrated out: x ~ N(mu, W W^T + sigma^2 I); MLE minimises its NLL.

    With ``params`` the model uses those values; without, W, mu and sigma are ``pyro.param``s
    started at ``init``. Called with ``x=None`` it simulates ``num_data`` points.
    """
    num_data, data_dim = _sizes(x, num_data, data_dim, params)
    p = params if params is not None else _params(data_dim, latent_dim, init)
    with pyro.plate("data", num_data):
        return pyro.sample("obs", p.marginal(), obs=x)


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
    S = torch.cov(x64.T, correction=0)
    eigenvalues, eigenvectors = torch.linalg.eigh(S)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[latent_dim:].mean()
    W = eigenvectors[:, :latent_dim] * (eigenvalues[:latent_dim] - sigma2).clamp(min=0).sqrt()
    dtype = x.dtype
    return PPCAParams(W.to(dtype), x64.mean(0).to(dtype), sigma2.sqrt().to(dtype))


def log_likelihood(x, params: PPCAParams) -> torch.Tensor:
    """log L(params | X) = sum_i log p(x_i): the exact log-likelihood of the data set."""
    return _log_density(x, params).sum()


def _log_density(x, params: PPCAParams) -> torch.Tensor:
    """Exact log p(x_i) of each row under the PPCA marginal, shape (N,)."""
    x = _as_data(x, data_dim=params.mu.shape[-1]).to(params.mu.dtype)
    return params.marginal().log_prob(x)


def posterior(x, params: PPCAParams) -> dist.MultivariateNormal:
    """Exact p(z | x) = N(M^{-1} W^T (x - mu), sigma^2 M^{-1}), where M = W^T W + sigma^2 I."""
    x = _as_data(x, data_dim=params.mu.shape[-1]).to(params.mu.dtype)
    sigma2 = params.sigma**2
    M = params.W.T @ params.W + sigma2 * torch.eye(params.W.shape[1], dtype=params.W.dtype)
    M_inv = torch.linalg.inv(M)
    loc = (x - params.mu) @ params.W @ M_inv.T
    return dist.MultivariateNormal(loc, covariance_matrix=sigma2 * M_inv)


class PPCAFit(Fit):
    """A fitted PPCA: ``params``, its exact density, posterior and samples.

    The fit protocol of every family (``gdl_pyro.fitting``) for images of D pixels:
    ``distribution``, ``log_prob`` and ``sample`` work on (N, D) arrays, and the density is
    exact, not a bound.
    """

    def __init__(self, params: PPCAParams, losses, seconds):
        self.params = PPCAParams(*(t.detach().cpu() for t in (params.W, params.mu, params.sigma)))
        self.event_shape = (self.params.mu.shape[-1],)
        super().__init__("PPCA", "ppca", losses=losses, seconds=seconds)

    def _as_input(self, x, *, allow_empty: bool = False) -> torch.Tensor:
        """Images as an (N, D) tensor of this fit's D."""
        if allow_empty and getattr(x, "shape", None) is not None and tuple(x.shape)[:1] == (0,):
            return _as_data(torch.zeros(1, *self.event_shape), data_dim=self.event_shape[0])[:0]
        return _as_data(x, data_dim=self.event_shape[0])

    def distribution(self) -> dist.LowRankMultivariateNormal:
        """p(x) = N(mu, W W^T + sigma^2 I)."""
        return self.params.marginal()

    def log_prob(self, x) -> torch.Tensor:
        """Exact log p(x_i) of each image, shape (N,)."""
        x = self._as_input(x, allow_empty=True)
        return _log_density(x, self.params) if len(x) else torch.empty(0)

    def posterior(self, x) -> dist.MultivariateNormal:
        """Exact p(z | x_i) of each image."""
        return posterior(x, self.params)


# The options of each method and their defaults (``method_options`` refuses the others).
_METHODS = {"mle": {}, "svi": {"num_steps": 1000, "lr": 0.02}}


def fit(
    x,
    *,
    method: str = "mle",
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    latent_dim: int = 2,
    num_steps: int | None = None,
    lr: float | None = None,
) -> PPCAFit:
    """Maximum-likelihood PPCA, in closed form (``method="mle"``) or by Pyro's SVI ("svi").

    "svi" minimises the marginal NLL with an empty guide (nothing is latent), starting from
    mu = sample mean, sigma = 1 and a small random W; its losses are the NLL per point.
    ``num_steps`` (1000) and ``lr`` (0.02) are options of "svi" only, refused with "mle".
    """
    options = method_options(method, {"num_steps": num_steps, "lr": lr}, _METHODS)
    with preamble(x, seed=seed, device=device, check=_as_data) as setup:
        x = setup.x
        if method == "mle":
            params = mle(x.cpu(), latent_dim)
        else:
            mle(x.cpu(), latent_dim)  # the same checks
            init = PPCAParams(
                0.1 * torch.randn(x.shape[1], latent_dim), x.cpu().mean(0), torch.tensor(1.0)
            )
            init = PPCAParams(*(t.to(setup.device) for t in (init.W, init.mu, init.sigma)))

            def scaled_model(x):
                with pyro.poutine.scale(scale=1.0 / x.shape[0]):
                    marginal_model(x, latent_dim=latent_dim, init=init)

            result = fit_svi(
                scaled_model,
                lambda x: None,
                x,
                seed=setup.seed,
                quiet=quiet,
                desc="PPCA MLE",
                param_state=setup.params,
                **options,
            )
    if method == "mle":
        return PPCAFit(params, [], setup.timer.seconds)
    params = PPCAParams(result.params["W"], result.params["mu"], result.params["sigma"])
    return PPCAFit(params, result.losses, result.seconds)


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians) between the column spaces of A and B (SciPy's subspace_angles)."""
    angles = scipy.linalg.subspace_angles(
        torch.as_tensor(A).double().numpy(), torch.as_tensor(B).double().numpy()
    )
    return torch.from_numpy(angles)
