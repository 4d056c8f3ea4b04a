"""Each fit's own state: a param store of its own, an RNG of its own, its device, its time.

The reasons are in ``gdl_pyro.fitting``'s docstring; ``fit_svi`` and every ``fit`` use these.
"""

import contextlib
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyro
import torch

from gdl_pyro._validation import as_seed

__all__ = ["ParamState", "Timer", "as_device", "on_device", "seeded"]


class ParamState:
    """A param store of one fit's own, with a state that lasts.

    ``with state.active():`` sets the caller's param store aside, puts this fit's parameters in
    its place, and on leaving puts the caller's back exactly as they were: the same dictionaries
    holding the same tensors, untouched. Parameters created inside the block stay with this
    state.

    Pyro's own ``ParamStoreDict.scope`` does the same through ``get_state``, which strips the
    ``unconstrained`` link from each of the caller's parameters; a fit (or a fit's guide) called
    inside the caller's running SVI then broke their next ``SVI.step`` with "'Parameter' object
    has no attribute 'unconstrained'". Swapping the store's three dictionaries touches none of
    the caller's tensors.
    """

    def __init__(self):
        self._dicts = ({}, {}, {})  # the store's _params, _param_to_name and _constraints

    @contextmanager
    def active(self) -> Iterator[None]:
        store = pyro.get_param_store()
        callers = (store._params, store._param_to_name, store._constraints)
        store._params, store._param_to_name, store._constraints = self._dicts
        try:
            yield
        finally:
            self._dicts = (store._params, store._param_to_name, store._constraints)
            store._params, store._param_to_name, store._constraints = callers

    def values(self) -> dict[str, torch.Tensor]:
        """Constrained values of this state's parameters, detached, on the CPU."""
        with self.active():
            store = pyro.get_param_store()
            return {name: store[name].detach().cpu().clone() for name in store.keys()}


@contextmanager
def seeded(seed: int | None = None, device=None) -> Iterator[int]:
    """Run a block on an RNG of its own, and restore the caller's RNG state afterwards.

    Parameters
    ----------
    seed : int or None
        The block's seed. None draws one from torch's global RNG (the only trace it leaves).
    device : torch.device, optional
        A CUDA device whose RNG is forked as well.

    Yields
    ------
    int
        The seed in use.
    """
    if seed is None:
        seed = int(torch.randint(2**31 - 1, ()).item())
    seed = as_seed(seed)
    cuda = (
        [torch.device(device).index or 0] if device and torch.device(device).type == "cuda" else []
    )
    # What pyro.set_rng_seed seeds (torch, NumPy's and Python's global RNGs), with the caller's
    # NumPy and Python states put back afterwards. torch's CPU generator is seeded directly:
    # torch.manual_seed also queues a seeding of every accelerator that is not initialised, with
    # a formatted stack trace, on each call, which costs milliseconds and is never freed.
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:  # only the forked device: the others' states are the caller's
            torch.cuda.default_generators[index].manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002
        random.seed(seed)
        try:
            yield seed
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
            random.setstate(python_state)


def as_device(device, x: torch.Tensor) -> torch.device:
    """The device a fit runs on: ``device`` if given (checked), else where the data are.

    Only devices torch can run a fit on here pass: "cpu"; "cuda" or "cuda:N" when torch sees a
    CUDA device N; "mps" when the MPS backend is available. Others that torch can name ("meta",
    "xla", a missing GPU) raise a ValueError here instead of an error deep inside torch later.
    """
    if device is None:
        return x.device
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda'; got {device!r}"
        ) from error
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device is {device}, but torch sees no CUDA device here")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device is {device}, but torch sees {count} CUDA device(s) here (cuda:0 to "
                f"cuda:{count - 1})"
            )
        return device
    if device.type == "mps" and torch.backends.mps.is_available():
        return device
    raise ValueError(
        f"device must be 'cpu', or 'cuda' or 'mps' where torch has that backend; got {device} "
        "(not available here)"
    )


def on_device(device) -> contextlib.AbstractContextManager:
    """Make ``device`` the default for new tensors in a block, off the CPU only.

    The models create their tensors on the data's device themselves; this is a safety net for
    the few that Pyro's internals create. On the CPU it does nothing, because torch's device
    context intercepts every tensor operation and slowed a VAE step by 40% there.
    """
    if device is None or torch.device(device).type == "cpu":
        return contextlib.nullcontext()
    return torch.device(device)


class Timer:
    """Wall-clock seconds of a block: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self):
        self.start, self.seconds = time.perf_counter(), 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
