"""Diagnostics of a posterior and of its approximation: r_hat, k-hat, widths (as arviz/stats).

- r_hat says whether MCMC chains agree (``rhat_max``, against ``RHAT_THRESHOLD``).
- r_hat means nothing for one VI run; ``vi_khat`` gives Pyro's PSIS k-hat of log p(x, theta) -
  log q(theta) over guide draws (Yao et al., 2018), which says whether q can be trusted, and
  ``khat_threshold`` the largest k-hat that S draws can vouch for.
- ``sd_ratio`` compares the posterior widths of two fits, parameter by parameter (e.g. VI
  against NUTS).
"""

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from pyro.infer.importance import psis_diagnostic

from gdl_pyro._arviz import az
from gdl_pyro._validation import as_count
from gdl_pyro.infer import KHAT_BATCH

__all__ = ["RHAT_THRESHOLD", "khat_threshold", "rhat_max", "sd_ratio", "vi_khat"]


# r_hat above this says the chains disagree (Vehtari, Gelman, Simpson, Carpenter and Buerkner,
# 2021, "Rank-normalization, folding, and localization: an improved R-hat").
RHAT_THRESHOLD = 1.01


def rhat_max(idata: az.InferenceData) -> float:
    """The largest r_hat over every posterior variable with any spread.

    Entries fixed by construction (the 0 and 1 of a Cholesky factor) have no variance and an
    undefined r_hat; they are left out rather than allowed to turn the maximum into NaN.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = az.rhat(idata).to_array().values
    return float(np.nanmax(values))


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
