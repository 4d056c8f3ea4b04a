r"""A VAE for points on the map: a 2-D latent z, a decoder's Normal over (longitude, latitude).

.. math:: z \sim \mathcal N(0, I_2), \qquad x \mid z \sim \mathcal N\big(D\mu(z),
          \operatorname{diag}(D\sigma(z))^2\big), \qquad q(z \mid x) = \mathcal N\big(m(x),
          \operatorname{diag} s(x)^2\big)

The decoder (mu, sigma) and the encoder (m, s) are MLPs; D = diag(180, 90) scales map units to
degrees. p(x) = \int p(x | z) p(z) dz has no closed form, so the VAE is an *approximate* explicit
density: SVI maximises the ELBO, a lower bound on log p(x), and the importance-weighted bound
(IWAE, Burda et al., 2016) with many particles is a tighter one. Its negative is an upper bound
on the NLL, which is what s09's table reports.

With a 2-D latent the integral can also be done by quadrature on a grid over z
(``log_prob_quadrature``, by ``gdl_pyro.quadrature``): a check on the bound that a
low-dimensional latent allows, whatever the data. s07's image VAE has a 2-D latent too and is
checked the same way (``models.vae.VAEFit.log_prob_quadrature``); a VAE with a 32-D latent
could not be.
"""

import itertools

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, seeded
from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.fitting import Fit, preamble
from gdl_pyro.infer import cosine_adam, fit_svi, iwae_bound
from gdl_pyro.models.gaussian import HALF_EXTENT
from gdl_pyro.quadrature import latent_grid, log_marginal

__all__ = ["PointVAE", "PointVAEFit", "fit", "guide", "model"]

_INSTANCES = itertools.count()
LATENT_DIM = 2
# Decoder and encoder scales never go below this, in map units (0.36 degrees of longitude, 0.18
# of latitude): the floor keeps the likelihood bounded, so training cannot collapse a scale to 0.
MIN_SCALE = 2e-3


def _mlp(hidden_dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(2, hidden_dim),
        nn.SiLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.SiLU(),
        nn.Linear(hidden_dim, out),
    )


class PointVAE(nn.Module):
    """Encoder q(z | x) and decoder p(x | z) over map units (degrees / (180, 90))."""

    def __init__(self, hidden_dim: int = 128, name: str | None = None):
        super().__init__()
        self.name = name or f"pointvae{next(_INSTANCES)}"
        hidden_dim = as_count(hidden_dim, "hidden_dim", minimum=1)
        self.encoder = _mlp(hidden_dim, 2 * LATENT_DIM)
        self.decoder = _mlp(hidden_dim, 4)
        self.register_buffer("half_extent", HALF_EXTENT.clone())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x)'s loc and scale for points x in degrees."""
        loc, raw = self.encoder(x / self.half_extent).chunk(2, dim=-1)
        return loc, nn.functional.softplus(raw) + MIN_SCALE

    def likelihood(self, z: torch.Tensor) -> dist.Distribution:
        """p(x | z) in degrees, event shape (2,)."""
        loc, raw = self.decoder(z).chunk(2, dim=-1)
        scale = nn.functional.softplus(raw) + MIN_SCALE
        return dist.Normal(loc * self.half_extent, scale * self.half_extent).to_event(1)

    def prior(self, *batch_shape) -> dist.Distribution:
        zeros = self.half_extent.new_zeros(*batch_shape, LATENT_DIM)
        return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)


def model(x=None, *, vae: PointVAE, num_data=None, batch_size=None):
    """z ~ N(0, I) and obs ~ p(x | z) per point; without ``x`` it simulates ``num_data`` points."""
    num_data = checked_num_data(x, num_data)
    pyro.module(vae.name, vae)
    with pyro.plate("data", num_data, subsample_size=batch_size) as index:
        z = pyro.sample("z", vae.prior())
        return pyro.sample("obs", vae.likelihood(z), obs=None if x is None else x[index])


def guide(x, *, vae: PointVAE, num_data=None, batch_size=None):
    """The amortised guide: z ~ q(z | x), the encoder's Normal."""
    pyro.module(vae.name, vae)
    with pyro.plate("data", x.shape[0], subsample_size=batch_size) as index:
        loc, scale = vae.encode(x[index])
        pyro.sample("z", dist.Normal(loc, scale).to_event(1))


class PointVAEFit(Fit):
    """A trained point VAE: samples, and log p(x) as a bound or by quadrature (no exact form).

    ``distribution`` and ``log_prob`` raise ``NoDensityError``: p(x) is an integral over z with
    no closed form. ``log_prob_lower_bound`` (the NLL kind "upper_bound") and, on this 2-D
    latent only, ``log_prob_quadrature`` give numbers on the NLL scale.
    """

    nll_kind = "upper_bound"
    no_density = (
        "a VAE's p(x) is the integral of p(x | z) p(z) over z, with no closed form; use "
        "log_prob_lower_bound(x) (ELBO or IWAE), or, for this 2-D latent, log_prob_quadrature(x)"
    )

    def __init__(self, vae: PointVAE, losses, seconds):
        self.vae = vae.cpu().requires_grad_(False).eval()
        super().__init__("VAE", "vae", losses=losses, seconds=seconds)

    def _sample(self, num_samples: int) -> torch.Tensor:
        """Ancestral samples: z from the prior, then x from the decoder."""
        return self.vae.likelihood(self.vae.prior(num_samples).sample()).sample()

    def log_prob_lower_bound(
        self, x, num_particles: int = 1000, seed: int | None = None
    ) -> torch.Tensor:
        """IWAE lower bound on log p(x_i) with ``num_particles`` particles (1: the ELBO), (N,)."""
        x = as_points(x, "x", allow_empty=True)
        num_particles = as_count(num_particles, "num_particles", minimum=1)
        if x.shape[0] == 0:
            return torch.empty(0)
        # The particles of a chunk of points are one vectorised trace; chunks keep it in memory.
        chunk = max(1, 2_000_000 // num_particles)
        with sealed(), seeded(seed), ParamState().active(), torch.no_grad():
            return torch.cat(
                [
                    iwae_bound(model, guide, part, vae=self.vae, num_particles=num_particles)
                    for part in x.split(chunk)
                ]
            )

    def log_prob_quadrature(self, x, *, half_width: float = 5.0, step: float = 0.05):
        """log p(x_i) = log of the integral of p(x_i | z) p(z) over z, by the midpoint rule.

        The grid covers [-half_width, half_width]^2 in z with cells of side ``step``; the prior
        puts 6e-7 of its mass outside +-5. Exact up to the grid's error, which shrinks with
        ``step`` as long as p(x | z) is smooth on that scale. For s09's VAE on the map, steps
        0.05 and 0.02 gave mean NLLs 1e-6 nats apart on 2,000 points (1.6 s against 9.8 s).
        """
        x = as_points(x, "x", allow_empty=True)

        def log_likelihood(points, z):
            return self.vae.likelihood(z).log_prob(points.unsqueeze(-2))

        with torch.no_grad():
            return log_marginal(log_likelihood, x, half_width=half_width, step=step)

    def log_prob_quadrature_grid(
        self, lon: torch.Tensor, lat: torch.Tensor, *, half_width: float = 5.0, step: float = 0.05
    ) -> torch.Tensor:
        """``log_prob_quadrature`` at every (lon, lat) of a grid, shape (len(lat), len(lon)).

        The decoder's Normal has a diagonal covariance, so p(x | z) = p(lon | z) p(lat | z), and
        the sum over the z grid is one matrix product: (lat x z) @ (z x lon). That makes a
        whole map cost what a few hundred points cost one by one.
        """
        z, log_cell = latent_grid(half_width, step)
        with torch.no_grad():
            normal = self.vae.likelihood(z).base_dist  # batch (Z, 2)
            weight = (self.vae.prior().log_prob(z) + log_cell).double()
            log_lon = normal.log_prob(torch.stack([lon, torch.zeros_like(lon)], -1).unsqueeze(-2))
            log_lat = normal.log_prob(torch.stack([torch.zeros_like(lat), lat], -1).unsqueeze(-2))
            log_lon, log_lat = (
                log_lon[..., 0].double(),
                log_lat[..., 1].double(),
            )  # (lon, Z), (lat, Z)
            # Scale each z's column by its largest term so the exponentials stay in range.
            shift = log_lon.amax(0) + log_lat.amax(0) + weight
            product = torch.exp(log_lat - log_lat.amax(0)) @ (
                torch.exp(log_lon - log_lon.amax(0) + (shift - shift.max())).T
            )
            return (product.log() + shift.max()).to(lon.dtype)


def fit(
    x,
    *,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    hidden_dim: int = 128,
    num_steps: int = 4000,
    batch_size: int = 1024,
    lr: float = 3e-3,
) -> PointVAEFit:
    """Maximise the ELBO by SVI (Trace_ELBO) on minibatches, with the amortised guide.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    seed, quiet, device
        As for every fit.
    hidden_dim : int
        Width of the encoder's and decoder's two hidden layers.
    num_steps, batch_size, lr : int, int, float
        Adam steps on a cosine schedule (``gdl_pyro.infer.cosine_adam``), points per minibatch
        and the starting learning rate. Losses are the negative ELBO per point.
    """
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    with preamble(x, seed=seed, device=device) as setup:
        batch_size = min(as_count(batch_size, "batch_size", minimum=1), setup.x.shape[0])
        vae = PointVAE(hidden_dim).to(setup.device)

        def per_point_model(x):
            with pyro.poutine.scale(scale=1.0 / x.shape[0]):  # the plate scales by N / batch
                model(x, vae=vae, batch_size=batch_size)

        def per_point_guide(x):
            with pyro.poutine.scale(scale=1.0 / x.shape[0]):
                guide(x, vae=vae, batch_size=batch_size)

        result = fit_svi(
            per_point_model,
            per_point_guide,
            setup.x,
            num_steps=num_steps,
            optim=cosine_adam(lr, num_steps),
            seed=setup.seed,
            quiet=quiet,
            desc="point VAE",
            param_state=setup.params,
        )
    return PointVAEFit(vae, result.losses, result.seconds)
