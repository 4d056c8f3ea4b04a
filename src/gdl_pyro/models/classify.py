r"""Generative versus discriminative models of land-mass labels y given points x on the map.

- ``fit_logistic`` fits the discriminative model: a Bayesian multinomial logistic regression
  p(y | x) = softmax(B^T phi(x) + c) on random Fourier features phi of the point, fitted by SVI.
  It answers "which land mass is this point on?" and nothing else: it has no p(x), so it cannot
  make a point.
- ``fit_class_conditional`` fits the generative model: p(x, y) = p(y) p(x | y) with a Gaussian
  mixture (``gdl_pyro.models.mixture``) for each p(x | y). Bayes' rule turns it into a
  classifier, p(y | x) oc p(y) p(x | y), and ``sample_given(y, n)`` generates points on request:
  "make Australia".

The features embed longitude as (cos, sin) so that both models see the dateline as continuous.
"""

import math
import numbers
from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoNormal

from gdl_pyro._sealed import sealed
from gdl_pyro._state import on_device, seeded
from gdl_pyro._validation import as_count, as_points, generator
from gdl_pyro.diagnostics import vi_khat
from gdl_pyro.fitting import Fit, checked_model, preamble
from gdl_pyro.infer import SVIResult, fit_svi, guide_draws
from gdl_pyro.models import mixture

__all__ = [
    "ClassConditionalFit",
    "FourierFeatures",
    "LogisticFit",
    "fit_class_conditional",
    "fit_logistic",
    "logistic_model",
]

COEF_PRIOR_SCALE = 3.0


class FourierFeatures:
    """Random Fourier features of (cos lon, sin lon, lat / 90): phi(x) = sqrt(2/D) cos(W e(x) + b).

    Their inner products approximate a Gaussian kernel of width ``lengthscale`` on the embedded
    map, so a linear model on them can draw smooth, curved borders. Fixed by ``seed``.
    """

    def __init__(self, num_features: int = 300, lengthscale: float = 0.15, seed: int = 0):
        self.num_features = as_count(num_features, "num_features", minimum=1)
        if not lengthscale > 0:
            raise ValueError(f"lengthscale must be > 0; got {lengthscale}")
        g = generator(seed)
        self.weights = torch.randn(3, self.num_features, generator=g) / lengthscale
        self.phase = 2 * math.pi * torch.rand(self.num_features, generator=g)

    def __call__(self, points) -> torch.Tensor:
        points = as_points(points, "points", allow_empty=True)
        lon, lat = torch.deg2rad(points[:, 0]), points[:, 1] / 90
        embedded = torch.stack([lon.cos(), lon.sin(), lat], -1)
        return math.sqrt(2 / self.num_features) * torch.cos(embedded @ self.weights + self.phase)


def logistic_model(features, labels=None, *, num_classes: int):
    """Multinomial logistic regression: coef ~ N(0, 3^2), bias ~ N(0, 3^2); y ~ Cat(softmax)."""
    num_features = features.shape[1]
    zeros = features.new_zeros(num_features + 1, num_classes)  # on the features' device
    coef = pyro.sample("coef", dist.Normal(zeros[:-1], COEF_PRIOR_SCALE).to_event(2))
    bias = pyro.sample("bias", dist.Normal(zeros[-1], COEF_PRIOR_SCALE).to_event(1))
    logits = features @ coef
    if coef.dim() > 2:  # draws of coef come as (S, 1, F, C): the 1 holds the data plate's place
        logits = logits.squeeze(-3)
    with pyro.plate("data", features.shape[0]):
        return pyro.sample("y", dist.Categorical(logits=logits + bias), obs=labels)


def _as_points(points) -> torch.Tensor:
    """The classifiers' points, checked under their own argument name."""
    return as_points(points, "points")


def _check_labels(labels, num_points: int, num_classes: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.shape != (num_points,) or labels.is_floating_point():
        raise ValueError(
            f"labels must be integers of shape ({num_points},); got {tuple(labels.shape)}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (sea points have no class)")
    return labels.long()


class LogisticFit(Fit):
    """The discriminative model fitted: p(y | x) only, by SVI with a mean-field guide.

    It has no p(x): ``distribution``, ``log_prob`` and ``sample`` raise ``NoDensityError`` (the
    lesson of s08). The guide runs with this fit's own parameters wherever it is called, as a
    ``VIFit``'s does, so two classifiers in one session never share weights.
    """

    nll_kind = "none"
    no_density = (
        "a discriminative classifier models p(y | x) only: it has no p(x), so it can neither "
        "score a point's density nor make a point; a generative model (fit_class_conditional) "
        "can do both"
    )

    def __init__(self, features: FourierFeatures, num_classes: int, svi: SVIResult, guide, device):
        self.features, self.num_classes, self.svi = features, num_classes, svi
        self._guide, self.device = guide, device
        super().__init__(
            "logistic regression (VI)", "logistic", losses=svi.losses, seconds=svi.seconds
        )

    def guide(self, *args, **kwargs):
        """The fitted guide, run with this fit's own parameters (never the caller's store)."""
        with self.svi.scope():
            return self._guide(*args, **kwargs)

    def coefficient_draws(
        self, num_draws: int = 100, seed: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Guide draws of "coef" (S, features, classes) and "bias" (S, classes)."""
        predictive = Predictive(
            logistic_model,
            guide=self._guide,
            num_samples=as_count(num_draws, "num_draws", minimum=1),
            return_sites=["coef", "bias"],
        )
        with sealed(), self.svi.scope(), seeded(seed), torch.no_grad(), on_device(self.device):
            # The features are not needed for the coefficients: one dummy row.
            dummy = self.features(torch.zeros(1, 2)).to(self.device)
            draws = predictive(dummy, num_classes=self.num_classes)
        # Predictive keeps a dim of size 1 where the data plate would be: (S, 1, ...).
        return {name: value.squeeze(1).cpu() for name, value in draws.items()}

    def guide_diagnostics(self, points, labels, num_draws: int = 1000, seed: int | None = None):
        """(draws, k-hat): guide draws of every latent, and the guide's PSIS k-hat (Pyro's)."""
        phi = self.features(as_points(points, "points"))  # k-hat needs at least one point
        labels = _check_labels(labels, len(phi), self.num_classes)
        phi, labels = phi.to(self.device), labels.to(self.device)
        with sealed(), self.svi.scope(), seeded(seed), on_device(self.device):
            draws, _ = guide_draws(
                logistic_model,
                self._guide,
                phi,
                labels,
                num_draws=num_draws,
                num_classes=self.num_classes,
            )
            khat = vi_khat(
                logistic_model,
                self._guide,
                phi,
                labels,
                num_draws=num_draws,
                num_classes=self.num_classes,
            )
        return {name: value.cpu() for name, value in draws.items()}, khat

    def predict_proba(self, points, num_draws: int = 100, seed: int | None = 0) -> torch.Tensor:
        """Posterior predictive p(y | x), averaged over guide draws: shape (N, classes)."""
        phi = self.features(points)
        d = self.coefficient_draws(num_draws, seed=seed)
        return torch.softmax(phi @ d["coef"] + d["bias"].unsqueeze(-2), -1).mean(0)

    def predict(self, points) -> torch.Tensor:
        return self.predict_proba(points).argmax(-1)


def fit_logistic(
    points,
    labels,
    *,
    num_classes: int,
    features: FourierFeatures | None = None,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_steps: int = 1500,
    lr: float = 0.05,
    model: Callable | None = None,
) -> LogisticFit:
    """Fit the Bayesian logistic regression p(y | x) by SVI (AutoNormal): the fit interface.

    Parameters
    ----------
    points : array-like of shape (N, 2)
    labels : array-like of int, shape (N,)
        Classes 0 .. num_classes - 1.
    num_classes : int
        At least 2.
    features : FourierFeatures, optional
        The features phi(x); ``FourierFeatures()`` by default.
    seed, quiet, device
        As for every fit.
    num_steps, lr : int, float
        SVI steps and Adam's learning rate.
    model : callable, optional
        The program to fit, ``model(features, labels, num_classes=...)``: ``logistic_model`` by
        default, or a copy of it with the same sites, such as the one s08 writes out (the same
        program gives the same fit).
    """
    num_classes = as_count(num_classes, "num_classes", minimum=2)
    features = features or FourierFeatures()
    model = checked_model(model, logistic_model)
    with preamble(points, seed=seed, device=device, check=_as_points) as setup:
        phi = features(setup.x.cpu()).to(setup.device)
        labels = _check_labels(labels, len(phi), num_classes).to(setup.device)
        guide = AutoNormal(model, init_scale=0.01)
        scale = 1.0 / len(phi)
        svi = fit_svi(
            poutine.scale(model, scale=scale),
            poutine.scale(guide, scale=scale),
            phi,
            labels,
            num_classes=num_classes,
            num_steps=num_steps,
            lr=lr,
            seed=setup.seed,
            quiet=quiet,
            desc="logistic regression",
            param_state=setup.params,
        )
    return LogisticFit(features, num_classes, svi, guide, setup.device)


class ClassConditionalFit(Fit):
    """The generative model fitted: p(y) from label counts and a Gaussian mixture for each p(x | y).

    ``distribution()`` is p(x) = sum_y p(y) p(x | y), one Pyro mixture of every class's
    components; ``distribution(land_mass=y)`` is p(x | y), and ``sample_given(y, n)`` draws from
    it: what the discriminative model cannot do. Bayes' rule gives ``predict_proba``.

    Attributes
    ----------
    log_prior : torch.Tensor of shape (classes,)
        log p(y).
    params : list of dict
        Each class's mixture parameters (the guide's median of its VI fit).
    """

    def __init__(self, log_prior, params, losses, seconds):
        self.log_prior, self.params = log_prior, params
        self.num_classes = len(params)
        super().__init__(
            "class-conditional mixture (VI)", "class_conditional", losses=losses, seconds=seconds
        )

    def distribution(self, land_mass: int | None = None) -> dist.MixtureSameFamily:
        """p(x), or p(x | y) for ``land_mass=y``."""
        if land_mass is not None:
            return mixture.distribution(**self.params[self._class(land_mass)])
        weights = torch.cat(
            [
                p["weights"] * prior
                for p, prior in zip(self.params, self.log_prior.exp(), strict=True)
            ]
        )
        locs = torch.cat([p["locs"] for p in self.params])
        scales = torch.cat([p["scales"] for p in self.params])
        return mixture.distribution(weights / weights.sum(), locs, scales)

    def _class(self, land_mass) -> int:
        if isinstance(land_mass, bool) or not isinstance(land_mass, numbers.Integral):
            raise ValueError(f"land_mass must be an integer class; got {land_mass!r}")
        if not 0 <= int(land_mass) < self.num_classes:
            raise ValueError(f"land_mass must lie in 0..{self.num_classes - 1}; got {land_mass}")
        return int(land_mass)

    def log_joint(self, points) -> torch.Tensor:
        """log p(y) + log p(x | y) for every class: shape (N, classes)."""
        points = as_points(points, "points", allow_empty=True)
        if points.shape[0] == 0:
            return torch.empty(0, self.num_classes)
        per_class = [mixture.distribution(**p).log_prob(points) for p in self.params]
        return torch.stack(per_class, -1) + self.log_prior

    def predict_proba(self, points) -> torch.Tensor:
        """Bayes' rule: p(y | x) = p(y) p(x | y) / sum over classes."""
        return torch.softmax(self.log_joint(points), -1)

    def predict(self, points) -> torch.Tensor:
        return self.log_joint(points).argmax(-1)

    def sample_given(
        self, land_mass: int, num_samples: int, seed: int | None = None
    ) -> torch.Tensor:
        """Generate points of one class, x ~ p(x | y): what the discriminative model cannot do."""
        land_mass = self._class(land_mass)
        num_samples = as_count(num_samples, "num_samples")
        if num_samples == 0:
            return torch.empty(0, 2)
        with seeded(seed), torch.no_grad():
            return self.distribution(land_mass).sample((num_samples,))


def fit_class_conditional(
    points,
    labels,
    *,
    num_classes: int,
    num_components: int = 10,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_steps: int = 500,
) -> ClassConditionalFit:
    """p(y) from the label counts (Dirichlet(1) posterior mean), and one mixture per class.

    Each class's mixture is its own fit (``mixture.fit``, VI), seeded from ``seed``; its
    guide's median is kept. The fit's losses are the classes' losses, summed step by step.

    Parameters
    ----------
    points : array-like of shape (N, 2)
    labels : array-like of int, shape (N,)
    num_classes, num_components : int
        Classes (at least 2) and mixture components per class (at most that class's points).
    seed, quiet, device
        As for every fit.
    num_steps : int
        SVI steps of each class's mixture.
    """
    num_classes = as_count(num_classes, "num_classes", minimum=2)
    num_components = as_count(num_components, "num_components", minimum=1)
    with preamble(points, seed=seed, device=device, check=_as_points) as setup:
        points = setup.x.cpu()
        labels = _check_labels(labels, len(points), num_classes)
        counts = torch.bincount(labels, minlength=num_classes).to(points.dtype)
        log_prior = torch.log((counts + 1) / (counts.sum() + num_classes))
        seeds = torch.randint(2**31 - 1, (num_classes,)).tolist()
        params, losses = [], torch.zeros(num_steps)
        for y in range(num_classes):
            own = points[labels == y]
            if len(own) == 0:
                raise ValueError(
                    f"labels must hold every class 0..{num_classes - 1}; {y} is missing"
                )
            fitted = mixture.fit(
                own,
                num_components=min(num_components, len(own)),
                num_steps=num_steps,
                quiet=quiet,
                seed=seeds[y],
                device=setup.device,
                num_draws=1,
            )
            params.append(fitted.median())
            losses += torch.tensor(fitted.losses)
    return ClassConditionalFit(log_prior, params, losses.tolist(), setup.timer.seconds)
