"""Comparison of fits: PSIS-LOO on the training data, and held-out scores (as arviz/stats).

- ``az.loo`` is right for NUTS draws; a VI fit's draws come from q, not from the posterior, and
  ``vi_loo`` corrects its leave-one-out ratios for the guide. ``compare_loo`` ranks only the
  fits whose every Pareto k-hat is reliable.
- A point fit (the MLE box, a flow) has no posterior; repeating it as fake draws would make
  az.compare rank it first with weight 1. Every model is instead scored by its log predictive
  density on held-out data from p_data (``compare_heldout``): a table of its own, with columns
  named for what they hold, because a held-out score is not LOO.

Every fit here is one of ``gdl_pyro.fitting``'s: ``name``, ``log_prob`` and ``sample`` are all
that the comparison needs, whether the fit is a point estimate or a posterior.
"""

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp

from gdl_pyro._arviz import ELPDData, az
from gdl_pyro._validation import as_count
from gdl_pyro.diagnostics import khat_threshold
from gdl_pyro.infer import KHAT_BATCH, _importance

__all__ = ["compare_heldout", "compare_loo", "paired_difference", "seed_verdict", "vi_loo"]


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


def paired_difference(lpd_a, lpd_b) -> dict[str, float]:
    """How much better fit a scores the same held-out points than fit b, per point.

    Returns ``{"diff_nats": mean(lpd_a - lpd_b), "se_nats": its standard error}``: the paired
    per-point differences' sd over sqrt(N). Positive means a is closer to p_data (its gap is
    smaller by diff_nats). The error covers held-out noise only: a second training seed moves
    both fits, and that spread is ``seed_verdict``'s to measure.
    """
    a, b = torch.as_tensor(lpd_a).double(), torch.as_tensor(lpd_b).double()
    if a.shape != b.shape or a.dim() != 1 or a.numel() < 2:
        raise ValueError(f"lpd_a and lpd_b must be scores of the same N >= 2 points; got {a.shape}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("lpd_a and lpd_b must be finite: a fit that misses a point has no mean")
    difference = a - b
    return {
        "diff_nats": difference.mean().item(),
        "se_nats": (difference.std() / math.sqrt(difference.numel())).item(),
    }


def seed_verdict(runs: list[dict]) -> dict:
    """A "who wins" claim over training seeds: one ``paired_difference`` per seed.

    Parameters
    ----------
    runs : list of dict
        For each training seed, ``paired_difference(lpd_a, lpd_b)`` of the same two fits, each
        trained again on that seed's data from that seed's start.

    Returns
    -------
    dict
        ``num_seeds``; ``mean_diff_nats`` over seeds; ``sd_between_seeds_nats`` (their sample sd:
        how much another seed moves the difference); ``se_of_mean_nats`` (that sd over
        sqrt(seeds)); ``mean_heldout_se_nats`` (the held-out error of one seed's difference, for
        comparison); ``wins`` (seeds where a scored better: a difference above 0) and
        ``winner_changes`` (whether a scored better on some seeds and not on others).
    """
    if len(runs) < 2:
        raise ValueError(
            f"runs must hold at least 2 seeds to measure their spread; got {len(runs)}"
        )
    diffs = np.array([run["diff_nats"] for run in runs], dtype=float)
    sd = float(diffs.std(ddof=1))
    wins = int((diffs > 0).sum())
    return {
        "num_seeds": len(runs),
        "mean_diff_nats": float(diffs.mean()),
        "sd_between_seeds_nats": sd,
        "se_of_mean_nats": sd / math.sqrt(len(runs)),
        "mean_heldout_se_nats": float(np.mean([run["se_nats"] for run in runs])),
        "wins": wins,
        "winner_changes": 0 < wins < len(runs),
    }
