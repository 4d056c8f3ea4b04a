r"""A GAN on the map: an implicit model that samples but has no density.

.. math:: z \sim \mathcal N(0, I_{d}), \qquad x = G(z) = D \tanh(g(z))

The generator is a Pyro model (``model``: a latent site "z" and a deterministic site "x"), so it
samples like every other model here and can sit inside a larger Pyro model. It is trained
against a discriminator, an MLP that tells training points from generated ones, with the
non-saturating GAN loss (Goodfellow et al., 2014) and Adam, in plain PyTorch: Pyro's objectives
are all likelihood bounds (ELBOs), and a GAN has no likelihood to bound, so Pyro has no
adversarial objective to offer.

x = G(z) for a noise z: the distribution of x lives on the image of G, and G pushes a
d-dimensional Normal through a network with no tracked change of volume, so p(x) is neither
written down nor computable. ``GANFit.log_prob`` and ``distribution`` therefore raise; for a
number on the NLL scale, fit a density to the GAN's samples (a KDE) and call that an estimate.

References
----------
Goodfellow, I. et al. (2014). Generative adversarial nets. NeurIPS.
"""

import itertools

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from tqdm import tqdm

from gdl_pyro._validation import as_count, as_positive
from gdl_pyro.fitting import Fit, preamble
from gdl_pyro.models.gaussian import HALF_EXTENT

__all__ = ["GAN", "GANFit", "fit", "model"]

_INSTANCES = itertools.count()


def _mlp(inputs: int, hidden_dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden_dim),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden_dim, hidden_dim),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden_dim, out),
    )


class GAN(nn.Module):
    """Generator G (noise -> point on the map, in degrees) and discriminator (point -> logit)."""

    def __init__(self, latent_dim: int = 2, hidden_dim: int = 128, name: str | None = None):
        super().__init__()
        self.name = name or f"gan{next(_INSTANCES)}"
        self.latent_dim = as_count(latent_dim, "latent_dim", minimum=1)
        hidden_dim = as_count(hidden_dim, "hidden_dim", minimum=1)
        self.generator = _mlp(self.latent_dim, hidden_dim, 2)
        self.discriminator = _mlp(2, hidden_dim, 1)
        self.register_buffer("half_extent", HALF_EXTENT.clone())

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): tanh keeps every generated point on the map."""
        return torch.tanh(self.generator(z)) * self.half_extent

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit that x is a training point rather than a generated one."""
        return self.discriminator(x / self.half_extent).squeeze(-1)


def model(num_data: int, *, gan: GAN):
    """The generator as a Pyro model: "z" ~ N(0, I) per point, then the deterministic "x" = G(z)."""
    num_data = as_count(num_data, "num_data", minimum=1)
    pyro.module(gan.name, gan.generator)
    with pyro.plate("data", num_data):
        zeros = gan.half_extent.new_zeros(gan.latent_dim)
        z = pyro.sample("z", dist.Normal(zeros, torch.ones_like(zeros)).to_event(1))
        return pyro.deterministic("x", gan.generate(z), event_dim=1)


class GANFit(Fit):
    """A trained GAN: it samples (``sample``), and has no density to offer (NLL kind "none")."""

    nll_kind = "none"
    no_density = (
        "a GAN has no density: x = G(z) pushes noise through a network without tracking the "
        "change of volume, so p(x) is never written down. For a number on the NLL scale, "
        "fit a density to its samples, e.g. gdl_pyro.models.kde.fit(fitted.sample(n)), and "
        "report it as what it is: the NLL of a KDE of the GAN's samples"
    )

    def __init__(self, gan: GAN, losses, seconds):
        self.gan = gan.cpu().requires_grad_(False).eval()
        super().__init__("GAN", "gan", losses=losses, seconds=seconds)

    def _sample(self, num_samples: int) -> torch.Tensor:
        """Points G(z), z ~ N(0, I), drawn by the Pyro model."""
        return model(num_samples, gan=self.gan)


def fit(
    x,
    *,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    latent_dim: int = 2,
    hidden_dim: int = 128,
    num_steps: int = 4000,
    batch_size: int = 512,
    lr: float = 1e-3,
) -> GANFit:
    """Train generator and discriminator in turn, one step each per minibatch.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    seed, quiet, device
        As for every fit.
    latent_dim, hidden_dim : int
        The noise's dimension and the width of both networks.
    num_steps, batch_size, lr : int, int, float
        Adam steps (betas 0.5, 0.9, as is usual for GANs), points per minibatch, learning rate.
        ``losses`` holds the generator's loss at each step (it does not fall steadily as a
        likelihood would: the two networks chase each other).
    """
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    lr = as_positive(lr, "lr")
    bce = nn.functional.binary_cross_entropy_with_logits
    losses = []
    with preamble(x, seed=seed, device=device) as setup:
        data, device = setup.x, setup.device
        batch_size = min(as_count(batch_size, "batch_size", minimum=1), data.shape[0])
        gan = GAN(latent_dim, hidden_dim).to(device)
        g_optim, d_optim = (
            torch.optim.Adam(part.parameters(), lr=lr, betas=(0.5, 0.9))
            for part in (gan.generator, gan.discriminator)
        )
        for _ in tqdm(range(num_steps), desc="GAN", disable=quiet, mininterval=0.5):
            real = data[torch.randint(len(data), (batch_size,), device=device)]
            noise = torch.randn(2 * batch_size, gan.latent_dim, device=device)
            fake = gan.generate(noise[:batch_size]).detach()
            real_logit, fake_logit = gan.critic(real), gan.critic(fake)
            d_loss = bce(real_logit, torch.ones_like(real_logit)) + bce(
                fake_logit, torch.zeros_like(fake_logit)
            )
            d_optim.zero_grad()
            d_loss.backward()
            d_optim.step()
            # Non-saturating: the generator maximises log D(G(z)) rather than minimising
            # log(1 - D(G(z))), whose gradient vanishes while D wins easily.
            logit = gan.critic(gan.generate(noise[batch_size:]))
            g_loss = bce(logit, torch.ones_like(logit))
            g_optim.zero_grad()
            g_loss.backward()
            g_optim.step()
            losses.append(g_loss.item())
    return GANFit(gan, losses, setup.timer.seconds)
