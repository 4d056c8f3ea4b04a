r"""The box p_model: the parametric family of uniform distributions over rectangles.

theta = (theta1, theta2, theta3, theta4) are the bottom-left corner (theta1, theta2) and the
top-right corner (theta3, theta4). The likelihood of N points is

.. math:: L(\theta \mid X) = \prod_i p_\theta(x_i) = \frac{1}{\mathrm{area}(\theta)^N}

when the box contains every point and 0 otherwise, so the maximum-likelihood box is the
smallest box containing the data: the bounding box (``mle``). ``fit`` reaches the same box by
minimising the negative log-likelihood with Pyro, as one would for a model with no closed form;
``fit(x, method="nuts")`` samples the Bayesian box (``bayesian_model``) instead.
"""

import math
from collections.abc import Callable

import pyro
import pyro.distributions as dist
import pyro.optim
import torch
from torch.distributions import constraints

from gdl_pyro._validation import as_points, as_positive
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW, UniformBox
from gdl_pyro.fitting import (
    NUTSFit,
    PointFit,
    checked_model,
    method_options,
    nuts_fit,
    preamble,
)
from gdl_pyro.infer import fit_svi

__all__ = [
    "BoxFit",
    "bayesian_model",
    "fit",
    "log_likelihood",
    "mle",
    "model",
    "posterior_mean_margin",
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


class BoxFit(PointFit):
    """The maximum-likelihood box: ``low``, ``high``, and the NLL per point at each step."""

    def __init__(self, low, high, losses, seconds):
        self.low, self.high = low.detach().cpu(), high.detach().cpu()
        super().__init__(
            "box (MLE)",
            "box",
            lambda: UniformBox(self.low, self.high),
            losses=losses,
            seconds=seconds,
        )


def _margin_model(x, init_margin):
    """The box as bounding box plus positive margins, the margins being pyro.params."""
    margin_low = pyro.param(
        "margin_low",
        torch.full((2,), init_margin, device=x.device),
        constraint=constraints.positive,
    )
    margin_high = pyro.param(
        "margin_high",
        torch.full((2,), init_margin, device=x.device),
        constraint=constraints.positive,
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


# The options of each method and their defaults (``method_options`` refuses the others).
_METHODS = {
    "mle": {"num_steps": 500, "lr": 0.1, "init_margin": 10.0},
    "nuts": {"num_samples": 500, "warmup_steps": 500, "num_chains": 2, "model": None},
}


def fit(
    x,
    *,
    method: str = "mle",
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_steps: int | None = None,
    lr: float | None = None,
    init_margin: float | None = None,
    num_samples: int | None = None,
    warmup_steps: int | None = None,
    num_chains: int | None = None,
    model: Callable | None = None,
) -> BoxFit | NUTSFit:
    """Fit the box: by maximum likelihood with Pyro's SVI (``method="mle"``) or by NUTS.

    The fit interface of every family (see ``gdl_pyro.fitting``). An option of the other
    method is refused with a ValueError.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    method : {"mle", "nuts"}
        "mle": SVI with an empty guide on the bounding box plus positive margins; returns a
        ``BoxFit`` (point fit). "nuts": the Bayesian box (``bayesian_model``) sampled by NUTS;
        returns a ``NUTSFit`` whose distribution is the posterior predictive.
    seed, quiet, device
        As for every fit: the fit's own seed, no progress bar, the device to run on.
    num_steps : int
        Adam steps (MLE; 500). Each shrinks log(margin) by about ``lr``: with the defaults the
        margins fall from 10 degrees to below float32 resolution at 180 degrees (1e-5).
    lr : float
        Adam learning rate (MLE; 0.1), finite and > 0.
    init_margin : float
        Starting margin around the bounding box, in degrees, finite and > 0 (MLE; 10).
    num_samples, warmup_steps, num_chains : int
        NUTS draws per chain, warm-up steps and chains (500, 500, 2).
    model : callable, optional
        The program NUTS samples: ``bayesian_model`` by default, or a copy of it with the same
        sites, such as the one s06 writes out (the same program gives the same draws).
    """
    options = method_options(
        method,
        {
            "num_steps": num_steps,
            "lr": lr,
            "init_margin": init_margin,
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "num_chains": num_chains,
            "model": model,
        },
        _METHODS,
    )
    with preamble(x, seed=seed, device=device) as setup:
        mle(setup.x)  # the same check: the data must span a box of positive area
        if method == "nuts":
            lowest, highest = mle(setup.x.cpu())
            return nuts_fit(
                "box (NUTS)",
                "box",
                checked_model(options.pop("model"), bayesian_model),
                setup,
                lambda margin_low, margin_high: UniformBox(
                    lowest - margin_low, highest + margin_high
                ),
                quiet=quiet,
                **options,
            )
        init_margin = options["init_margin"]
        if not (math.isfinite(init_margin) and init_margin > 0):
            raise ValueError(f"init_margin must be a finite number > 0; got {init_margin}")
        # The gradient in log(margin) is proportional to the margin itself, so it fades as the
        # box closes in; Adam's default second-moment memory (beta2 = 0.999) remembers the early
        # large gradients and its steps fade too. A short memory keeps each step near lr in
        # log(margin).
        optim = pyro.optim.Adam({"lr": as_positive(options["lr"], "lr"), "betas": (0.9, 0.9)})
        result = fit_svi(
            _margin_model,
            _no_latents,
            setup.x,
            init_margin,
            num_steps=options["num_steps"],
            optim=optim,
            seed=setup.seed,
            quiet=quiet,
            desc="box MLE",
            param_state=setup.params,
        )
    low = setup.x.cpu().min(0).values - result.params["margin_low"]
    high = setup.x.cpu().max(0).values + result.params["margin_high"]
    return BoxFit(low, high, result.losses, result.seconds)


def bayesian_model(x=None, *, num_data=None, bounding_box=None):
    """The Bayesian box: flat priors on the four edges over the sample space.

    A box that misses a point has likelihood 0, so the posterior lives on boxes that contain the
    data: the bounding box plus a margin on each side. A flat prior on an edge over the sample
    space is then a Uniform(0, room) prior on its margin (room = distance from the outermost
    point to the map's edge), which NUTS samples through Pyro's interval transform.

    Parameters
    ----------
    x : torch.Tensor of shape (N, 2), optional
        Observations; without them the model simulates ``num_data`` points.
    num_data : int, optional
        Points to simulate when ``x`` is None.
    bounding_box : (low, high), optional
        The box every sampled box contains; the bounding box of ``x`` by default, and required
        without ``x`` (the prior is the flat prior restricted to boxes that contain it).

    Sites: "margin_low" and "margin_high", 2-vectors in degrees, and "obs".
    """
    num_data = checked_num_data(x, num_data)
    if bounding_box is None:
        if x is None:
            raise ValueError("bounding_box is required when x is None: (low, high) of the data")
        bounding_box = mle(x)
    lowest, highest = (
        torch.as_tensor(edge, dtype=torch.get_default_dtype()) for edge in bounding_box
    )
    room_low = lowest - lowest.new_tensor(SAMPLE_SPACE_LOW)
    room_high = highest.new_tensor(SAMPLE_SPACE_HIGH) - highest
    if not ((room_low > 0).all() and (room_high > 0).all()):
        raise ValueError("x must lie strictly inside the sample space [-180, 180] x [-90, 90]")
    zero = torch.zeros_like(room_low)
    margin_low = pyro.sample("margin_low", dist.Uniform(zero, room_low).to_event(1))
    margin_high = pyro.sample("margin_high", dist.Uniform(zero, room_high).to_event(1))
    with pyro.plate("data", num_data):
        return pyro.sample("obs", UniformBox(lowest - margin_low, highest + margin_high), obs=x)


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
