"""Distributions the chapter needs that pyro.distributions does not have."""

import math

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

__all__ = [
    "SAMPLE_SPACE_HIGH",
    "SAMPLE_SPACE_LOW",
    "EqualWeightMixture",
    "PiecewiseUniform",
    "UniformBox",
]

# The chapter's sample space: every (longitude, latitude) on the map.
SAMPLE_SPACE_LOW = (-180.0, -90.0)
SAMPLE_SPACE_HIGH = (180.0, 90.0)


class UniformBox(TorchDistribution):
    r"""Uniform distribution over an axis-aligned box in the plane: the chapter's p_model.

    .. math:: p(x \mid \theta) = \frac{1}{(\theta_3 - \theta_1)(\theta_4 - \theta_2)}
              \quad\text{if } \theta_1 \le x_1 \le \theta_3,\ \theta_2 \le x_2 \le \theta_4,
              \text{ else } 0.

    Unlike ``torch.distributions.Uniform`` (half-open), the box is closed on both ends, so
    the maximum-likelihood box contains the points that define it. ``log_prob`` is
    ``-log(area)`` inside and ``-inf`` outside, never NaN.

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

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
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


class EqualWeightMixture(TorchDistribution):
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
    The support is the plane: one component may cover a point that another does not.
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
        components = self.make(**self.draws)
        value = value.unsqueeze(-1 - len(self.event_shape))
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
        index = torch.randint(self.num_draws, (shape.numel(),))
        with torch.no_grad():
            points = self.make(**{k: v[index] for k, v in self.draws.items()}).sample()
        return points.reshape(shape + self.event_shape)


class PiecewiseUniform(TorchDistribution):
    r"""A histogram density on [low, high]: a categorical over equal bins, uniform inside each.

    .. math:: p(x) = \frac{\pi_{b(x)}}{w}, \qquad w = \frac{\text{high} - \text{low}}{B},
              \quad \pi = \operatorname{softmax}(\text{logits})

    It is the same density as ``MixtureSameFamily(Categorical(logits), Uniform(edges[:-1],
    edges[1:]))``, scored by looking up one bin instead of summing over all B components.
    Its support is [low, high], and ``high`` itself joins the last bin; with validation off,
    ``log_prob`` is ``-inf`` outside the support (never NaN).

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
        index = ((value - self.low) / self.width).floor().clamp(0, num_bins - 1).long()
        log_probs = self.logits.log_softmax(-1)
        shape = torch.broadcast_shapes(value.shape, log_probs.shape[:-1])
        log_probs = log_probs.expand(shape + log_probs.shape[-1:])
        picked = log_probs.gather(-1, index.expand(shape).unsqueeze(-1)).squeeze(-1)
        return torch.where(inside, picked - math.log(self.width), -math.inf)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            bins = torch.distributions.Categorical(logits=self.logits).sample(sample_shape)
            offset = torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device)
            return self.low + self.width * (bins.to(offset.dtype) + offset)
