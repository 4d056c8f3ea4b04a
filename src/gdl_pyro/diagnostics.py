"""ArviZ InferenceData for every kind of fit, honest comparisons, and the framework's metrics.

Facts about ArviZ 0.23 and Pyro 1.9 that shape this module:

- ``az.from_pyro(mcmc)`` is right for the posterior and sample stats, but its log_likelihood group
  is dropped or wrong for models with vector-valued sites; it is computed here per draw
  (``pointwise_log_likelihood``, one vectorised trace) and added, with ``log_likelihood=False``
  passed to from_pyro.
- ``az.from_pyro`` does not take SVI: a VI fit's InferenceData is built from guide draws
  (``guide_draws``).
- A point fit (the MLE box, a flow) has no posterior; repeating it as fake draws would make
  az.compare rank it first with weight 1. Every model is instead scored by its log predictive
  density on held-out data from p_data, and those scores go through az.compare as ELPDData.
- r_hat means nothing for one VI run; ``vi_khat`` gives Pyro's PSIS k-hat of log p(x, theta) -
  log q(theta) over guide draws (Yao et al., 2018), which says whether q can be trusted.

Every fit here is one of ``gdl_pyro.fitting``'s: ``name``, ``log_prob`` and ``sample`` are all
that the comparison needs, whether the fit is a point estimate or a posterior.
"""

import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyro
import torch
from pyro import poutine
from pyro.infer import MCMC
from pyro.infer.importance import psis_diagnostic, vectorized_importance_weights
from pyro.poutine.util import site_is_subsample

from gdl_pyro._arviz import ELPDData, az
from gdl_pyro._validation import as_count
from gdl_pyro.data import world

__all__ = [
    "compare_heldout",
    "compare_loo",
    "framework_table",
    "guide_draws",
    "heldout_lpd",
    "loo",
    "pointwise_log_likelihood",
    "rhat_max",
    "to_inference_data",
    "vi_khat",
]


# Guide draws per batch when a k-hat is computed from thousands of draws.
KHAT_BATCH = 200


def pointwise_log_likelihood(
    model: Callable, draws: dict, *args, site: str = "obs", **kwargs
) -> torch.Tensor:
    """log p(x_i | theta_s) of each observation under each draw, shape (S, N).

    One vectorised trace for all draws at once: the model runs inside a plate over the draws,
    conditioned on all of them. (Pyro's ``Predictive(parallel=True)`` does the same but counts a
    vector site's event dimension as a batch dimension, which misplaces 2-D sites.) The model
    must broadcast over a leading draw dimension, as every model in this package does.
    """
    num_draws = len(next(iter(draws.values())))
    with torch.no_grad():
        one = {name: value[0] for name, value in draws.items()}
        plain = poutine.trace(poutine.condition(model, data=one)).get_trace(*args, **kwargs)
        sites = [
            node
            for node in plain.nodes.values()
            if node["type"] == "sample" and not site_is_subsample(node)
        ]
        nesting = max(len(node["fn"].batch_shape) for node in sites)
        reshaped = {}
        for name, value in draws.items():
            batch = plain.nodes[name]["fn"].batch_shape
            event = value.shape[1 + len(batch) :]
            reshaped[name] = value.reshape(
                (num_draws,) + (1,) * (nesting - len(batch)) + tuple(batch) + tuple(event)
            )

        def vectorized(*args, **kwargs):
            with pyro.plate("_draws", num_draws, dim=-nesting - 1):
                return poutine.condition(model, data=reshaped)(*args, **kwargs)

        node = poutine.trace(vectorized).get_trace(*args, **kwargs).nodes[site]
        log_prob = node["fn"].log_prob(node["value"])
    return log_prob.reshape(num_draws, -1)


def guide_draws(
    model: Callable, guide: Callable, *args, num_draws: int = 1000, **kwargs
) -> tuple[dict, torch.Tensor]:
    """Draws of the global latents from a guide, with log p(x, theta_s) - log q(theta_s) of each.

    All draws in one vectorised trace (Pyro's ``vectorized_importance_weights``). ``model`` must
    be the form without discrete latents (e.g. mixture.marginal_model) and at most one plate deep.

    Returns
    -------
    (draws, log_weights) : dict of tensors with leading dimension S, and a tensor of shape (S,)
    """
    num_draws = as_count(num_draws, "num_draws", minimum=1)
    with torch.no_grad():
        shapes = {
            name: node["value"].shape
            for name, node in poutine.trace(guide).get_trace(*args, **kwargs).nodes.items()
            if _is_latent(node)
        }
        log_weights, _, guide_trace = vectorized_importance_weights(
            model, guide, *args, num_samples=num_draws, max_plate_nesting=1, **kwargs
        )
    draws = {
        name: guide_trace.nodes[name]["value"].reshape((num_draws, *shape))
        for name, shape in shapes.items()
    }
    return draws, log_weights.reshape(num_draws)


def _is_latent(node) -> bool:
    """A sampled latent site: not an observation, a plate's subsample or an autoguide internal."""
    return (
        node["type"] == "sample"
        and not node["is_observed"]
        and not site_is_subsample(node)
        and not node["infer"].get("is_auxiliary")
    )


def vi_khat(model: Callable, guide: Callable, *args, num_draws: int = 1000, **kwargs) -> float:
    """PSIS k-hat of the importance weights p(x, theta) / q(theta) (Yao et al., 2018).

    Pyro's ``psis_diagnostic`` over ``num_draws`` vectorised guide draws: below 0.7 the guide is
    usable as a posterior (more precisely below min(1 - 1/log10(S), 0.7) for S draws).
    """
    num_draws = as_count(num_draws, "num_draws", minimum=1)
    # Draws go through the model in batches: a K-component mixture's (S, N, K) log-densities
    # for thousands of draws at once would not fit in memory.
    batch = math.gcd(num_draws, KHAT_BATCH)
    with torch.no_grad():
        return float(
            psis_diagnostic(
                model,
                guide,
                *args,
                num_particles=num_draws,
                max_simultaneous_particles=batch,
                max_plate_nesting=1,
                **kwargs,
            )
        )


def to_inference_data(
    fit, model: Callable, x, *, draws: dict | None = None, **model_kwargs
) -> az.InferenceData:
    """InferenceData with posterior, log_likelihood and observed_data for an MCMC or a VI fit.

    Parameters
    ----------
    fit : pyro.infer.MCMC or None
        An MCMC run; for a VI fit pass None and the guide's ``draws`` (from ``guide_draws``).
    model : callable
        The model form whose "obs" site gives the log-likelihood (no discrete latents).
    x : torch.Tensor
        The training data.
    """
    if isinstance(fit, MCMC):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            idata = az.from_pyro(fit, log_likelihood=False)
        grouped = fit.get_samples(group_by_chain=True)
        chains, per_chain = next(iter(grouped.values())).shape[:2]
        flat = {
            name: value.reshape(chains * per_chain, *value.shape[2:])
            for name, value in grouped.items()
        }
        loglik = pointwise_log_likelihood(model, flat, x, **model_kwargs).reshape(
            chains, per_chain, -1
        )
        idata.add_groups(log_likelihood={"obs": loglik.numpy()})
        return idata
    if draws is None:
        raise ValueError(
            "draws is required for a VI fit (pass fit=None and draws from guide_draws)"
        )
    loglik = pointwise_log_likelihood(model, draws, x, **model_kwargs)
    return az.from_dict(
        posterior={name: value.unsqueeze(0).numpy() for name, value in draws.items()},
        log_likelihood={"obs": loglik.unsqueeze(0).numpy()},
        observed_data={"obs": torch.as_tensor(x).numpy()},
    )


def rhat_max(idata: az.InferenceData) -> float:
    """The largest r_hat over every posterior variable with any spread.

    Entries fixed by construction (the 0 and 1 of a Cholesky factor) have no variance and an
    undefined r_hat; they are left out rather than allowed to turn the maximum into NaN.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = az.rhat(idata).to_array().values
    return float(np.nanmax(values))


def loo(idata: az.InferenceData):
    """az.loo with pointwise Pareto k kept in the result and ArviZ's warning about them silenced.

    The k values are reported by the caller (``max(result.pareto_k)``); repeating a warning per
    model in a learner's console only buries them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, pointwise=True)


def compare_loo(idatas: dict[str, az.InferenceData]) -> pd.DataFrame:
    """az.compare by PSIS-LOO of fits to the same training data (Pareto k warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.compare({name: loo(idata) for name, idata in idatas.items()}, ic="loo")


def heldout_lpd(fitted, x_test) -> torch.Tensor:
    """Log predictive density of each held-out point, shape (N,): ``fitted.log_prob(x_test)``.

    For a Bayesian fit that is the log of the density averaged over its draws (the posterior
    predictive); for a point fit, the density at its one parameter value.
    """
    with torch.no_grad():
        return fitted.log_prob(x_test)


def compare_heldout(scores: dict[str, torch.Tensor]) -> tuple[pd.DataFrame, dict[str, int]]:
    """az.compare on held-out log predictive densities, for models Bayesian or not.

    Each model's pointwise held-out lpd becomes an ELPDData (elpd = sum, se from the pointwise
    spread; no effective parameters or Pareto k, as nothing is left out or resampled). A model
    that gives a held-out point density 0 has elpd -inf: it is left out of the ranking and its
    count of missed points returned instead, never turned into NaN.
    """
    ranked, missed = {}, {}
    for name, lpd in scores.items():
        lpd = lpd.double().numpy()
        bad = int((~np.isfinite(lpd)).sum())
        if bad:
            missed[name] = bad
            continue
        n = lpd.size
        ranked[name] = ELPDData(
            data=[
                lpd.sum(),
                math.sqrt(n * lpd.var()),
                0.0,
                1,
                n,
                False,
                pd.Series(lpd),
                np.zeros(n),
                "log",
            ],
            index=[
                "elpd_loo",
                "se",
                "p_loo",
                "n_samples",
                "n_data_points",
                "warning",
                "loo_i",
                "pareto_k",
                "scale",
            ],
        )
    table = az.compare(ranked, ic="loo", method="stacking") if len(ranked) > 1 else pd.DataFrame()
    return table, missed


def framework_table(fits: list, x_test, *, num_samples: int = 100_000) -> list[dict]:
    """The chapter's framework for each fit: held-out NLL, gap, accuracy, coverage, speed.

    ``fits`` are fits from ``gdl_pyro.fitting`` (anything with ``name``, ``log_prob`` and
    ``sample``). heldout_nll is nats per covered held-out point (those with finite density);
    heldout_missed counts the others (their density is 0, so the true KL is infinite when it is
    not 0). coverage is ``world.coverage`` of the held-out points.
    """
    entropy = world.LandUniform().entropy().item()
    rows = []
    for fitted in fits:
        lpd = heldout_lpd(fitted, x_test)
        finite = torch.isfinite(lpd)
        start = time.perf_counter()
        samples = fitted.sample(num_samples)
        seconds = time.perf_counter() - start
        nll = -lpd[finite].mean().item()
        rows.append(
            {
                "name": fitted.name,
                "heldout_nll": nll,
                "heldout_missed": int((~finite).sum()),
                "gap_nats": nll - entropy,
                "accuracy": world.is_land(samples).double().mean().item(),
                "coverage": world.coverage(lpd),
                "samples_per_second": num_samples / seconds,
            }
        )
    return rows
