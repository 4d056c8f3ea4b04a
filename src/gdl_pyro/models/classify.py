r"""Generative versus discriminative models of land-mass labels y given points x on the map.

- ``LogisticClassifier`` is discriminative: a Bayesian multinomial logistic regression
  p(y | x) = softmax(B^T phi(x) + c) on random Fourier features phi of the point, fitted by SVI.
  It answers "which land mass is this point on?" and nothing else: it has no p(x), so it cannot
  make a point.
- ``ClassConditionalMixture`` is generative: p(x, y) = p(y) p(x | y) with a Gaussian mixture
  (``gdl_pyro.models.mixture``) for each p(x | y). Bayes' rule turns it into a classifier,
  p(y | x) oc p(y) p(x | y), and ``sample(y, n)`` generates points on request: "make Australia".

The features embed longitude as (cos, sin) so that both models see the dateline as continuous.
"""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoNormal

from gdl_pyro._state import as_device, on_device, seeded
from gdl_pyro._validation import as_count, as_points
from gdl_pyro.diagnostics import vi_khat
from gdl_pyro.infer import SVIResult, fit_svi, guide_draws
from gdl_pyro.models import mixture

__all__ = ["ClassConditionalMixture", "FourierFeatures", "LogisticClassifier", "logistic_model"]

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
        g = torch.Generator().manual_seed(seed)
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


def _check_labels(labels, num_points: int, num_classes: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.shape != (num_points,) or labels.is_floating_point():
        raise ValueError(
            f"labels must be integers of shape ({num_points},); got {tuple(labels.shape)}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (sea points have no class)")
    return labels.long()


class LogisticClassifier:
    """The discriminative model: p(y | x) only, fitted by SVI with a mean-field guide.

    ``fit`` trains in a param store of its own (see ``gdl_pyro.fitting``); the guide is evaluated
    afterwards only inside that store, so two classifiers in one session never share weights.
    """

    def __init__(self, num_classes: int, features: FourierFeatures | None = None):
        self.num_classes = as_count(num_classes, "num_classes", minimum=2)
        self.features = features or FourierFeatures()
        self.guide, self.svi, self.device = None, None, torch.device("cpu")

    def fit(
        self,
        points,
        labels,
        *,
        seed: int | None = None,
        quiet: bool = False,
        device=None,
        num_steps: int = 1500,
        lr: float = 0.05,
    ) -> "LogisticClassifier":
        """Fit the posterior of the coefficients; ``self.svi`` keeps the losses and the store."""
        phi = self.features(points)
        labels = _check_labels(labels, len(phi), self.num_classes)
        self.device = as_device(device, phi)
        self.guide = AutoNormal(logistic_model, init_scale=0.01)
        scale = 1.0 / len(phi)
        with on_device(self.device):
            self.svi = fit_svi(
                poutine.scale(logistic_model, scale=scale),
                poutine.scale(self.guide, scale=scale),
                phi.to(self.device),
                labels.to(self.device),
                num_classes=self.num_classes,
                num_steps=num_steps,
                lr=lr,
                seed=seed,
                quiet=quiet,
                desc="logistic regression",
            )
        return self

    @property
    def losses(self) -> list[float]:
        return self._fitted().losses

    @property
    def seconds(self) -> float:
        return self._fitted().seconds

    def _fitted(self) -> SVIResult:
        if self.svi is None:
            raise ValueError("fit the classifier first")
        return self.svi

    def draws(self, num_draws: int = 100, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Posterior draws of the coefficients from the guide."""
        predictive = Predictive(
            logistic_model,
            guide=self.guide,
            num_samples=as_count(num_draws, "num_draws", minimum=1),
            return_sites=["coef", "bias"],
        )
        with self._fitted().scope(), seeded(seed), torch.no_grad(), on_device(self.device):
            # The features are not needed for the coefficients: one dummy row.
            dummy = self.features(torch.zeros(1, 2)).to(self.device)
            draws = predictive(dummy, num_classes=self.num_classes)
        return {name: value.cpu() for name, value in draws.items()}

    def guide_diagnostics(self, points, labels, num_draws: int = 1000, seed: int | None = None):
        """(draws, k-hat): guide draws of every latent, and the guide's PSIS k-hat (Pyro's)."""
        phi = self.features(points)
        labels = _check_labels(labels, len(phi), self.num_classes)
        phi, labels = phi.to(self.device), labels.to(self.device)
        with self._fitted().scope(), seeded(seed), on_device(self.device):
            draws, _ = guide_draws(
                logistic_model,
                self.guide,
                phi,
                labels,
                num_draws=num_draws,
                num_classes=self.num_classes,
            )
            khat = vi_khat(
                logistic_model,
                self.guide,
                phi,
                labels,
                num_draws=num_draws,
                num_classes=self.num_classes,
            )
        return {name: value.cpu() for name, value in draws.items()}, khat

    def predict_proba(self, points, num_draws: int = 100, seed: int | None = 0) -> torch.Tensor:
        """Posterior predictive p(y | x), averaged over guide draws: shape (N, classes)."""
        phi = self.features(points)
        d = self.draws(num_draws, seed=seed)
        return torch.softmax(phi @ d["coef"] + d["bias"].unsqueeze(-2), -1).mean(0)

    def predict(self, points) -> torch.Tensor:
        return self.predict_proba(points).argmax(-1)


class ClassConditionalMixture:
    """The generative model: p(y) from label counts and a Gaussian mixture for each p(x | y)."""

    def __init__(self, num_classes: int, num_components: int = 10):
        self.num_classes = as_count(num_classes, "num_classes", minimum=2)
        self.num_components = as_count(num_components, "num_components", minimum=1)
        self.params: list[dict[str, torch.Tensor]] = []
        self.log_prior = None

    def fit(
        self,
        points,
        labels,
        *,
        seed: int | None = None,
        quiet: bool = False,
        device=None,
        num_steps: int = 500,
    ) -> "ClassConditionalMixture":
        """p(y) from the label counts (Dirichlet(1) posterior mean), and one mixture per class.

        Each class's mixture is its own fit (``mixture.fit``), seeded from ``seed``.
        """
        points = as_points(points)
        labels = _check_labels(labels, len(points), self.num_classes)
        counts = torch.bincount(labels, minlength=self.num_classes).to(points.dtype)
        self.log_prior = torch.log((counts + 1) / (counts.sum() + self.num_classes))
        self.params = []
        with seeded(seed):
            seeds = torch.randint(2**31 - 1, (self.num_classes,)).tolist()
        for y in range(self.num_classes):
            own = points[labels == y]
            k = min(self.num_components, len(own))
            fitted = mixture.fit(
                own,
                num_components=k,
                num_steps=num_steps,
                quiet=quiet,
                seed=seeds[y],
                device=device,
                num_draws=1,
            )
            self.params.append(fitted.median())
        return self

    def log_joint(self, points) -> torch.Tensor:
        """log p(y) + log p(x | y) for every class: shape (N, classes)."""
        points = as_points(points, "points", allow_empty=True)
        if not self.params:
            raise ValueError("fit the model first")
        per_class = [mixture.distribution(**p).log_prob(points) for p in self.params]
        return torch.stack(per_class, -1) + self.log_prior

    def predict_proba(self, points) -> torch.Tensor:
        """Bayes' rule: p(y | x) = p(y) p(x | y) / sum over classes."""
        return torch.softmax(self.log_joint(points), -1)

    def predict(self, points) -> torch.Tensor:
        return self.log_joint(points).argmax(-1)

    def sample(self, land_mass: int, num_samples: int, seed: int | None = None) -> torch.Tensor:
        """Generate points of one class, x ~ p(x | y): what the discriminative model cannot do."""
        if not self.params:
            raise ValueError("fit the model first")
        if not 0 <= land_mass < self.num_classes:
            raise ValueError(f"land_mass must lie in 0..{self.num_classes - 1}; got {land_mass}")
        with seeded(seed), torch.no_grad():
            p_x_given_y = mixture.distribution(**self.params[land_mass])
            return p_x_given_y.sample((as_count(num_samples, "num_samples"),))
