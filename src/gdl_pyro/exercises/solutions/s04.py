"""Reference solutions of s04's exercises."""

import pyro

from gdl_pyro.distributions import UniformBox


def model(x=None, *, low, high, num_data=None):
    """s04.1: N points drawn independently and uniformly from the box; observed when x is given."""
    with pyro.plate("data", len(x) if x is not None else num_data):
        return pyro.sample("obs", UniformBox(low, high), obs=x)


def missed_share(num_data):
    """s04.2: a new point lies outside when it is one of the (about 4) extremes of N + 1 points."""
    return 4 / (num_data + 1)
