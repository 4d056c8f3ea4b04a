"""ArviZ InferenceData for every kind of fit, honest comparisons, and the framework's metrics.

Facts about ArviZ 0.23 and Pyro 1.9 that shape this module:

- ``az.from_pyro(mcmc)`` is right for the posterior and sample stats, but its log_likelihood group
  is dropped or wrong for models with vector-valued sites; it is computed here per draw
  (``pointwise_log_likelihood``) and added, with ``log_likelihood=False`` passed to from_pyro.
- ``az.from_pyro`` does not take SVI: a VI fit's InferenceData is built from guide draws.
- A point fit (the MLE box, a flow) has no posterior; repeating it as fake draws would make
  az.compare rank it first with weight 1. Every model is instead scored by its log predictive
  density on held-out data from p_data, and those scores go through az.compare as ELPDData.
- r_hat means nothing for one VI run; ``vi_khat`` gives the PSIS k-hat of log p(x, theta) -
  log q(theta) over guide draws (Yao et al., 2018), which says whether q can be trusted.
"""

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pyro import poutine
from pyro.infer import MCMC
from pyro.poutine.util import site_is_subsample

from gdl_pyro._arviz import ELPDData, az
from gdl_pyro.data import world
from gdl_pyro.infer import replay_guide

__all__ = [
    "FittedModel",
    "compare_heldout",
    "compare_loo",
    "framework_table",
    "heldout_lpd",
    "loo",
    "pointwise_log_likelihood",
    "rhat_max",
    "svi_draws",
    "to_inference_data",
    "vi_khat",
]

# A held-out point counts as covered when the model gives it at least 1% of p_data's density.
COVERAGE_FRACTION = 0.01


@dataclass
class FittedModel:
    """What the comparison needs from any fit, Bayesian or not.

    Attributes
    ----------
    name : str
    log_density : callable
        points (N, 2) -> tensor (S, N): log p(x_i | theta_s) for each posterior draw (S = 1 for a
        point fit).
    sample : callable
        n -> tensor (n, 2): draws from the (posterior predictive) model.
    """

    name: str
    log_density: Callable[[torch.Tensor], torch.Tensor]
    sample: Callable[[int], torch.Tensor]


def pointwise_log_likelihood(
    model: Callable, draws: dict, *args, site: str = "obs", **kwargs
) -> torch.Tensor:
    """log p(x_i | theta_s) of each observation under each draw, shape (S, N).

    Conditions the model on one draw at a time and reads the per-observation log-probability of
    ``site``; one trace per draw, so models with vector-valued sites come out right.
    """
    num_draws = len(next(iter(draws.values())))
    rows = []
    with torch.no_grad():
        for s in range(num_draws):
            conditioned = poutine.condition(
                model, data={name: value[s] for name, value in draws.items()}
            )
            trace = poutine.trace(conditioned).get_trace(*args, **kwargs)
            trace.compute_log_prob()
            rows.append(trace.nodes[site]["log_prob"])
    return torch.stack(rows)


def svi_draws(model: Callable, guide: Callable, *args, num_draws: int = 500, **kwargs):
    """Draws of the global latents from a guide, with log p(x, theta) - log q(theta) for each.

    ``model`` must be the form without discrete latents (e.g. mixture.marginal_model).
    Returns (draws: dict of tensors with a leading draw dimension, log_weights: tensor (S,)).
    """
    values, log_weights = {}, []
    for _ in range(num_draws):
        guide_trace, model_trace = replay_guide(model, guide, *args, **kwargs)
        with torch.no_grad():
            log_weights.append(model_trace.log_prob_sum() - guide_trace.log_prob_sum())
        for name, node in guide_trace.nodes.items():
            # Latent sites only: not observations, plate subsamples or autoguide internals.
            if node["type"] != "sample" or node["is_observed"] or site_is_subsample(node):
                continue
            if not node["infer"].get("is_auxiliary"):
                values.setdefault(name, []).append(node["value"])
    return {name: torch.stack(v) for name, v in values.items()}, torch.stack(log_weights)


def vi_khat(log_weights: torch.Tensor) -> float:
    """PSIS k-hat of importance weights p(x, theta) / q(theta): below 0.7 the guide is usable."""
    _, khat = az.psislw(log_weights.double().numpy())
    return float(khat)


def to_inference_data(
    fit, model: Callable, x, *, draws: dict | None = None, **model_kwargs
) -> az.InferenceData:
    """InferenceData with posterior, log_likelihood and observed_data for an MCMC or a VI fit.

    Parameters
    ----------
    fit : pyro.infer.MCMC or None
        An MCMC run; for a VI fit pass None and the guide's ``draws`` (from ``svi_draws``).
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
        raise ValueError("draws is required for a VI fit (pass fit=None and draws from svi_draws)")
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


def heldout_lpd(fitted: FittedModel, x_test) -> torch.Tensor:
    """Log predictive density of each held-out point: logsumexp over draws minus log S, (N,)."""
    with torch.no_grad():
        per_draw = fitted.log_density(x_test)
    return torch.logsumexp(per_draw, 0) - math.log(per_draw.shape[0])


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


def framework_table(fits: list[FittedModel], x_test, *, num_samples: int = 100_000) -> list[dict]:
    """The chapter's framework for each fit: held-out NLL, gap, accuracy, coverage, speed.

    heldout_nll is nats per covered held-out point (those with finite density); heldout_missed
    counts the others (their density is 0, so the true KL is infinite when it is not 0).
    """
    entropy = world.LandUniform().entropy().item()
    threshold = -math.log(world.land_area()) + math.log(COVERAGE_FRACTION)
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
                "coverage": (lpd > threshold).double().mean().item(),
                "samples_per_second": num_samples / seconds,
            }
        )
    return rows
