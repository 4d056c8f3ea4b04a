"""Fitting helpers: SVI (and with an empty guide, maximum likelihood) with a progress bar."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyro
import pyro.optim
import torch
from pyro.infer import SVI, Trace_ELBO
from tqdm.auto import tqdm

from gdl_pyro._validation import as_count

__all__ = ["SVIResult", "fit_svi"]


@dataclass
class SVIResult:
    """What a fit returns: the model, guide, loss trace and learned parameters.

    Attributes
    ----------
    model, guide : callable
        The pair that was fitted.
    losses : list of float
        The loss (negative ELBO; the NLL when the guide is empty) at each step.
    params : dict of str to torch.Tensor
        Constrained values of every parameter in the param store after fitting, detached.
    seconds : float
        Wall-clock time of the optimisation loop.
    """

    model: Callable
    guide: Callable
    losses: list[float]
    params: dict[str, torch.Tensor] = field(repr=False)
    seconds: float

    @property
    def steps_per_second(self) -> float:
        return len(self.losses) / self.seconds if self.seconds > 0 else float("inf")


def fit_svi(
    model: Callable,
    guide: Callable,
    *args,
    num_steps: int = 1000,
    lr: float = 0.01,
    loss=None,
    optim=None,
    quiet: bool = False,
    desc: str = "SVI",
    **kwargs,
) -> SVIResult:
    """Fit ``guide`` to ``model`` by stochastic variational inference.

    With a guide that samples nothing (``def guide(*args, **kwargs): pass``), the loss is the
    negative log-likelihood of the model's ``pyro.param`` values, so this is maximum
    likelihood; with ``AutoDelta`` it is MAP; with ``AutoNormal`` and friends it is VI.
    The parameter store is not cleared: call ``pyro.clear_param_store()`` (and
    ``pyro.set_rng_seed``) before, as the chapter scripts do.

    Parameters
    ----------
    model, guide : callable
        A Pyro model and guide taking ``*args, **kwargs``.
    num_steps : int
        Optimisation steps, >= 1.
    lr : float
        Adam learning rate, used when ``optim`` is None.
    loss : pyro.infer.ELBO, optional
        Defaults to ``Trace_ELBO()``; pass ``TraceEnum_ELBO`` for enumerated models.
    optim : pyro.optim.PyroOptim, optional
        Defaults to ``pyro.optim.Adam({"lr": lr})``.
    quiet : bool
        Hide the tqdm progress bar.

    Returns
    -------
    SVIResult
    """
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got {lr}")
    svi = SVI(model, guide, optim or pyro.optim.Adam({"lr": lr}), loss=loss or Trace_ELBO())
    losses = []
    start = time.perf_counter()
    with tqdm(range(num_steps), desc=desc, disable=quiet, mininterval=0.5) as bar:
        for step in bar:
            losses.append(svi.step(*args, **kwargs))
            if step % 50 == 0 or step == num_steps - 1:
                bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
    seconds = time.perf_counter() - start
    store = pyro.get_param_store()
    params = {name: store[name].detach().clone() for name in store.keys()}
    return SVIResult(model, guide, losses, params, seconds)
