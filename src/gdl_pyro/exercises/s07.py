"""s07's exercises: "make it wider" in PPCA's latent space, PPCA's exact posterior p(z | x).

Both use PPCA fitted in closed form to biscuit tins (seconds), never a VAE (minutes).
"""

import functools
import math

import torch

from gdl_pyro.data.tins import make_tins, measure_tins
from gdl_pyro.exercises._core import STUB_HINT, Wrong, call, exercise, tensor
from gdl_pyro.models import ppca

SIZE = 32
NUM_TINS = 1000
TINS_SEED = 7  # the tins' own generator: the same data in every check, the caller's RNG untouched
LATENT_DIM = 2

# "Make it wider" is judged as the section judges "make it taller": tins decoded along the step
# from the average tin, measured from their pixels. Steps span +-0.1 units: about 3 pixels of
# width either side, short enough that PPCA's decoded tins stay sharp enough to measure.
STEP_SPAN = 0.1
NUM_STEPS = 21
# Width per unit step: measure_tins counts whole pixels (1/32 of the side), which resolves the
# slope over the span to about +-0.15, and a straight-line read-out of PPCA's curved latent space
# is right to about 15% at the average tin: correct answers (either regression direction, 500 to
# 5,000 tins) measure 0.8 to 1.1. The mistakes miss by far more (a unit vector: 0.1; the
# read-out's column: 0.0; the taller step: 0.0 wider and 1.0 taller).
WIDTH_LOW, WIDTH_HIGH = 0.65, 1.35
HEIGHT_MAX = 0.3  # correct answers measure -0.16 to 0; the taller step measures about 1

# The exact posterior must match the closed form to float32's precision: KL(exact || yours) per
# image below this. Correct float32 answers give 1e-9 nats (through the D x D covariance of x,
# W W^T + sigma^2 I, 2e-7); leaving out the prior's shrinkage on the tins, a 0.2% error in the
# means, gives 1e-3.
KL_NATS = 1e-4
NUM_IMAGES = 200
# The posterior's closed form holds at any image size: 16 x 16 tins keep PPCA's eigendecomposition
# (256 x 256) to milliseconds.
POSTERIOR_SIZE = 16
NOISY_SIGMA = 3.0  # an image this noisy says little about z: the prior's pull shows


@functools.cache
def _tins_ppca(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor, ppca.PPCAParams]:
    """Tins as (N, size**2) pixels, their (height, width), and PPCA's closed-form MLE (once)."""
    images, labels = make_tins(NUM_TINS, size=size, seed=TINS_SEED)
    x = images.reshape(NUM_TINS, -1)
    return x, labels, ppca.mle(x, LATENT_DIM)


def _readout(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """B of the least-squares read-out (height, width) = z B + c, shape (2, 2), float64."""
    design = torch.cat([z, torch.ones(len(z), 1)], 1).double()
    return torch.linalg.lstsq(design, labels.double()).solution[:-1]


def _slopes(params: ppca.PPCAParams, start: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """(height, width) per unit step of tins decoded (W z + mu) along ``step`` and measured."""
    t = torch.linspace(-STEP_SPAN, STEP_SPAN, NUM_STEPS)
    decoded = (start + t[:, None] * step.float()) @ params.W.T + params.mu
    measured = measure_tins(decoded.reshape(-1, SIZE, SIZE)).double()
    centred = t.double() - t.double().mean()
    return centred @ (measured - measured.mean(0)) / (centred @ centred)


def _parallel(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two 2-D steps point the same way (to within about 2.5 degrees)."""
    return bool(a @ b > 0.999 * a.norm() * b.norm())


@exercise("s07.1", "Make it wider: a step in latent space", "wider_direction")
def _wider_direction(answer):
    x, labels, params = _tins_ppca()
    z = ppca.posterior(x, params).loc
    step = tensor(
        call(answer, z.clone(), labels.clone(), what="wider_direction(z, labels)"),
        (2,),
        "the step wider_direction(z, labels) returns",
    )
    height, width = (float(v) for v in _slopes(params, z.mean(0), step))
    B = _readout(z, labels)
    right = torch.linalg.solve(B.T, torch.tensor([0.0, 1.0], dtype=torch.float64))
    measured = {
        "height_per_step": height,
        "width_per_step": width,
        "step": step.tolist(),
        "length": float(step.norm()),
    }
    found = (
        f"decoded along your step from the average tin (f(z) = W z + mu) and measured, the tins "
        f"change width by {width:+.2f} and height by {height:+.2f} per unit step"
    )
    if WIDTH_LOW <= width <= WIDTH_HIGH and abs(height) <= HEIGHT_MAX:
        return (
            f"{found} (a unit is the image's side): wider by about 1, as tall as before",
            measured,
        )
    if torch.equal(step, torch.tensor([0.0, 1.0], dtype=torch.float64)):
        hint = (
            "(0, 1) is a step in (height, width), not in z: the latent axes are whatever PPCA "
            "found. Fit how (height, width) depend on z, then invert that map"
        )
    elif torch.allclose(step, B[:, 1], rtol=1e-2, atol=0.0):
        hint = (
            "your step is the read-out's width column, B[:, 1]: how much width each latent "
            "coordinate adds per unit, the direction in which width grows fastest. A step along "
            "it changes width by |B[:, 1]|^2 (and height by B[:, 0] . B[:, 1]), not by 1. The "
            "step that changes (height, width) by (0, 1) solves B^T dz = (0, 1)"
        )
    elif _parallel(step, -right):
        hint = "your step points the wrong way: it makes the tin narrower. Flip its sign"
    elif abs(height) > max(HEIGHT_MAX, abs(width)):
        hint = (
            "your step makes the tin taller, not wider: it holds width fixed instead of height. "
            "The step that changes (height, width) by (0, 1) solves B^T dz = (0, 1)"
        )
    elif _parallel(step, right):
        scale = float(right.norm() / step.norm())
        hint = (
            f"the direction is right, but your step is {float(step.norm()):.3g} long and a unit "
            f"of width takes {float(right.norm()):.3g} ({scale:.3g} times yours): scale it so "
            "that B^T dz = (0, 1)" + (", not to length 1" if abs(step.norm() - 1) < 1e-3 else "")
        )
    else:
        hint = (
            "fit (height, width) = z B + c by least squares over the tins, then solve "
            "B^T dz = (0, 1) for the step dz"
        )
    raise Wrong(f"{found}; wider and as tall would be about +1 and 0: {hint}", **measured)


def _as_gaussian(posterior, num_images: int, latent_dim: int, what: str):
    """The learner's p(z | x) as float64 (mean (N, q), covariance (N, q, q)), or a ``Wrong``."""
    if posterior is None or posterior is Ellipsis:
        raise Wrong(f"{what} returned {posterior!r}: {STUB_HINT}")
    if isinstance(posterior, tuple | list):
        raise Wrong(
            f"{what} returned a {type(posterior).__name__}; return the posterior as a "
            "distribution, dist.MultivariateNormal(loc, covariance_matrix=cov), which Pyro can "
            "sample and score"
        )
    if not hasattr(posterior, "mean") or not hasattr(posterior, "variance"):
        raise Wrong(
            f"{what} must return a distribution (dist.MultivariateNormal); got "
            f"{type(posterior).__name__}"
        )
    try:
        mean, variance = posterior.mean, posterior.variance
        cov = getattr(posterior, "covariance_matrix", None)
    except Exception as error:  # a distribution that cannot say its moments
        raise Wrong(f"{what}'s mean or covariance raised {type(error).__name__}: {error}") from None
    mean = tensor(mean, (num_images, latent_dim), f"the mean of {what}")
    if cov is None:  # a diagonal Gaussian (Normal(...).to_event(1)): its covariance is diagonal
        cov = torch.diag_embed(torch.as_tensor(variance))
    try:
        cov = torch.as_tensor(cov).expand(num_images, latent_dim, latent_dim)
    except RuntimeError:
        raise Wrong(
            f"the covariance of {what} has shape {tuple(cov.shape)}; it must be "
            f"({latent_dim}, {latent_dim}) for a {latent_dim}-D latent (one per image, or shared)"
        ) from None
    return mean, tensor(cov, (num_images, latent_dim, latent_dim), f"the covariance of {what}")


def _kl(mean_p, cov_p, mean_q, cov_q) -> torch.Tensor:
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)) of each row, in float64."""
    q = torch.distributions.MultivariateNormal(mean_q, covariance_matrix=cov_q)
    p = torch.distributions.MultivariateNormal(mean_p, covariance_matrix=cov_p)
    return torch.distributions.kl_divergence(p, q)


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal to float32's precision, relative to the size of ``want``."""
    return bool(((got - want).abs() <= 1e-4 * want.abs().max() + 1e-12).all())


def _cases(params: ppca.PPCAParams, x: torch.Tensor):
    """The two PPCA models and images the check asks about: (name, W, mu, sigma, x)."""
    # A rotation of W is the same model (its likelihood is unchanged) with W's columns no longer
    # orthogonal, so W^T W and M are not diagonal.
    cos, sin = math.cos(0.5), math.sin(0.5)
    rotation = torch.tensor([[cos, -sin], [sin, cos]])
    W = params.W @ rotation
    yield "the tins' PPCA", W, params.mu, params.sigma, x[:NUM_IMAGES]
    # The same decoder with a third latent direction and noise of sd 3 on every pixel: a sample
    # from that model, so that the prior's pull toward 0 is large.
    extra = torch.randn(W.shape[0], 1) * W.norm(dim=0).mean() / math.sqrt(W.shape[0])
    W3 = torch.cat([W, extra], 1)
    sigma = torch.tensor(NOISY_SIGMA)
    z = torch.randn(NUM_IMAGES, 3)
    noisy = z @ W3.T + params.mu + sigma * torch.randn(NUM_IMAGES, W3.shape[0])
    yield "a noisy PPCA with a 3-D latent", W3, params.mu, sigma, noisy


@exercise("s07.2", "PPCA's exact posterior p(z | x)", "exact_posterior")
def _exact_posterior(answer):
    x, _, params = _tins_ppca(POSTERIOR_SIZE)
    spreads = {}
    for name, W, mu, sigma, images in _cases(params, x):
        n, q = len(images), W.shape[1]
        what = f"exact_posterior(x, W, mu, sigma) for {name}"
        got = call(answer, images.clone(), W.clone(), mu.clone(), sigma.clone(), what=what)
        mean, cov = _as_gaussian(got, n, q, what)
        W64, centred, s2 = W.double(), (images - mu).double(), float(sigma) ** 2
        # The closed form by another route, in information form: the posterior's precision is
        # the prior's, I, plus the likelihood's, W^T W / sigma^2, and its mean the covariance
        # times W^T (x - mu) / sigma^2.
        want_cov = torch.linalg.inv(torch.eye(q, dtype=torch.float64) + W64.T @ W64 / s2)
        want_mean = centred @ W64 @ want_cov / s2
        try:
            kl = float(_kl(want_mean, want_cov, mean, cov).mean())
        except (ValueError, RuntimeError):
            kl = math.inf  # the answer's covariance is not positive definite
        sd = want_cov.diagonal().sqrt()
        spreads[name] = float(sd.mean())
        measured = {"case": name, "kl_nats": kl, "posterior_sd": sd.tolist()}
        if kl <= KL_NATS:
            continue
        gram = W64.T @ W64
        M = gram + s2 * torch.eye(q, dtype=torch.float64)
        mean_error = float(((mean - want_mean) / sd).abs().max())
        found = (
            f"for {name}, KL(exact || yours) is {kl:.3g} nats per image; your means are off by up "
            f"to {mean_error:.3g} posterior sds"
        )
        if not _close(mean, want_mean):
            if _close(mean, centred @ W64 @ torch.linalg.inv(gram)):
                hint = (
                    "your mean is the least-squares projection (W^T W)^{-1} W^T (x - mu), which "
                    "ignores the prior: z ~ N(0, I) pulls it toward 0, more so the noisier the "
                    "image. The posterior mean is M^{-1} W^T (x - mu), M = W^T W + sigma^2 I"
                )
            elif _close(mean, centred @ W64):
                hint = "your mean is W^T (x - mu); it is M^{-1} W^T (x - mu), M = W^T W + sigma^2 I"
            elif _close(mean, images.double() @ W64 @ torch.linalg.inv(M)):
                hint = "subtract mu from x first: the mean is M^{-1} W^T (x - mu)"
            elif _close(mean, centred @ W64 / M.diagonal()):
                hint = (
                    "you divided by M's diagonal; M is a matrix (W's columns need not be "
                    "orthogonal): use its inverse, torch.linalg.solve or torch.linalg.inv"
                )
            else:
                hint = "the mean is M^{-1} W^T (x - mu), with M = W^T W + sigma^2 I"
            raise Wrong(f"{found}: {hint}", **measured)
        if _close(cov[0], torch.linalg.inv(M)):
            hint = "your covariance is M^{-1}; it is sigma^2 M^{-1}"
        elif _close(cov[0], s2 * torch.linalg.inv(gram)):
            hint = (
                "your covariance, sigma^2 (W^T W)^{-1}, leaves out the prior's precision: it is "
                "sigma^2 M^{-1}, M = W^T W + sigma^2 I"
            )
        elif _close(cov[0], torch.eye(q, dtype=torch.float64)):
            hint = "your covariance is the prior's, I: seeing x narrows it to sigma^2 M^{-1}"
        elif _close(cov[0], torch.diag_embed(want_cov.diagonal())):
            hint = (
                "your covariance is diagonal, but z's coordinates are correlated given x (M is "
                "not diagonal): use the full sigma^2 M^{-1}, a MultivariateNormal"
            )
        else:
            hint = "the covariance is sigma^2 M^{-1}, the same for every image"
        raise Wrong(f"{found}, but the covariance is off: {hint}", **measured)
    tins, noisy = spreads.values()
    return (
        f"your p(z | x) is the exact posterior (KL below {KL_NATS:g} nats per image) for the tins' "
        f"PPCA and for a noisy one. A tin image pins its z to about +-{tins:.3f} (the prior's sd "
        f"is 1); an image with noise of sd {NOISY_SIGMA:g} on every pixel only to +-{noisy:.2f}",
        {"posterior_sd_tins": tins, "posterior_sd_noisy": noisy},
    )
