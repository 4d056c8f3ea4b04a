"""The exercise registry, the result of a check, and the guards every check uses on an answer.

A check is a function of the learner's answer. It measures what the answer achieves (its held-out
gap to the entropy bound, its integral over the map, its trace's sites, its log density against a
closed form) and either returns ``(message, measured)`` or raises ``Wrong(message, **measured)``.
Everything the learner's code can do wrong (return None or NaN, the wrong shape, raise) is turned
into a ``Wrong`` by the guards below, so a check never ends in a traceback.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from gdl_pyro.data import world
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW

# The stub's body is `...`: a function that returns None, or the value Ellipsis.
STUB_HINT = "fill in the stub's body (it still ends in `...`)"


@dataclass(frozen=True)
class Result:
    """What a check found: ``passed``, the ``message`` a learner reads, the numbers measured."""

    id: str
    passed: bool
    message: str
    measured: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.id} {'passed' if self.passed else 'not yet'}: {self.message}"

    def __repr__(self) -> str:
        return f"Result(id={self.id!r}, passed={self.passed})"


class Wrong(Exception):
    """Raised inside a check: the answer is wrong, and ``message`` says how and what to try."""

    def __init__(self, message: str, **measured):
        super().__init__(message)
        self.message, self.measured = message, measured


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id ("sNN.k"), a short title, the name its stub defines, and its check."""

    id: str
    title: str
    answer_name: str
    check: Callable

    @property
    def section(self) -> str:
        return self.id.split(".")[0]


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, title: str, answer_name: str) -> Callable:
    """Register the decorated function as the check of exercise ``id``."""

    def register(check: Callable) -> Callable:
        if id in REGISTRY:
            raise ValueError(f"exercise {id} is registered twice")
        REGISTRY[id] = Exercise(id, title, answer_name, check)
        return check

    return register


def call(answer, *args, what: str = "your function", **kwargs):
    """Call the learner's ``answer``; what it raises becomes a ``Wrong`` that names the error."""
    if answer is None or answer is Ellipsis:
        raise Wrong(f"the answer is {answer!r}: {STUB_HINT}")
    if not callable(answer):
        raise Wrong(f"{what} must be a function; got {type(answer).__name__}")
    try:
        return answer(*args, **kwargs)
    except Wrong:
        raise
    except Exception as error:  # the learner's code: any error is a message, not a traceback
        raise Wrong(f"{what} raised {type(error).__name__}: {first_line(error)}") from None


def first_line(error: Exception) -> str:
    """An error's first sentence: Pyro appends a table of trace shapes, torch a tensor's values.

    Pyro wraps a distribution's error as "Error while computing log_prob at site 'obs':" with
    the error on the next line, which comes along; torch's "but found invalid values:" and the
    values after it do not.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:
        text = f"{text} {lines[1]}"
    return text.split(", but found invalid values")[0]


def trace_model(model, *args, what: str, **kwargs):
    """The learner's Pyro ``model`` run under ``poutine.trace``; what it raises becomes a Wrong."""
    if model is None or model is Ellipsis or not callable(model):
        call(model, what=what)  # the guard's message: fill in the stub, or not a function
    return call(lambda: poutine.trace(model).get_trace(*args, **kwargs), what=what)


def sample_sites(model_trace) -> list[str]:
    """The names of a trace's sample sites in the order the model samples them (no subsamples)."""
    return [
        name
        for name, site in model_trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    ]


def tensor(value, shape: tuple, what: str, *, allow_inf: bool = False) -> torch.Tensor:
    """``value`` as a float64 tensor of ``shape`` (None: any size there), or a ``Wrong``."""
    if value is None or value is Ellipsis:
        raise Wrong(f"{what} is {value!r}: {STUB_HINT}")
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().to(torch.float64)
        else:
            value = torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{what} must be numbers (a tensor); got {type(value).__name__}") from None
    if value.dim() != len(shape) or any(
        want is not None and got != want for got, want in zip(value.shape, shape, strict=True)
    ):
        sizes = ["N" if size is None else str(size) for size in shape]
        expected = f"({sizes[0]},)" if len(sizes) == 1 else "(" + ", ".join(sizes) + ")"
        raise Wrong(f"{what} must have shape {expected}; got {tuple(value.shape)}")
    if torch.isnan(value).any():
        raise Wrong(f"{what} holds NaN (a 0 * inf or inf - inf somewhere?)")
    if not allow_inf and torch.isinf(value).any():
        raise Wrong(f"{what} holds an infinite value")
    return value


def number(value, what: str, *, allow_inf: bool = False) -> float:
    """``value`` as one float (a Python number or a one-element tensor), or a ``Wrong``."""
    if isinstance(value, torch.Tensor | np.ndarray) and tuple(value.shape) == (1,):
        value = value.reshape(())
    return float(tensor(value, (), what, allow_inf=allow_inf))


def map_grid(step: float) -> torch.Tensor:
    """Midpoints of square cells ``step`` degrees wide over the sample space, shape (cells, 2)."""
    lon = torch.arange(SAMPLE_SPACE_LOW[0] + step / 2, SAMPLE_SPACE_HIGH[0], step)
    lat = torch.arange(SAMPLE_SPACE_LOW[1] + step / 2, SAMPLE_SPACE_HIGH[1], step)
    return torch.cartesian_prod(lon, lat)


def map_integral(log_density: torch.Tensor, step: float) -> float:
    """The midpoint rule: the integral of exp(log_density) over the cells of ``map_grid(step)``."""
    return float(log_density.double().exp().sum() * step**2)


def nats(value: float) -> str:
    """A number of nats for a message: finite to 3 decimals, or 'inf'."""
    return f"{value:.3f}" if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def heldout_gap(log_q) -> float:
    """KL(p_data || q), estimated from log q at fresh points of p_data: mean NLL minus entropy.

    p_data is uniform over land, so its entropy is log(land area): the lowest expected NLL any
    model can reach. The gap is the true KL up to the sampling error of the mean.
    """
    return float(-torch.as_tensor(log_q, dtype=torch.float64).mean()) - math.log(world.land_area())
