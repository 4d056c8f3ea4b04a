"""Fitting helpers: SVI (and with an empty guide, maximum likelihood) with a progress bar."""

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pyro
import pyro.optim
import torch
from pyro import poutine
from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from pyro.infer.autoguide.initialization import init_to_median
from pyro.poutine.util import site_is_subsample
from tqdm.auto import tqdm

from gdl_pyro._validation import as_count

__all__ = [
    "SVIResult",
    "fit_mcmc",
    "fit_svi",
    "iwae_log_likelihood",
    "log_importance_weights",
    "replay_guide",
]


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
    on_step: Callable[[int], None] | None = None,
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
    on_step : callable, optional
        Called with the step number before each step (e.g. to anneal a KL weight).

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
            if on_step is not None:
                on_step(step)
            losses.append(svi.step(*args, **kwargs))
            if step % 50 == 0 or step == num_steps - 1:
                bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
    seconds = time.perf_counter() - start
    store = pyro.get_param_store()
    params = {name: store[name].detach().clone() for name in store.keys()}
    return SVIResult(model, guide, losses, params, seconds)


def replay_guide(model: Callable, guide: Callable, *args, **kwargs):
    """One draw of the guide and the model replayed on it: (guide_trace, model_trace), no grad.

    The two traces behind every importance weight p(x, z) / q(z | x) in this package.
    """
    with torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
    return guide_trace, model_trace


def log_importance_weights(model: Callable, guide: Callable, *args, **kwargs) -> torch.Tensor:
    """log p(x_i, z_i) - log q(z_i | x_i) for each data point, from one draw of the guide.

    Every sample site must sit inside one plate over the data (no global latent variables), so
    that each site's log-probability has the data's batch shape (N,).

    Returns
    -------
    torch.Tensor
        Shape (N,).
    """
    guide_trace, model_trace = replay_guide(model, guide, *args, **kwargs)
    total = 0.0
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        with torch.no_grad():  # log-probabilities are computed lazily, outside replay_guide
            trace.compute_log_prob()
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            if site["log_prob"].dim() != 1:
                raise ValueError(
                    f"site {name!r} has log_prob of shape {tuple(site['log_prob'].shape)}: "
                    "every site must be one value per data point, inside the data plate"
                )
            total = total + sign * site["log_prob"]
    return total


def iwae_log_likelihood(
    model: Callable, guide: Callable, *args, num_particles: int = 100, **kwargs
):
    """Importance-weighted estimate of log p(x_i) for each data point (Burda et al., 2016).

    log p(x) >= E[log (1/K) sum_k p(x, z_k) / q(z_k | x)], z_k ~ q(z | x); the bound tightens
    as K grows and is exact for any K when q is the exact posterior. K = 1 is the ELBO.

    Parameters
    ----------
    model, guide : callable
        A model and guide with every site inside the data plate (see log_importance_weights).
    num_particles : int
        K, the number of guide draws per data point, >= 1.

    Returns
    -------
    torch.Tensor
        Shape (N,): the estimate for each data point, in nats.
    """
    num_particles = as_count(num_particles, "num_particles", minimum=1)
    weights = torch.stack(
        [log_importance_weights(model, guide, *args, **kwargs) for _ in range(num_particles)]
    )
    return torch.logsumexp(weights, 0) - math.log(num_particles)


def fit_mcmc(
    model: Callable,
    *args,
    num_samples: int = 500,
    warmup_steps: int = 500,
    num_chains: int = 2,
    seed: int = 0,
    quiet: bool = False,
    init_strategy=None,
    **kwargs,
) -> MCMC:
    """Sample a model's posterior with NUTS and Pyro's progress bar.

    Chains run one after another in this process (Pyro keeps one core for itself, so two
    cores run two chains in sequence); at least two chains are needed for r_hat.

    Parameters
    ----------
    model : callable
        A Pyro model taking ``*args, **kwargs``.
    num_samples, warmup_steps, num_chains : int
        Draws kept per chain, warm-up (adaptation) steps, chains.
    seed : int
        Seed set with pyro.set_rng_seed before sampling: the same seed gives the same draws.
    quiet : bool
        Hide the progress bar.
    init_strategy : callable, optional
        A Pyro init strategy; defaults to ``init_to_median``.

    Returns
    -------
    pyro.infer.MCMC
        Call ``.get_samples()``, or pass it to ``gdl_pyro.diagnostics.to_inference_data``.
    """
    num_samples = as_count(num_samples, "num_samples", minimum=1)
    warmup_steps = as_count(warmup_steps, "warmup_steps")
    num_chains = as_count(num_chains, "num_chains", minimum=1)
    pyro.set_rng_seed(as_count(seed, "seed"))
    kernel = NUTS(model, init_strategy=init_strategy or init_to_median(num_samples=15))
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="num_chains=.*available_cpu", category=UserWarning
        )
        mcmc = MCMC(
            kernel,
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            num_chains=num_chains,
            disable_progbar=quiet,
        )
        mcmc.run(*args, **kwargs)
    return mcmc
