"""s04's exercises: wrong answers, each failing with the message that names its mistake."""

import pyro
import pyro.distributions as dist
from pyro import poutine

from gdl_pyro.distributions import UniformBox


def _num(x, num_data):
    return len(x) if x is not None else num_data


def half_open(x=None, *, low, high, num_data=None):
    """torch's Uniform: the bounding box's own edge points get density 0."""
    with pyro.plate("data", _num(x, num_data)):
        return pyro.sample("obs", dist.Uniform(low, high).to_event(1), obs=x)


def no_plate(x=None, *, low, high, num_data=None):
    return pyro.sample("obs", UniformBox(low, high), obs=x)


def no_to_event(x=None, *, low, high, num_data=None):
    """Each coordinate its own batch element: 2N independent numbers, not N points."""
    with pyro.plate("data", _num(x, num_data)):
        return pyro.sample("obs", dist.Uniform(low, high).expand([_num(x, num_data), 2]), obs=x)


def scaled(x=None, *, low, high, num_data=None):
    """The section's poutine.scale copied into the model: the mean log density."""
    num_data = _num(x, num_data)
    with pyro.plate("data", num_data), poutine.scale(scale=1 / num_data):
        return pyro.sample("obs", UniformBox(low, high), obs=x)


def needs_x(x=None, *, low, high, num_data=None):
    with pyro.plate("data", len(x)):
        return pyro.sample("obs", UniformBox(low, high), obs=x)


def not_observed(x=None, *, low, high, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        return pyro.sample("obs", UniformBox(low, high))


def named_x(x=None, *, low, high, num_data=None):
    with pyro.plate("data", _num(x, num_data)):
        return pyro.sample("x", UniformBox(low, high), obs=x)


def always_observed(x=None, *, low, high, num_data=None):
    """Simulates by observing the box's own samples: 'obs' is observed even with x=None."""
    num_data = _num(x, num_data)
    with pyro.plate("data", num_data):
        value = x if x is not None else UniformBox(low, high).sample((num_data,))
        return pyro.sample("obs", UniformBox(low, high), obs=value)


def simulates_gaussian(x=None, *, low, high, num_data=None):
    """Scores as the box, but simulates from a Gaussian clipped to the box."""
    num_data = _num(x, num_data)
    with pyro.plate("data", num_data):
        if x is None:
            centre, width = (low + high) / 2, (high - low) / 6
            x = (centre + width * dist.Normal(0.0, 1.0).sample((num_data, 2))).clamp(low, high)
            return pyro.sample("obs", dist.Delta(x).to_event(1))
        return pyro.sample("obs", UniformBox(low, high), obs=x)


WRONG = {
    "s04.1": [
        (half_open, "half-open"),
        (no_plate, "pyro.plate"),
        (no_to_event, "Shape mismatch inside plate"),
        (scaled, "poutine.scale"),
        (needs_x, "With x=None a model simulates"),
        (not_observed, "is not observed"),
        (named_x, "no sample site named 'obs'"),
        (always_observed, "with x=None the site 'obs'"),
        (simulates_gaussian, "not uniform over the box"),
    ],
    "s04.2": [
        (lambda n: 0.0, "not every new one"),
        # One edge of the box only.
        (lambda n: 1 / (n + 1), "about 1 / (N + 1)"),
        (lambda n: 2 / (n + 1), "about 2 / (N + 1)"),
        # The share of training points outside, squared: a guess without a reason.
        (lambda n: 4 / (n + 1) ** 2, "how many of them hold an edge"),
        (lambda n: float(n), "at most 1"),
    ],
}
