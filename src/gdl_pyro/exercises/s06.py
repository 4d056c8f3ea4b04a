"""s06's exercises: leave-one-out by importance weights, the held-out gap, a paired difference."""

import math
from functools import cache

import pyro.distributions as dist
import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox
from gdl_pyro.exercises._core import Wrong, call, exercise, map_grid, number

# A normal mean with known scale and a normal prior: the leave-one-out predictive is closed form.
NUM_DATA, SIGMA, TAU = 20, 1.0, 3.0
OUTLIER = 3.5  # the first point lies this many sigmas above the mean of the others
# The guide is off-centre and too wide, as a guide may be: mean m - 0.8 s, scale 1.3 s, for the
# posterior N(m, s^2). Wider than the posterior, so the importance weights have a finite variance.
GUIDE_SHIFT, GUIDE_WIDTH = -0.8, 1.3
NUM_DRAWS = 20_000
# The estimate's Monte Carlo sd at 20,000 draws of this guide is about 0.005 nats (measured over
# 100 repetitions): 0.04 is 8 of them, and admits PSIS-smoothed weights too. The nearest named
# mistake (E[log p] for the typical point) is 0.12 nats away.
LOO_TOLERANCE = 0.04
SHIFT = 1000.0  # added to every log weight: they are known only up to a constant
SHIFT_TOLERANCE = 1e-3  # float64 logsumexp of values near 1,000 is exact to 1e-12


def _posterior(y: torch.Tensor) -> tuple[float, float]:
    """The conjugate posterior N(mean, sd^2) of the mean given the points y."""
    precision = 1 / TAU**2 + len(y) / SIGMA**2
    return float(y.sum() / SIGMA**2 / precision), precision**-0.5


def _pair(value, what: str, *, allow_inf: bool = False) -> tuple[float, float]:
    """Two numbers from the learner's answer (a tuple, a list or a tensor of 2), or a Wrong."""
    if value is None or value is Ellipsis:
        number(value, what)  # the guard's message: fill in the stub
    if isinstance(value, torch.Tensor) and value.numel() == 2:
        value = value.reshape(2).tolist()
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise Wrong(f"{what} must be two numbers, (estimate, standard error); got {value!r:.60}")
    estimate, error = value
    return (
        number(estimate, f"{what}: its estimate", allow_inf=allow_inf),
        number(error, f"{what}: its standard error", allow_inf=allow_inf),
    )


@exercise("s06.1", "Leave-one-out for one point, by hand", "loo_point")
def _loo_point(answer):
    y = torch.randn(NUM_DATA, dtype=torch.float64) * SIGMA + 1.0
    y[0] = y[1:].mean() + OUTLIER * SIGMA
    mean, sd = _posterior(y)
    guide = dist.Normal(mean + GUIDE_SHIFT * sd, GUIDE_WIDTH * sd)
    theta = guide.sample((NUM_DRAWS,))
    log_joint = dist.Normal(0.0, TAU).log_prob(theta) + dist.Normal(theta[:, None], SIGMA).log_prob(
        y
    ).sum(-1)
    log_weights = log_joint - guide.log_prob(theta)
    measured = {}
    for i, kind in ((0, "the outlier"), (5, "a typical point")):
        loglik = dist.Normal(theta, SIGMA).log_prob(y[i])
        got = number(call(answer, loglik.clone(), log_weights.clone()), "your log p(y_i | y_-i)")
        loo_mean, loo_sd = _posterior(torch.cat([y[:i], y[i + 1 :]]))
        exact = float(dist.Normal(loo_mean, math.hypot(loo_sd, SIGMA)).log_prob(y[i]))
        measured[f"point_{i}"] = {"answer": got, "exact": exact}
        if abs(got - exact) <= LOO_TOLERANCE:
            continue
        normalised = log_weights - log_weights.logsumexp(0)
        mistakes = {
            "log p(y_i | y), the posterior predictive with y_i itself in the data; leaving it "
            "out divides by p(y_i | theta): E[1/p(y_i | theta)] under the posterior is "
            "1 / p(y_i | y_-i)": float((normalised + loglik).logsumexp(0)),
            "the harmonic mean over the guide's draws, as if they were posterior draws: weight "
            "each draw by exp(log_weights)": math.log(NUM_DRAWS) - float((-loglik).logsumexp(0)),
            "the weighted mean of log p(y_i | theta), E[log p], where LOO needs the log of a "
            "mean, log E[...]": float((normalised.exp() * loglik).sum()),
            "not normalised by the weights' sum: p(theta, y) / q(theta) averages to p(y), not "
            "1, so divide by their sum (logsumexp of the log weights)": math.log(NUM_DRAWS)
            - float((log_weights - loglik).logsumexp(0)),
        }
        named = min(mistakes, key=lambda m: abs(mistakes[m] - got))
        hint = (
            f"it is {named}"
            if abs(mistakes[named] - got) <= LOO_TOLERANCE
            else "log p(y_i | y_-i) = -log E[1/p(y_i | theta)] over the posterior, which the "
            "guide's draws estimate with their normalised importance weights"
        )
        raise Wrong(
            f"for {kind}, y_{i} = {float(y[i]):.2f}, your answer is {got:.3f}; the exact "
            f"leave-one-out log density is {exact:.3f}: {hint}",
            **measured,
        )
    loglik = dist.Normal(theta, SIGMA).log_prob(y[0])
    try:
        shifted = number(
            call(answer, loglik.clone(), log_weights + SHIFT),
            "your log p(y_i | y_-i)",
            allow_inf=True,
        )
    except Wrong as wrong:
        if "NaN" not in wrong.message:
            raise
        shifted = math.nan
    original = measured["point_0"]["answer"]
    measured["shifted"] = shifted
    if not math.isfinite(shifted):
        raise Wrong(
            f"with {SHIFT:.0f} added to every log weight your answer is {shifted}: exp(log "
            "weight) overflows. The weights are known only up to a constant (p(y) is unknown): "
            "work with logs, torch.logsumexp",
            **measured,
        )
    if abs(shifted - original) > SHIFT_TOLERANCE:
        raise Wrong(
            f"with {SHIFT:.0f} added to every log weight your answer moves from {original:.3f} "
            f"to {shifted:.3f}; the weights are known only up to a constant, so the answer must "
            "not depend on it: normalise the weights by their sum",
            **measured,
        )
    return (
        f"your leave-one-out log densities are within {LOO_TOLERANCE} nats of the exact "
        f"ones ({measured['point_0']['exact']:.3f} for the outlier, "
        f"{measured['point_5']['exact']:.3f} for a typical point) from {NUM_DRAWS} draws of a "
        "guide that is not the posterior, and do not depend on the weights' constant",
        measured,
    )


@cache
def _land() -> torch.Tensor:
    """The midpoints of the land cells (float64): p_data's expectations are means over them."""
    grid = map_grid(0.25)  # the land mask's own cells
    return grid[world.is_land(grid)].double()


def _gaussian(shift=(0.0, 0.0), stretch: float = 1.0) -> dist.MultivariateNormal:
    """The Gaussian with p_data's mean and covariance (the best Gaussian), moved and widened."""
    land = _land()
    loc = land.mean(0) + torch.tensor(shift, dtype=torch.float64)
    return dist.MultivariateNormal(loc, torch.cov(land.T) * stretch)


def _log_q(q):
    """A log density that hands the learner's points to q as float64 and returns float32."""
    return lambda points: q.log_prob(torch.as_tensor(points).double()).float()


NUM_POINTS = 5000
# The box's log density is constant on land: every estimate is exact, and its error 0.
EXACT = 1e-4
# An estimate from n points of p_data is judged to 5 standard errors (a correct answer fails by
# chance with probability below 1e-6; the check's seed is fixed anyway).
Z_SCORE = 5.0
# The sample sd of 5,000 log densities is within 2% of the true sd (its own error is about
# sd * sqrt((kurtosis - 1) / 4n)); 20% admits any estimator of it, biased or not.
SE_RATIO = 1.2


def _se_hint(se: float, true_se: float, n: int) -> str:
    """What a standard error that is off by a factor says about how it was computed."""
    ratio = se / true_se if true_se > 0 else math.inf
    if abs(ratio / math.sqrt(n) - 1) < 0.3:
        return "that is the points' sd; the error of their mean is sd / sqrt(n)"
    if abs(ratio * math.sqrt(n) - 1) < 0.3:
        return "that is sd / n; the error of a mean of n points is sd / sqrt(n)"
    return "the standard error of a mean of n points is their sd / sqrt(n)"


@exercise("s06.2", "The held-out gap, with its error", "heldout_kl")
def _heldout_kl(answer):
    entropy = math.log(world.land_area())
    whole_map = UniformBox(torch.tensor([-180.0, -90.0]), torch.tensor([180.0, 90.0]))
    exact = math.log(360 * 180) - entropy
    gap, se = _pair(call(answer, whole_map.log_prob, NUM_POINTS), "heldout_kl(log_q, n)")
    measured = {"box": {"gap": gap, "se": se, "exact": exact}}
    if abs(gap - exact) > EXACT:
        if abs(gap - (exact + entropy)) < 1e-3:
            hint = (
                "that is the held-out NLL, the cross-entropy; the KL subtracts p_data's entropy, "
                f"log(land area) = {entropy:.3f}, the NLL of p_data itself"
            )
        elif gap < 0:
            hint = "a KL is never negative: the NLL is -mean(log q)"
        else:
            hint = "KL(p_data || q) = E_p[-log q] - log(land area)"
        raise Wrong(
            f"for the box over the whole map your gap is {gap:.4f}; it is exactly "
            f"log(map area / land area) = {exact:.4f}: {hint}",
            **measured,
        )
    if abs(se) > EXACT:
        raise Wrong(
            f"for the box over the whole map your standard error is {se:.4g}: q is the same at "
            "every land point, so every sample of points gives the same mean, and its error is 0",
            **measured,
        )
    q = _gaussian()
    gap, se = _pair(call(answer, _log_q(q), NUM_POINTS), "heldout_kl(log_q, n)")
    log_q = q.log_prob(_land())
    kl = float(-log_q.mean()) - entropy
    true_se = float(log_q.std()) / math.sqrt(NUM_POINTS)
    measured["gaussian"] = {"gap": gap, "se": se, "kl": kl, "true_se": true_se}
    if abs(gap - kl) > Z_SCORE * true_se:
        at_sea = (torch.rand(200_000, 2, dtype=torch.float64) - 0.5) * torch.tensor(
            [360.0, 180.0], dtype=torch.float64
        )
        over_map = float(-q.log_prob(at_sea).mean()) - entropy
        if abs(gap - over_map) <= Z_SCORE * true_se:
            hint = (
                "that is the mean over points uniform on the whole map, sea included; the KL "
                "is an expectation under p_data: points from world.sample_land"
            )
        elif abs(gap + kl + entropy) <= Z_SCORE * true_se or gap < 0:
            hint = "a KL is never negative: the NLL is -mean(log q)"
        else:
            hint = "KL(p_data || q) = E_p[-log q] - log(land area), over points of p_data"
        raise Wrong(
            f"for the Gaussian with p_data's mean and covariance your gap is {gap:.3f}; its KL, "
            f"integrated over every land cell, is {kl:.3f} (standard error of a {NUM_POINTS}-"
            f"point estimate: {true_se:.4f}): {hint}",
            **measured,
        )
    if not 1 / SE_RATIO <= se / true_se <= SE_RATIO:
        raise Wrong(
            f"for the Gaussian your standard error is {se:.4g}; the sd of log q over p_data, "
            f"over sqrt({NUM_POINTS}), is {true_se:.4g}: {_se_hint(se, true_se, NUM_POINTS)}",
            **measured,
        )
    return (
        f"your gaps are exact for the box ({exact:.4f}) and {gap:.3f} +- {se:.4f} for the "
        f"Gaussian, whose KL on the grid is {kl:.3f} with a true standard error of {true_se:.4f}",
        measured,
    )


NUM_PAIRED = 2000
SHIFTED = {"shift": (10.0, 5.0), "stretch": 1.3}  # the second Gaussian: moved and widened
# Two scores of the same points differ by exactly 0 (float32 on both sides).
SAME = 1e-6


@exercise("s06.3", "Which fit is better? The paired error", "better_by")
def _better_by(answer):
    q = _gaussian()
    what = "better_by(log_q_a, log_q_b, n)"
    advantage, se = _pair(call(answer, _log_q(q), _log_q(q), NUM_PAIRED), what)
    measured = {"same": {"advantage": advantage, "se": se}}
    if abs(advantage) > SAME:
        raise Wrong(
            f"for a model against itself your advantage is {advantage:.4g}, not 0: score both "
            "models on the same points of p_data, then average the per-point differences",
            **measured,
        )
    if abs(se) > SAME:
        raise Wrong(
            f"for a model against itself every per-point difference is 0, and so is the paired "
            f"standard error; yours is {se:.4g}. sqrt(se_a^2 + se_b^2), the unpaired error, "
            "treats the two models' scores as independent; on the same points they are not: "
            "take the sd of the per-point differences over sqrt(n)",
            **measured,
        )
    q_b = _gaussian(**SHIFTED)
    advantage, se = _pair(call(answer, _log_q(q), _log_q(q_b), NUM_PAIRED), what)
    log_a, log_b = q.log_prob(_land()), q_b.log_prob(_land())
    true = float((log_a - log_b).mean())
    true_se = float((log_a - log_b).std()) / math.sqrt(NUM_PAIRED)
    unpaired = math.sqrt(float(log_a.var() + log_b.var()) / NUM_PAIRED)
    measured["shifted"] = {
        "advantage": advantage,
        "se": se,
        "true": true,
        "true_se": true_se,
        "unpaired_se": unpaired,
    }
    if abs(advantage - true) > Z_SCORE * true_se:
        hint = (
            "the sign is flipped: a's advantage is mean(log q_a - log q_b), positive when a "
            "scores the points higher (its gap is smaller)"
            if abs(advantage + true) <= Z_SCORE * true_se
            else "average log q_a - log q_b over the same points of p_data"
        )
        raise Wrong(
            f"the Gaussian with p_data's moments against one moved by {SHIFTED['shift']} and "
            f"widened: your advantage is {advantage:.4f}; on the grid it is {true:.4f} (paired "
            f"standard error of a {NUM_PAIRED}-point estimate: {true_se:.4f}): {hint}",
            **measured,
        )
    if not 1 / SE_RATIO <= se / true_se <= SE_RATIO:
        hint = (
            "that is the unpaired error sqrt(se_a^2 + se_b^2), which treats the two scores as "
            "independent. On the same points they rise and fall together: the sd of the "
            "per-point differences over sqrt(n) is the error of the difference"
            if 1 / SE_RATIO <= se / unpaired <= SE_RATIO
            else _se_hint(se, true_se, NUM_PAIRED)
        )
        raise Wrong(
            f"your standard error is {se:.4f}; the paired one is {true_se:.4f}: {hint}",
            **measured,
        )
    return (
        f"a scores {advantage:.4f} +- {se:.4f} nats per point better (on the grid "
        f"{true:.4f} +- {true_se:.4f}): {abs(true) / true_se:.0f} paired errors from 0, where "
        f"the unpaired error, {unpaired:.4f}, would have called it noise",
        measured,
    )
