r"""A variational autoencoder with a 2-D latent space: the book's decoder f, learned from images.

.. math:: z \sim \mathcal N(0, I_2), \qquad x \mid z \sim \mathcal{CB}(\lambda = f_\phi(z))

The decoder f maps a latent point to the pixel intensities of an image; the encoder maps an
image to q(z | x), an amortised guide. Both are nn.Modules registered with ``pyro.module``;
``fit(images)`` trains them in a param store of its own and returns a ``VAEFit``.

The likelihood is the **continuous Bernoulli** (Loaiza-Ganem and Cunningham, 2019), not the
Bernoulli: the tin images are grayscale values in [0, 1], not binary pixels. The Bernoulli's
"log-likelihood" of a gray value is not a log density, so it cannot be compared with PPCA's
Gaussian density; the continuous Bernoulli is a proper density on [0, 1], so the held-out
log-likelihoods of the two models are in the same units (nats per image, per unit of pixel value).

References
----------
Kingma, D. P. and Welling, M. (2014). Auto-encoding variational Bayes. ICLR.
Loaiza-Ganem, G. and Cunningham, J. P. (2019). The continuous Bernoulli: fixing a pervasive
error in variational autoencoders. NeurIPS.
"""

import itertools

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.optim
import torch
from torch import nn

from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, seeded
from gdl_pyro._validation import as_count, as_positive
from gdl_pyro.fitting import Fit, preamble
from gdl_pyro.infer import fit_svi, iwae_bound
from gdl_pyro.quadrature import log_marginal

__all__ = ["VAE", "VAEFit", "as_images", "fit", "latent_direction", "linear_readout"]

# Each VAE's default name, for its pyro.module registrations: vae0, vae1, ...
_INSTANCES = itertools.count()


def as_images(x, name: str = "x", *, allow_empty: bool = False) -> torch.Tensor:
    """Images as a float tensor of shape (N, data_dim), detached, or a ValueError naming them.

    Lists, NumPy arrays and float64 tensors are converted to the default dtype; integer levels
    (8-bit images) are refused with a pointer to ``dequantize``, and the pixel values are checked
    against [0, 1] by the VAE itself (``VAE._check``).
    """
    if torch.is_tensor(x):
        images = x.detach()
    else:
        try:
            array = np.asarray(x)
            images = torch.as_tensor(array if array.dtype.kind in "biuf" else array.astype(float))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be an array of shape (N, data_dim)") from error
    if not images.is_floating_point():  # 8-bit levels are not intensities
        raise ValueError(
            f"{name} must hold floating-point pixel values in [0, 1]; got dtype {images.dtype} "
            "(8-bit levels become such values by gdl_pyro.data.tins.dequantize)"
        )
    if images.dim() != 2:
        raise ValueError(f"{name} must have shape (N, data_dim); got {tuple(images.shape)}")
    if images.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must hold at least one image; got an empty array")
    return images.to(torch.get_default_dtype()).contiguous()


class Encoder(nn.Module):
    """q(z | x): an MLP from a flattened image to the mean and scale of a diagonal Gaussian."""

    def __init__(self, data_dim: int, latent_dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(data_dim, hidden_dim),
            nn.Softplus(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.Softplus(),
        )
        self.loc = nn.Linear(hidden_dim, latent_dim)
        self.log_scale = nn.Linear(hidden_dim, latent_dim)

    def forward(self, x):
        h = self.net(x)
        return self.loc(h), self.log_scale(h).clamp(-10, 3).exp()


class Decoder(nn.Module):
    """The book's f: an MLP from a latent point to the logits of every pixel's lambda."""

    def __init__(self, data_dim: int, latent_dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.Softplus(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.Softplus(),
            nn.Linear(hidden_dim, data_dim),
        )

    def forward(self, z):
        return self.net(z)


class VAE(nn.Module):
    """A VAE for flattened images with values in [0, 1].

    Parameters
    ----------
    data_dim : int
        Pixels per image (32 x 32 = 1024 for the tins).
    latent_dim : int
        Size of the latent space; 2 in the chapter, so that it can be drawn.
    hidden_dim : int
        Width of the encoder's and decoder's hidden layers.

    Examples
    --------
    >>> vae = VAE(data_dim=1024)
    >>> x = torch.rand(5, 1024)
    >>> trace = pyro.poutine.trace(vae.model).get_trace(x)
    >>> trace.nodes["z"]["value"].shape
    torch.Size([5, 2])
    """

    def __init__(
        self, data_dim: int, latent_dim: int = 2, hidden_dim: int = 256, name: str | None = None
    ):
        super().__init__()
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.name = name or f"vae{next(_INSTANCES)}"
        self.encoder = Encoder(data_dim, latent_dim, hidden_dim)
        self.decoder = Decoder(data_dim, latent_dim, hidden_dim)

    def _check_shape(self, x, name: str = "x"):
        """Images as an (N, data_dim) tensor (or None), or a ValueError that names them."""
        if x is None:
            return
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"{name} must be a torch.Tensor of shape (N, {self.data_dim}); "
                f"got {type(x).__name__}"
            )
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise ValueError(f"{name} must have shape (N, {self.data_dim}); got {tuple(x.shape)}")

    def _check(self, x, name: str = "x"):
        """Images as (N, data_dim) values in [0, 1], or a ValueError that names them."""
        if x is None:
            return
        self._check_shape(x, name)
        if not x.is_floating_point():
            raise ValueError(
                f"{name} must hold floating-point pixel values in [0, 1]; got dtype {x.dtype} "
                "(8-bit levels become such values by gdl_pyro.data.tins.dequantize)"
            )
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} must hold finite pixel values; got NaN or infinite values")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{name} must hold pixel values in [0, 1]")

    def model(self, x=None, *, num_data=None, batch_size=None, annealing_factor: float = 1.0):
        """z ~ N(0, I); x ~ ContinuousBernoulli(logits=f(z)). Without x, simulates ``num_data``.

        The networks are registered with ``pyro.module`` under this VAE's own ``name``
        ("vae3.decoder"), so two VAEs never share weights, not even in one param store; ``fit``
        and every method of ``VAEFit`` also run in a param store of their own.
        """
        self._check_shape(x)
        pyro.module(f"{self.name}.decoder", self.decoder)
        num_data = x.shape[0] if x is not None else num_data
        if num_data is None:
            raise ValueError("num_data is required when x is None")
        num_data = as_count(num_data, "num_data", minimum=1)
        with pyro.plate("data", num_data, subsample_size=batch_size) as index:
            with pyro.poutine.scale(scale=annealing_factor):  # KL weight; 1 is the true ELBO
                zeros = self.decoder.net[0].weight.new_zeros(self.latent_dim)  # the model's device
                z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            obs = None
            if x is not None:
                obs = x[index]
                self._check(obs)  # the minibatch only: checking all of x every step costs 25%
            return pyro.sample(
                "obs", dist.ContinuousBernoulli(logits=self.decoder(z)).to_event(1), obs=obs
            )

    def guide(self, x=None, *, num_data=None, batch_size=None, annealing_factor: float = 1.0):
        """q(z | x) = N(encoder(x)): the amortised guide."""
        self._check_shape(x)
        if x is None:
            raise ValueError("x is required: the guide encodes observed images")
        pyro.module(f"{self.name}.encoder", self.encoder)
        with pyro.plate("data", x.shape[0], subsample_size=batch_size) as index:
            batch = x[index]
            self._check(batch)
            loc, scale = self.encoder(batch)
            with pyro.poutine.scale(scale=annealing_factor):
                pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def encode(self, x) -> torch.Tensor:
        """Latent means E_q[z | x] of each image, shape (N, latent_dim)."""
        x = as_images(x, allow_empty=True)
        self._check(x)
        with torch.no_grad():
            return self.encoder(x)[0]

    def decode(self, z) -> torch.Tensor:
        """f(z): mean pixel intensities of the image at each latent point, shape (N, data_dim)."""
        z = torch.as_tensor(z, dtype=torch.get_default_dtype())
        if z.dim() != 2 or z.shape[1] != self.latent_dim or not torch.isfinite(z).all():
            raise ValueError(
                f"z must be finite, of shape (N, {self.latent_dim}); got {tuple(z.shape)}"
            )
        with torch.no_grad():
            return dist.ContinuousBernoulli(logits=self.decoder(z)).mean

    def generate(self, num_images: int) -> torch.Tensor:
        """New images: z from the prior, decoded to mean intensities in [0, 1]."""
        return self.decode(torch.randn(num_images, self.latent_dim))


class VAEFit(Fit):
    """A trained VAE: the module, its loss trace, and the fit protocol where a VAE can answer.

    A VAE's log p(x) has no closed form, so ``distribution`` and ``log_prob`` raise
    ``NoDensityError`` and ``log_prob_lower_bound`` says what it gives (the ELBO with one
    particle, the IWAE bound with more): the NLL kind is "upper_bound". With a 2-D latent,
    ``log_prob_quadrature`` computes log p(x) on a grid over z, the check on those bounds.
    ``sample`` gives new images, (n, data_dim). Every method runs sealed, in a param store of its
    own (quadrature runs no Pyro at all).
    """

    nll_kind = "upper_bound"
    no_density = (
        "a VAE's p(x) is the integral of p(x | z) p(z) over z, with no closed form; use "
        "log_prob_lower_bound(x, num_particles=K) (the ELBO at K = 1, the IWAE bound above)"
    )

    def __init__(self, vae: VAE, losses, seconds):
        self.vae = vae.cpu().eval()
        self.event_shape = (self.vae.data_dim,)
        super().__init__("VAE (images)", "vae", losses=losses, seconds=seconds)

    def _as_input(self, x, *, allow_empty: bool = False) -> torch.Tensor:
        """Images as an (N, data_dim) tensor of values in [0, 1]."""
        x = as_images(x, allow_empty=allow_empty)
        self.vae._check(x)
        return x

    def encode(self, x) -> torch.Tensor:
        return self.vae.encode(self._as_input(x, allow_empty=True))

    def decode(self, z) -> torch.Tensor:
        return self.vae.decode(z)

    def _sample(self, num_samples: int) -> torch.Tensor:
        """New images: z from the prior, decoded to mean intensities in [0, 1]."""
        return self.vae.generate(num_samples)

    def log_prob_lower_bound(
        self, x, num_particles: int = 1, seed: int | None = None
    ) -> torch.Tensor:
        """A stochastic lower bound on log p(x_i) of each image: the ELBO (K = 1) or IWAE (K > 1).

        In nats per image, shape (N,); the bound tightens as ``num_particles`` grows.
        """
        x = self._as_input(x, allow_empty=True)
        if x.shape[0] == 0:
            return torch.empty(0)
        with sealed(), seeded(seed), ParamState().active():
            return iwae_bound(self.vae.model, self.vae.guide, x, num_particles=num_particles)

    def log_prob_quadrature(
        self,
        x,
        *,
        half_width: float = 8.0,
        step: float = 0.1,
        refine: int | None = 40,
        threshold: float = 30.0,
    ) -> torch.Tensor:
        """log p(x_i) by quadrature over the 2-D latent: the marginal the bounds fall short of.

        The midpoint rule on a grid over z (``gdl_pyro.quadrature.log_marginal``), in nats per
        image, shape (N,). An image pins z down to a few hundredths (the encoder's scales are
        0.04 to 0.09 after s07's full training), finer than a grid over the whole prior can
        afford, so by default each image gets a second grid of ``refine`` x ``refine`` cells
        over the box where its posterior has its mass. The prior's box is wider than the
        map VAE's +-5, as a short training can leave latent means near 8. Only a VAE with a 2-D
        latent allows this.
        """
        if self.vae.latent_dim != 2:
            raise ValueError(
                f"quadrature needs a 2-D latent; this VAE's has {self.vae.latent_dim} dimensions"
            )
        x = self._as_input(x, allow_empty=True)
        return log_marginal(
            self._log_likelihood,
            x,
            half_width=half_width,
            step=step,
            refine=refine,
            threshold=threshold,
        )

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x_i | z_c) for images (n, D) and latent points (cells, 2), shape (n, cells).

        The continuous Bernoulli is an exponential family: log p(x | z) = x . f(z) + c(f(z)),
        with f(z) the logits and c summed over the pixels, so all pairs take one matrix product.
        c is taken in the decoder's own dtype, as the model's log density (and so the ELBO and
        IWAE bounds) takes it; the sums over pixels are in float64.
        """
        with torch.no_grad():
            logits = self.vae.decoder(z)
            constant = dist.ContinuousBernoulli(logits=logits).log_prob(logits.new_zeros(()))
            return x.double() @ logits.double().T + constant.double().sum(-1)


def fit(
    x,
    *,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    latent_dim: int = 2,
    hidden_dim: int = 256,
    num_steps: int = 3000,
    batch_size: int = 128,
    lr: float = 2e-3,
    lr_decay: float = 1.0,
    kl_warmup: float = 0.0,
) -> VAEFit:
    """Train a VAE on flattened images by SVI on minibatches (Trace_ELBO, ClippedAdam).

    Losses are -ELBO per image.

    Parameters
    ----------
    x : torch.Tensor of shape (N, data_dim)
        Images with values in [0, 1].
    seed, quiet, device
        As for every fit (the networks' initial weights come from ``seed`` too).
    latent_dim, hidden_dim : int
        The latent space's size (2 in the chapter) and the networks' width.
    num_steps, batch_size, lr : int, int, float
        SVI steps, images per minibatch, initial learning rate.
    lr_decay : float
        Factor by which the learning rate shrinks over the whole run, in (0, 1]; annealing
        makes the latent space a run ends with depend much less on the random start.
    kl_warmup : float
        Share of the steps over which the KL term's weight rises linearly from 0.01 to 1 (as in
        Pyro's deep Markov model example): the decoder lays out the latent space before the
        prior pulls it together. Losses during warm-up are not the ELBO; after it, they are.
    """
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1]; got {lr_decay}")
    if not 0 <= kl_warmup < 1:
        raise ValueError(f"kl_warmup must be in [0, 1); got {kl_warmup}")
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    lr = as_positive(lr, "lr")
    with preamble(x, seed=seed, device=device, check=as_images) as setup:
        return _fit(
            setup, quiet, latent_dim, hidden_dim, num_steps, batch_size, lr, lr_decay, kl_warmup
        )


def _fit(setup, quiet, latent_dim, hidden_dim, num_steps, batch_size, lr, lr_decay, kl_warmup):
    """The VAE's training inside ``preamble``."""
    x, device = setup.x, setup.device
    vae = VAE(x.shape[1], as_count(latent_dim, "latent_dim", minimum=1), hidden_dim)
    vae._check(x)
    vae.to(device)
    # The subsampled plate already scales a minibatch up to the data set (N / B); 1 / N makes the
    # loss the negative ELBO per image.
    scale = 1.0 / x.shape[0]
    batch = min(as_count(batch_size, "batch_size", minimum=1), x.shape[0])
    warmup_steps = int(kl_warmup * num_steps)
    kl_weight = {"now": 1.0}

    def anneal(step: int):
        if warmup_steps:  # from 0.01 (poutine.scale needs a positive weight) up to 1
            kl_weight["now"] = min(1.0, 0.01 + 0.99 * step / warmup_steps)

    def model(x):
        with pyro.poutine.scale(scale=scale):
            vae.model(x, batch_size=batch, annealing_factor=kl_weight["now"])

    def guide(x):
        with pyro.poutine.scale(scale=scale):
            vae.guide(x, batch_size=batch, annealing_factor=kl_weight["now"])

    # ClippedAdam: the continuous Bernoulli's normaliser has steep gradients near lambda = 0.5.
    optim = pyro.optim.ClippedAdam(
        {"lr": lr, "clip_norm": 10.0, "lrd": lr_decay ** (1 / num_steps)}
    )
    result = fit_svi(
        model,
        guide,
        x,
        num_steps=num_steps,
        optim=optim,
        seed=setup.seed,
        quiet=quiet,
        desc="VAE",
        on_step=anneal,
        param_state=setup.params,
    )
    return VAEFit(vae, result.losses, result.seconds)


def linear_readout(features, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares from features (e.g. latent means) to targets, with an intercept.

    Returns the coefficients, shape (F + 1, T) with the intercept last, and the R^2 of each
    target column: how much of each true factor a straight line through the latent space explains.
    """
    design = torch.cat([features, torch.ones(len(features), 1)], 1).double()
    targets = torch.as_tensor(targets).double()
    coef = torch.linalg.lstsq(design, targets).solution
    residual = targets - design @ coef
    r2 = 1 - residual.pow(2).sum(0) / (targets - targets.mean(0)).pow(2).sum(0)
    return coef, r2


def latent_direction(coef: torch.Tensor, target: int) -> torch.Tensor:
    """The latent step that moves target ``target`` by +1 and holds every other target fixed.

    With the read-out targets = z B + c (B = ``coef`` without its intercept row, square when the
    latent space has one dimension per target), the step dz solves B^T dz = e_target.
    """
    readout = coef[:-1].to(torch.get_default_dtype())
    if readout.shape[0] != readout.shape[1]:
        raise ValueError(f"coef must map as many latents as targets; got {tuple(readout.shape)}")
    unit = torch.zeros(readout.shape[1])
    unit[target] = 1.0
    return torch.linalg.solve(readout.T, unit)
