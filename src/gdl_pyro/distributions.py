"""Distributions the chapter needs that pyro.distributions does not have."""

import math

import pyro
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

__all__ = [
    "SAMPLE_SPACE",
    "SAMPLE_SPACE_HIGH",
    "SAMPLE_SPACE_LOW",
    "EqualWeightMixture",
    "PiecewiseUniform",
    "UniformBox",
    "ZeroOutsideSupport",
    "in_sample_space",
]

# The chapter's sample space: every (longitude, latitude) on the map, edges included.
SAMPLE_SPACE_LOW = (-180.0, -90.0)
SAMPLE_SPACE_HIGH = (180.0, 90.0)
SAMPLE_SPACE = constraints.independent(
    constraints.interval(torch.tensor(SAMPLE_SPACE_LOW), torch.tensor(SAMPLE_SPACE_HIGH)), 1
)


def in_sample_space(value: torch.Tensor) -> torch.Tensor:
    """Whether each point (..., 2) lies on the map [-180, 180] x [-90, 90]: shape (...).

    The same test as ``SAMPLE_SPACE.check``, on any device (NaN is not on the map).
    """
    lon, lat = value[..., 0], value[..., 1]
    return (
        (lon >= SAMPLE_SPACE_LOW[0])
        & (lon <= SAMPLE_SPACE_HIGH[0])
        & (lat >= SAMPLE_SPACE_LOW[1])
        & (lat <= SAMPLE_SPACE_HIGH[1])
    )


class ZeroOutsideSupport:
    """Mixin for a distribution whose density is 0 outside its support: ``log_prob`` is -inf there.

    With validation on (Pyro's default), torch refuses a value outside the support with a
    ValueError. A density of 0 is an answer, not an error: a point off the map scores -inf under
    every model of the map, as a point outside the box does under the box. So validation here
    checks what a value is (a floating-point tensor, its event shape, its batch shape, no NaN)
    and never where it lies; ``support`` still says where the density can be positive, for
    ``biject_to`` and for mixtures that validate against it (``pyro.distributions.MaskedMixture``
    still refuses a value outside the support of the component its mask picks for it).
    """

    def _validate_sample(self, value):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            kind = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"value must be a floating-point tensor; got {kind}")
        event_dim = len(self.event_shape)
        start = value.dim() - event_dim
        if start < 0 or value.shape[start:] != self.event_shape:
            raise ValueError(
                f"value must end in the event shape {tuple(self.event_shape)}; "
                f"got {tuple(value.shape)}"
            )
        try:
            torch.broadcast_shapes(value.shape[:start], self.batch_shape)
        except RuntimeError as error:
            raise ValueError(
                f"value of shape {tuple(value.shape)} does not broadcast with the batch shape "
                f"{tuple(self.batch_shape)}"
            ) from error
        if torch.isnan(value).any():
            raise ValueError("value must not hold NaN")


class UniformBox(TorchDistribution):
    r"""Uniform distribution over an axis-aligned box in the plane: the chapter's p_model.

    .. math:: p(x \mid \theta) = \frac{1}{(\theta_3 - \theta_1)(\theta_4 - \theta_2)}
              \quad\text{if } \theta_1 \le x_1 \le \theta_3,\ \theta_2 \le x_2 \le \theta_4,
              \text{ else } 0.

    Unlike ``torch.distributions.Uniform`` (half-open), the box is closed on both ends, so
    the maximum-likelihood box contains the points that define it. ``log_prob`` is
    ``-log(area)`` inside and ``-inf`` outside, never NaN.

    Its ``support`` is the plane, the space its points live in, and ``box`` is the closed box
    where the density is positive. A point outside the box is a possible observation whose
    likelihood is 0 (the lesson of the MLE), not an invalid value, so ``log_prob`` never refuses
    it, even with validation on; and a ``pyro.distributions.MaskedMixture`` of the box and
    another density, which checks each value against the support of the component its mask
    picks, scores points outside the box instead of refusing them all. (With the box as its
    support, torch's own rule, such a mixture raised for every value as soon as one of them lay
    outside a box it was masked to.)

    Parameters
    ----------
    low : array-like of shape (..., 2)
        Bottom-left corner (theta1, theta2). Leading dimensions are batch dimensions.
    high : array-like of shape (..., 2)
        Top-right corner (theta3, theta4); must be strictly greater than ``low``.
    """

    arg_constraints = {"low": constraints.real_vector, "high": constraints.real_vector}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        low, high = broadcast_all(low, high)
        if low.dim() == 0 or low.shape[-1] != 2:
            raise ValueError(
                f"low and high must have a last dimension of size 2; got {tuple(low.shape)}"
            )
        if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
            raise ValueError("low and high must be finite")
        if not (low < high).all():
            raise ValueError(
                "low must be < high in both coordinates; "
                f"got low={low.tolist()}, high={high.tolist()}"
            )
        self.low, self.high = low, high
        super().__init__(low.shape[:-1], low.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(UniformBox, _instance)
        batch_shape = torch.Size(batch_shape)
        new.low = self.low.expand(batch_shape + self.event_shape)
        new.high = self.high.expand(batch_shape + self.event_shape)
        super(UniformBox, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    support = constraints.real_vector

    @property
    def box(self) -> constraints.Constraint:
        """The closed box [low, high] where the density is positive, as a constraint."""
        return constraints.independent(constraints.interval(self.low, self.high), 1)

    @property
    def area(self) -> torch.Tensor:
        """(theta3 - theta1) (theta4 - theta2), of batch shape."""
        return (self.high - self.low).prod(-1)

    @property
    def mean(self):
        return (self.low + self.high) / 2

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        value = torch.as_tensor(value, dtype=self.low.dtype)
        if value.dim() == 0 or value.shape[-1] != 2:
            raise ValueError(
                f"value must have a last dimension of size 2; got {tuple(value.shape)}"
            )
        if torch.isnan(value).any():
            raise ValueError("value must not hold NaN")
        # Points outside the box are allowed: their likelihood is 0, the lesson of the MLE.
        inside = ((value >= self.low) & (value <= self.high)).all(-1)
        log_density = -torch.log(self.area).expand(inside.shape)
        return torch.where(inside, log_density, torch.full_like(log_density, -math.inf))

    def cdf(self, value):
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1).prod(-1)

    def entropy(self):
        return torch.log(self.area)


# Values per chunk when every component's density is evaluated at once.
CHUNK = 2048


class EqualWeightMixture(ZeroOutsideSupport, TorchDistribution):
    r"""An equal-weight mixture of one family over S parameter values.

    .. math:: p(x) = \frac1S \sum_{s=1}^S p(x \mid \theta_s)

    With posterior draws theta_s it is a Bayesian fit's posterior predictive; with the training
    points as centres of Gaussians of one bandwidth it is a kernel density estimate.

    Parameters
    ----------
    make : callable
        ``make(**params)`` -> the distribution of one point for each parameter value; given
        tensors with a leading dimension n it returns a distribution of batch shape (n,).
    draws : dict of str to torch.Tensor
        The values theta_s, each with leading dimension S.

    ``log_prob`` is -inf where every component's density is 0 (never NaN); ``sample`` picks a
    component at random for each point, then the point, so it never samples all S components.
    The support is the plane: one component may cover a point that another does not, so the
    components are scored without validating values against their own supports (as
    ``pyro.distributions.MaskedMixture`` does); the mixture validates the value itself
    (``ZeroOutsideSupport``: its type and shape, no NaN; an empty batch of points too, which
    torch's own check of ``real_vector`` refuses).
    """

    arg_constraints = {}
    support = constraints.real_vector

    def __init__(self, make, draws: dict, validate_args=None):
        if not draws:
            raise ValueError("draws must hold at least one site")
        self.make, self.draws = make, draws
        self.num_draws = len(next(iter(draws.values())))
        event_shape = make(**{k: v[:1] for k, v in draws.items()}).event_shape
        super().__init__(torch.Size(), event_shape, validate_args=validate_args)

    def component_log_prob(self, value) -> torch.Tensor:
        """log p(value | theta_s) for every component s: shape value's batch + (S,).

        Computed in chunks of the values' first dimension: a K-component mixture's
        (N, S, K) densities for thousands of points and draws at once would not fit in memory.
        """
        value = value.unsqueeze(-1 - len(self.event_shape))
        # A point outside one component's support is not an error: its density there is 0.
        # (torch reads the validation flag when a component scores, not when it is made.)
        with pyro.validation_enabled(False):
            components = self.make(**self.draws)
            if value.dim() < 3:  # no leading dimension to split
                return components.log_prob(value)
            return torch.cat([components.log_prob(part) for part in value.split(CHUNK)], 0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        per_component = self.component_log_prob(value)
        return torch.logsumexp(per_component, -1) - math.log(self.num_draws)

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        if shape.numel() == 0:  # a component of batch shape (0,) fails torch's argument checks
            first = next(iter(self.draws.values()))
            dtype = first.dtype if first.is_floating_point() else None
            return torch.empty(shape + self.event_shape, dtype=dtype, device=first.device)
        index = torch.randint(self.num_draws, (shape.numel(),))
        with torch.no_grad():
            points = self.make(**{k: v[index] for k, v in self.draws.items()}).sample()
        return points.reshape(shape + self.event_shape)


class PiecewiseUniform(ZeroOutsideSupport, TorchDistribution):
    r"""A histogram density on [low, high]: a categorical over equal bins, uniform inside each.

    .. math:: p(x) = \frac{\pi_{b(x)}}{w}, \qquad w = \frac{\text{high} - \text{low}}{B},
              \quad \pi = \operatorname{softmax}(\text{logits})

    It is the same density as ``MixtureSameFamily(Categorical(logits), Uniform(edges[:-1],
    edges[1:]))``, scored by looking up one bin instead of summing over all B components.
    Its support is [low, high], and ``high`` itself joins the last bin; ``log_prob`` is ``-inf``
    outside the support (never NaN), with validation on or off (``ZeroOutsideSupport``).

    Parameters
    ----------
    low, high : float
        The interval; ``low < high``.
    logits : torch.Tensor of shape (..., B)
        Unnormalised log-probabilities of the B bins; leading dimensions are batch dimensions.
    """

    arg_constraints = {"logits": constraints.real_vector}
    has_rsample = False

    def __init__(self, low: float, high: float, logits, validate_args=None):
        logits = torch.as_tensor(logits)
        if logits.dim() == 0 or logits.shape[-1] < 1:
            raise ValueError("logits must have a last dimension of at least one bin")
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"low and high must be finite with low < high; got {low}, {high}")
        self.low, self.high, self.logits = float(low), float(high), logits
        self.width = (self.high - self.low) / logits.shape[-1]
        super().__init__(logits.shape[:-1], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(PiecewiseUniform, _instance)
        batch_shape = torch.Size(batch_shape)
        new.low, new.high, new.width = self.low, self.high, self.width
        new.logits = self.logits.expand(batch_shape + self.logits.shape[-1:])
        super(PiecewiseUniform, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        num_bins = self.logits.shape[-1]
        inside = (value >= self.low) & (value <= self.high)
        inner = torch.where(inside, value, self.low)  # no bin for NaN with validation off
        index = ((inner - self.low) / self.width).floor().clamp(0, num_bins - 1).long()
        log_probs = self.logits.log_softmax(-1)
        shape = torch.broadcast_shapes(value.shape, log_probs.shape[:-1])
        log_probs = log_probs.expand(shape + log_probs.shape[-1:])
        picked = log_probs.gather(-1, index.expand(shape).unsqueeze(-1)).squeeze(-1)
        return torch.where(inside, picked - math.log(self.width), -math.inf)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            if shape.numel() == 0:  # torch's categorical sampler refuses to draw nothing
                return self.logits.new_empty(shape)
            bins = torch.distributions.Categorical(logits=self.logits).sample(sample_shape)
            offset = torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device)
            return self.low + self.width * (bins.to(offset.dtype) + offset)
