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
  density on held-out data from p_data (``compare_heldout``): a table of its own, with columns
  named for what they hold, because a held-out score is not LOO.
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
from scipy.special import logsumexp

from gdl_pyro._arviz import ELPDData, az
from gdl_pyro._validation import as_count
from gdl_pyro.data import world

__all__ = [
    "bits_per_dim",
    "compare_heldout",
    "compare_loo",
    "framework_table",
    "land_mass_tv",
    "guide_draws",
    "sample_guide",
    "khat_threshold",
    "pointwise_log_likelihood",
    "rhat_max",
    "sd_ratio",
    "to_inference_data",
    "vi_khat",
    "vi_loo",
]


# r_hat above this says the chains disagree (Vehtari, Gelman, Simpson, Carpenter and Buerkner,
# 2021, "Rank-normalization, folding, and localization: an improved R-hat").
RHAT_THRESHOLD = 1.01

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


def sample_guide(guide: Callable, *args, num_draws: int = 1000, **kwargs) -> dict:
    """Draws of the global latents from a guide, all in one vectorised trace, without weights.

    The same draws as ``guide_draws`` under the same seed, without running the model: scoring
    every draw's log-likelihood on the data is most of ``guide_draws``' cost (6.9 of 11.8 s of a
    K = 30 mixture's fit at N = 5,000), and a posterior predictive needs only the draws.
    ``guide`` must be at most one plate deep.

    Returns
    -------
    dict of str to torch.Tensor
        Each latent's draws with leading dimension ``num_draws``.
    """
    num_draws = as_count(num_draws, "num_draws", minimum=1)
    with torch.no_grad():
        shapes = _latent_shapes(guide, args, kwargs)
        # The particle plate of vectorized_importance_weights (max_plate_nesting = 1).
        with pyro.plate("num_particles_vectorized", num_draws, dim=-2):
            trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return _draws(trace, shapes, num_draws)


def _latent_shapes(guide: Callable, args, kwargs) -> dict:
    """The shape of one draw of each latent site of ``guide`` (one unvectorised trace)."""
    trace = poutine.trace(guide).get_trace(*args, **kwargs)
    return {name: node["value"].shape for name, node in trace.nodes.items() if _is_latent(node)}


def _draws(trace, shapes: dict, num_draws: int) -> dict:
    """Each latent's values in a vectorised guide trace, as (num_draws, *shape)."""
    return {
        name: trace.nodes[name]["value"].reshape((num_draws, *shape))
        for name, shape in shapes.items()
    }


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
    draws, log_weights, _ = _importance(model, guide, args, kwargs, num_draws)
    return draws, log_weights


def _importance(model: Callable, guide: Callable, args, kwargs, num_draws: int):
    """``guide_draws``' draws and log-weights, and the vectorised model trace that scored them."""
    with torch.no_grad():
        shapes = _latent_shapes(guide, args, kwargs)
        log_weights, model_trace, guide_trace = vectorized_importance_weights(
            model, guide, *args, num_samples=num_draws, max_plate_nesting=1, **kwargs
        )
    return _draws(guide_trace, shapes, num_draws), log_weights.reshape(num_draws), model_trace


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


def khat_threshold(num_draws: int) -> float:
    """The largest Pareto k-hat at which PSIS with S draws is reliable: min(1 - 1/log10 S, 0.7).

    Vehtari, Simpson, Gelman, Yao and Gabry, "Pareto smoothed importance sampling", JMLR 2024;
    ArviZ 0.23's ``loo`` warns above the same value. 100 draws: 0.5; 1000: 0.67; 2154 and more: 0.7.
    """
    num_draws = as_count(num_draws, "num_draws", minimum=11)
    return min(1 - 1 / math.log10(num_draws), 0.7)


def vi_loo(
    model: Callable, guide: Callable, *args, num_draws: int = 4000, site: str = "obs", **kwargs
) -> ELPDData:
    """PSIS-LOO of a VI fit, with importance ratios that correct for the guide.

    Draws theta_s come from q, not from the posterior, so each leave-one-out ratio carries
    p(theta_s, y) / q(theta_s) as well: r_si = p(theta_s, y) / (q(theta_s) p(y_i | theta_s))
    (Magnusson, Andersen, Jonasson and Vehtari, 2019; the R loo package's
    ``loo_approximate_posterior``). Those ratios are Pareto-smoothed per point with ArviZ's
    ``psislw``. Call it inside the fit's param store (``with result.scope():``).

    Returns
    -------
    ELPDData
        As ``az.loo(..., pointwise=True)`` gives: elpd_loo, se, p_loo, n_samples,
        n_data_points, warning, loo_i, pareto_k, scale ("log") and good_k (``khat_threshold``).
    """
    num_draws = as_count(num_draws, "num_draws", minimum=11)
    ratios, logliks = [], []
    # In batches of draws: a K-component mixture's (S, N, K) densities for S = 4000 at once
    # would take gigabytes.
    for start in range(0, num_draws, KHAT_BATCH):
        batch = min(KHAT_BATCH, num_draws - start)
        _, ratio, model_trace = _importance(model, guide, args, kwargs, batch)
        ratios.append(ratio.double())
        # The trace that weighted the draws has already scored each point under each of them
        # (what pointwise_log_likelihood computes): running the model again cost as much as the
        # weights did, 11 of s06's 27 s of LOO.
        logliks.append(model_trace.nodes[site]["unscaled_log_prob"].reshape(batch, -1))
    log_joint_ratio, loglik = torch.cat(ratios), torch.cat(logliks).double()
    log_ratio = (log_joint_ratio.double()[:, None] - loglik).T.numpy()  # (N, S)
    log_weights, pareto_k = az.psislw(log_ratio)
    loo_i = logsumexp(log_weights + loglik.T.numpy(), axis=-1)
    # The posterior's own log predictive density, by the same (smoothed) correction for q.
    posterior_weights, _ = az.psislw(log_joint_ratio.double().numpy())
    lppd = logsumexp(posterior_weights[None, :] + loglik.T.numpy(), axis=-1).sum()
    good_k = khat_threshold(num_draws)
    warning = bool((pareto_k > good_k).any())
    if warning:
        warnings.warn(
            f"Pareto k-hat above {good_k:.2f} (S = {num_draws}) for {(pareto_k > good_k).sum()} "
            "points: their leave-one-out estimates are not reliable",
            UserWarning,
            stacklevel=2,
        )
    n = loo_i.size
    return ELPDData(
        data=[
            loo_i.sum(),
            math.sqrt(n * loo_i.var()),
            lppd - loo_i.sum(),
            num_draws,
            n,
            warning,
            pd.Series(loo_i, name="loo_i"),
            np.asarray(pareto_k),
            "log",
            good_k,
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
            "good_k",
        ],
    )


def sd_ratio(approximate, reference, var_names: list[str] | None = None) -> dict[str, float]:
    """Posterior sd of every scalar parameter under one fit, over its sd under another.

    One number per element ("weights[0]", "locs[1,0]", ...), each sd taken over chains and
    draws: a single sd pooled over elements would mostly measure how far apart the elements
    are, not how wide the posterior is.

    Parameters
    ----------
    approximate, reference : az.InferenceData
        E.g. a VI fit's and a NUTS fit's of the same model.
    var_names : list of str, optional
        The posterior variables to compare; all of the reference's by default.
    """
    ratios = {}
    for name in var_names or list(reference.posterior.data_vars):
        ours = approximate.posterior[name].std(("chain", "draw")).values
        theirs = reference.posterior[name].std(("chain", "draw")).values
        if ours.shape != theirs.shape:
            raise ValueError(
                f"{name} has shape {ours.shape} in one fit and {theirs.shape} in the other"
            )
        for index in np.ndindex(ours.shape):
            if theirs[index] == 0:  # fixed by construction (a Cholesky factor's 0 and 1)
                continue
            label = name + (f"[{','.join(map(str, index))}]" if index else "")
            ratios[label] = float(ours[index] / theirs[index])
    return ratios


def bits_per_dim(log_density, num_dims: int, levels: int = 256) -> torch.Tensor:
    """Bits per dimension of discrete data from a continuous density of its dequantised version.

    With x = (k + u) / levels (``tins.dequantize``), log P(k) >= log p(x) - D log(levels), so
    bpd = (D log(levels) - log p(x)) / (D log 2) is an upper bound on the discrete model's bits
    per dimension; it is >= 0 for any proper density on [0, 1]^D, and a model uniform on
    [0, 1]^D scores exactly log2(levels), 8 for 8-bit images (Theis, van den Oord and Bethge,
    "A note on the evaluation of generative models", 2016).

    Parameters
    ----------
    log_density : torch.Tensor
        log p(x_i) of each dequantised item (or a lower bound on it, such as an ELBO).
    num_dims : int
        D, the values per item (pixels per image).
    levels : int
        Levels per value before dequantisation.
    """
    num_dims = as_count(num_dims, "num_dims", minimum=1)
    levels = as_count(levels, "levels", minimum=2)
    log_density = torch.as_tensor(log_density, dtype=torch.float64)
    return (num_dims * math.log(levels) - log_density) / (num_dims * math.log(2))


def to_inference_data(
    fit, model: Callable, x, *, draws: dict | None = None, relabel=None, **model_kwargs
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
    relabel : callable, optional
        Applied to an MCMC run's draws (chain and draw dims) before anything else.
    """
    if isinstance(fit, MCMC):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            idata = az.from_pyro(fit, log_likelihood=False)
        grouped = {k: v.cpu() for k, v in fit.get_samples(group_by_chain=True).items()}
        if relabel is not None:  # e.g. a mixture's components in one order in every chain
            grouped = relabel(grouped)
            idata.posterior = az.from_dict(
                posterior={k: v.numpy() for k, v in grouped.items()}
            ).posterior
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


def compare_loo(results: dict) -> tuple[pd.DataFrame, dict[str, float]]:
    """az.compare of PSIS-LOO results, ranking only those whose every Pareto k-hat is reliable.

    A fit with a k-hat above its threshold (``good_k``, from its number of draws) has an
    elpd_loo that cannot be trusted: it is returned with its largest k-hat instead of ranked.

    Parameters
    ----------
    results : dict of str to ELPDData
        ``az.loo(..., pointwise=True)`` or ``vi_loo`` of fits to the same training data.

    Returns
    -------
    (table, unreliable) : the az.compare DataFrame (one row, or none, when fewer than two
    fits are reliable), and {name: largest k-hat} of the fits left out.
    """
    reliable, unreliable = {}, {}
    for name, result in results.items():
        worst = float(np.max(result.pareto_k))
        if worst > result.good_k:
            unreliable[name] = worst
        else:
            reliable[name] = result
    if len(reliable) > 1:
        return az.compare(reliable, ic="loo"), unreliable
    rows = {
        name: {"rank": 0, "elpd_loo": r.elpd_loo, "p_loo": r.p_loo, "elpd_diff": 0.0, "se": r.se}
        for name, r in reliable.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index"), unreliable


def compare_heldout(scores: dict[str, torch.Tensor]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rank fits, Bayesian or not, by their log predictive density of the same held-out points.

    This is not LOO: the points were never in the training data, so nothing is left out,
    reweighted or Pareto-smoothed, and the table says so in its column names. For each fit,
    ``heldout_lpd`` is the sum over points, ``se`` its standard error (sqrt(N) times the
    points' sd), ``lpd_diff`` its distance from the best, and ``dse`` the standard error of that
    difference, from the paired per-point differences. A fit that gives some held-out point
    density 0 has a sum of -inf: it is left out of the table and its count of missed points
    returned instead, never turned into NaN.

    Returns
    -------
    (table, missed) : DataFrame indexed by fit, best first; and {name: points missed}.
    """
    finite, missed = {}, {}
    for name, lpd in scores.items():
        lpd = torch.as_tensor(lpd).double()
        bad = int((~torch.isfinite(lpd)).sum())
        if bad:
            missed[name] = bad
        else:
            finite[name] = lpd
    if not finite:
        return pd.DataFrame(), missed
    order = sorted(finite, key=lambda name: -finite[name].sum().item())
    best = finite[order[0]]
    rows = []
    for name in order:
        lpd, n = finite[name], finite[name].numel()
        difference = best - lpd
        rows.append(
            {
                "rank": len(rows),
                "heldout_lpd": lpd.sum().item(),
                "se": math.sqrt(n * lpd.var(unbiased=False).item()),
                "lpd_diff": difference.sum().item(),
                "dse": math.sqrt(n * difference.var(unbiased=False).item()),
                "nll_per_point": -lpd.mean().item(),
            }
        )
    return pd.DataFrame(rows, index=order), missed


def land_mass_tv(samples) -> float:
    """Total variation between the samples' shares over the five land masses and p_data's.

    Of the samples that fall on one of s08's five land masses (``world.LAND_MASSES``), the share
    on each, q_k, is compared with its share of p_data, p_k = ``world.land_mass_prior()``:
    TV = (1/2) sum_k |q_k - p_k|, from 0 (every mass in proportion) to 1. It sees what accuracy
    cannot: a model that drops a land mass (mode dropping) loses nothing in accuracy. Samples on
    sea or on smaller islands do not count; with none on the five masses it is NaN.
    """
    labels = world.land_mass_of(samples)
    labels = labels[labels >= 0]
    if labels.numel() == 0:
        return math.nan
    shares = torch.bincount(labels, minlength=len(world.LAND_MASSES)).double() / labels.numel()
    return 0.5 * (shares - world.land_mass_prior().double()).abs().sum().item()


def framework_table(fits: list, x_test, *, num_samples: int = 100_000) -> list[dict]:
    """The chapter's framework for each fit: held-out NLL, gap, accuracy, coverage, speeds.

    ``fits`` are fits from ``gdl_pyro.fitting`` (anything with ``name``, ``log_prob`` and
    ``sample``). heldout_nll is nats per covered held-out point (those with finite density);
    heldout_missed counts the others (their density is 0, so the true KL is infinite when it is
    not 0). coverage is ``world.coverage`` of the held-out points.
    """
    entropy = world.LandUniform().entropy().item()
    rows = []
    for fitted in fits:
        lpd = fitted.log_prob(x_test)  # a Bayesian fit's: the posterior predictive's
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
                "land_mass_tv": land_mass_tv(samples),
                "samples_per_second": num_samples / seconds,
                "fit_seconds": fitted.seconds,
            }
        )
    return rows
