r"""The box p_model: the parametric family of uniform distributions over rectangles.

theta = (theta1, theta2, theta3, theta4) are the bottom-left corner (theta1, theta2) and the
top-right corner (theta3, theta4). The likelihood of N points is

.. math:: L(\theta \mid X) = \prod_i p_\theta(x_i) = \frac{1}{\mathrm{area}(\theta)^N}

when the box contains every point and 0 otherwise, so the maximum-likelihood box is the
smallest box containing the data: the bounding box (``mle``). ``fit`` reaches the same box by
minimising the negative log-likelihood with Pyro, as one would for a model with no closed form.
"""

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import pyro.optim
import torch
from torch.distributions import constraints

from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW, UniformBox
from gdl_pyro.infer import SVIResult, fit_svi

__all__ = [
    "BoxFit",
    "bayesian_model",
    "fit",
    "log_density",
    "log_likelihood",
    "mle",
    "model",
    "posterior_mean_margin",
    "sample_predictive",
]


def model(x=None, *, low, high, num_data=None):
    """The box as a Pyro model: N points drawn independently and uniformly from the box.

    Parameters
    ----------
    x : torch.Tensor of shape (N, 2), optional
        Observed points. Without it the model simulates ``num_data`` points.
    low, high : torch.Tensor of shape (2,)
        The corners (theta1, theta2) and (theta3, theta4).
    num_data : int, optional
        Number of points to simulate when ``x`` is None.

    Returns
    -------
    torch.Tensor
        The observed or simulated points, shape (N, 2).
    """
    num_data = checked_num_data(x, num_data)
    x = None if x is None else as_points(x)
    with pyro.plate("data", num_data):
        return pyro.sample("obs", UniformBox(low, high), obs=x)


def mle(x) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum-likelihood box: the smallest axis-aligned box containing every point.

    Parameters
    ----------
    x : array-like of shape (N, 2)
        At least two distinct values in each coordinate (else the box has zero area).

    Returns
    -------
    (low, high) : tuple of torch.Tensor of shape (2,)
    """
    x = as_points(x)
    low, high = x.min(0).values, x.max(0).values
    if not (low < high).all():
        raise ValueError("x must vary in both coordinates: the smallest box would have zero area")
    return low, high


def log_likelihood(x, low, high) -> torch.Tensor:
    """log L(theta | X) = sum_i log p_theta(x_i): -N log(area), or -inf when a point is outside."""
    x = as_points(x)
    return UniformBox(torch.as_tensor(low), torch.as_tensor(high)).log_prob(x).sum()


@dataclass
class BoxFit:
    """A box fitted by gradient descent on the NLL."""

    low: torch.Tensor
    high: torch.Tensor
    svi: SVIResult

    @property
    def nll_per_point(self) -> list[float]:
        """NLL per point at every step (it falls towards -log(area of the bounding box))."""
        return self.svi.losses


def _margin_model(x, init_margin):
    """The box as bounding box plus positive margins, the margins being pyro.params."""
    margin_low = pyro.param(
        "margin_low", torch.full((2,), init_margin), constraint=constraints.positive
    )
    margin_high = pyro.param(
        "margin_high", torch.full((2,), init_margin), constraint=constraints.positive
    )
    # Any box that misses a point has likelihood 0 and no gradient, so search only boxes
    # that contain the data: the bounding box widened by margins that may shrink to 0.
    low = x.min(0).values - margin_low
    high = x.max(0).values + margin_high
    # Scale the log-likelihood by 1/N so that the loss is the NLL per point.
    with pyro.poutine.scale(scale=1.0 / x.shape[0]):
        model(x, low=low, high=high)


def _no_latents(x, init_margin):
    """Empty guide: nothing is latent, so the ELBO is the log-likelihood."""


def fit(
    x, *, num_steps: int = 500, lr: float = 0.1, init_margin: float = 10.0, quiet: bool = False
) -> BoxFit:
    """Fit the box by maximum likelihood with Pyro's SVI and an empty guide.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    num_steps : int
        Adam steps. Each step shrinks log(margin) by about ``lr``: with the defaults the
        margins fall from 10 degrees to below float32 resolution at 180 degrees (1e-5).
    lr : float
        Adam learning rate.
    init_margin : float
        Starting margin around the bounding box, in degrees, > 0.
    quiet : bool
        Hide the progress bar.

    Returns
    -------
    BoxFit
        The fitted corners and the SVI result (loss = NLL per point at each step).
    """
    x = as_points(x)
    mle(x)  # the same check: the data must span a box of positive area
    if not (math.isfinite(init_margin) and init_margin > 0):
        raise ValueError(f"init_margin must be a finite number > 0; got {init_margin}")
    # The gradient in log(margin) is proportional to the margin itself, so it fades as the box
    # closes in; Adam's default second-moment memory (beta2 = 0.999) remembers the early large
    # gradients and its steps fade too. A short memory keeps each step near lr in log(margin).
    optim = pyro.optim.Adam({"lr": lr, "betas": (0.9, 0.9)})
    result = fit_svi(
        _margin_model,
        _no_latents,
        x,
        init_margin,
        num_steps=num_steps,
        optim=optim,
        quiet=quiet,
        desc="box MLE",
    )
    low = x.min(0).values - result.params["margin_low"]
    high = x.max(0).values + result.params["margin_high"]
    return BoxFit(low, high, result)


def bayesian_model(x):
    """The Bayesian box: flat priors on the four edges over the sample space, given the data.

    A box that misses a point has likelihood 0, so the posterior lives on boxes that contain the
    data: the bounding box plus a margin on each side. A flat prior on an edge over the sample
    space is then a Uniform(0, room) prior on its margin (room = distance from the outermost
    point to the map's edge), which NUTS samples through Pyro's interval transform.

    Sites: "margin_low" and "margin_high", 2-vectors in degrees.
    """
    x = as_points(x)
    lowest, highest = mle(x)
    room_low = lowest - torch.tensor(SAMPLE_SPACE_LOW)
    room_high = torch.tensor(SAMPLE_SPACE_HIGH) - highest
    if not ((room_low > 0).all() and (room_high > 0).all()):
        raise ValueError("x must lie strictly inside the sample space [-180, 180] x [-90, 90]")
    margin_low = pyro.sample("margin_low", dist.Uniform(torch.zeros(2), room_low).to_event(1))
    margin_high = pyro.sample("margin_high", dist.Uniform(torch.zeros(2), room_high).to_event(1))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("obs", UniformBox(lowest - margin_low, highest + margin_high), obs=x)


def log_density(points, x, margin_low, margin_high) -> torch.Tensor:
    """log p(points | box) for margin draws with leading draw dimensions: shape (..., N)."""
    lowest, highest = mle(x)
    box = UniformBox((lowest - margin_low).unsqueeze(-2), (highest + margin_high).unsqueeze(-2))
    return box.log_prob(as_points(points))


def posterior_mean_margin(x) -> torch.Tensor:
    """Closed-form posterior mean of each margin (far from the map's edges): W / (N - 3).

    Along one axis the posterior is p(m1, m2) oc (W + m1 + m2)^-N, W the bounding box's width;
    the sum s = m1 + m2 has density oc s (W + s)^-N, whose mean is 2W / (N - 3), split evenly.
    """
    lowest, highest = mle(x)
    num_data = as_points(x).shape[0]
    if num_data <= 3:
        raise ValueError("x must hold more than 3 points for the posterior mean to exist")
    return (highest - lowest) / (num_data - 3)


def sample_predictive(x, draws: dict, num_samples: int) -> torch.Tensor:
    """Points from the Bayesian box's posterior predictive: a random posterior box, then a point."""
    lowest, highest = mle(x)
    index = torch.randint(len(draws["margin_low"]), (as_count(num_samples, "num_samples"),))
    return UniformBox(
        lowest - draws["margin_low"][index], highest + draws["margin_high"][index]
    ).sample()
