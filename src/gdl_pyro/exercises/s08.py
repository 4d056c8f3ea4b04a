"""s08's exercises: Bayes' rule to p(y | x), the sum rule back to p(x), sampling p(x | y)."""

import math

import pyro.distributions as dist
import scipy.stats
import torch

from gdl_pyro.data import world
from gdl_pyro.exercises._core import Wrong, call, exercise, map_grid, map_integral, nats, tensor

NUM_CLASSES = len(world.LAND_MASSES)
NUM_TRAIN = 20_000
NUM_HELDOUT = 2000
# Groups of points known to come from one land mass: log p(X | y) sums 100 log densities, about
# -1,000 nats for the right land mass, where exp underflows to 0 even in float64 (below -745).
GROUP_SIZE = 100
GROUPS_PER_CLASS = 20
# float32 softmax and logsumexp agree with float64 to about 1e-7 absolute (probabilities) and
# 1e-7 relative (log densities near -1,000); leaving out p(y) moves a probability by up to 0.5.
PROBABILITY_TOLERANCE = 1e-5
LOG_TOLERANCE, LOG_RELATIVE = 1e-4, 1e-5
# Cells of 0.25 degrees centred as the land mask's cells are: the midpoint rule is exact there.
STEP = 0.25


def _close(got: torch.Tensor, want: torch.Tensor, tolerance: float) -> bool:
    """Equal to within ``tolerance``, infinities included (-inf matches -inf)."""
    same_inf = torch.isinf(got) & torch.isinf(want) & (got.sign() == want.sign())
    return bool((same_inf | ((got - want).abs() <= tolerance)).all())


def _close_log(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Log densities equal to float32's precision (absolute, and relative for large ones)."""
    same_inf = torch.isinf(got) & torch.isinf(want) & (got.sign() == want.sign())
    tolerance = LOG_TOLERANCE + LOG_RELATIVE * want.abs()
    return bool((same_inf | ((got - want).abs() <= tolerance)).all())


def _gaussian_pieces():
    """A generative classifier in closed form, one Gaussian per land mass fitted to its points.

    Returns log p(y) (the land masses' shares of the land) and, as (inputs, true classes) pairs,
    log p(x | y) of held-out single points and of groups of GROUP_SIZE points from one land mass.
    """
    x, y = world.sample_land_labelled(NUM_TRAIN)
    gaussians = [
        dist.MultivariateNormal(x[y == c].mean(0), covariance_matrix=torch.cov(x[y == c].T))
        for c in range(NUM_CLASSES)
    ]
    x_test, y_test = world.sample_land_labelled(NUM_HELDOUT)
    single = torch.stack([g.log_prob(x_test) for g in gaussians], -1)
    groups = torch.cat(
        [
            world.sample_land_mass(c, GROUPS_PER_CLASS * GROUP_SIZE).reshape(-1, GROUP_SIZE, 2)
            for c in range(NUM_CLASSES)
        ]
    )
    grouped = torch.stack([g.log_prob(groups).sum(-1) for g in gaussians], -1)
    group_y = torch.arange(NUM_CLASSES).repeat_interleave(GROUPS_PER_CLASS)
    return world.land_mass_prior().log(), (single, y_test), (grouped, group_y)


def _underflowed(value, shape) -> bool:
    """Whether the learner's value has the right shape and holds NaN or -inf (exp underflowed)."""
    try:
        value = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return tuple(value.shape) == shape and bool((value.isnan() | value.isneginf()).any())


@exercise("s08.1", "p(y | x) by Bayes' rule, in logs", "class_posterior")
def _class_posterior(answer):
    log_prior, (single, y_test), (grouped, group_y) = _gaussian_pieces()
    what = "class_posterior(log_prior, log_likelihood)"
    got = tensor(
        call(answer, log_prior.clone(), single.clone(), what=what), single.shape, "p(y | x)"
    )
    joint = log_prior.double() + single.double()
    want = joint.softmax(-1)
    sums = got.sum(-1)
    measured = {"row_sums": [float(sums.min()), float(sums.max())]}
    if not _close(sums, torch.ones_like(sums), 1e-4):
        if _close(got.logsumexp(-1), torch.zeros_like(sums), 1e-4):
            hint = "they are log p(y | x): return the probabilities, their exp"
        elif _close(got.sum(0), torch.ones(NUM_CLASSES, dtype=got.dtype), 1e-4):
            hint = (
                "you normalised each class over the points (dim 0); p(y | x) sums to 1 over "
                "the classes y of each point: normalise along dim -1"
            )
        elif _close(got, joint.exp(), PROBABILITY_TOLERANCE):
            hint = (
                "they are the joint p(x, y) = p(y) p(x | y); divide each row by its sum, "
                "p(x) = sum_y' p(y') p(x | y')"
            )
        else:
            hint = "p(y | x) = p(y) p(x | y) / sum_y' p(y') p(x | y')"
        raise Wrong(
            f"each row of p(y | x) must sum to 1 over the {NUM_CLASSES} land masses; yours sum "
            f"to between {sums.min():.4g} and {sums.max():.4g}: {hint}",
            **measured,
        )
    error = float((got - want).abs().max())
    measured["max_error"] = error
    if error > PROBABILITY_TOLERANCE:
        if _close(got, single.double().softmax(-1), PROBABILITY_TOLERANCE):
            hint = (
                "you left out the prior p(y): Greenland holds 4% of the land and Afro-Eurasia "
                "43%, so near a border the larger land mass is the likelier. Add log p(y) to "
                "log p(x | y) before normalising"
            )
        else:
            hint = "p(y | x) = p(y) p(x | y) / sum_y' p(y') p(x | y')"
        raise Wrong(
            f"your p(y | x) of {NUM_HELDOUT} held-out points differs from Bayes' rule by up to "
            f"{error:.3g}: {hint}",
            **measured,
        )
    value = call(answer, log_prior.clone(), grouped.clone(), what=what)
    if _underflowed(value, tuple(grouped.shape)):
        raise Wrong(
            f"for groups of {GROUP_SIZE} points, where log p(X | y) is about "
            f"{float(grouped.max(-1).values.mean()):.0f} nats for the right land mass, your "
            "p(y | x) holds NaN: exp of those underflows to 0 (even in float64, below -745), "
            "and 0 / 0 is NaN. Normalise in logs: subtract the row's logsumexp (or its "
            "largest value) before exp, as torch.softmax does",
            **measured,
        )
    got_groups = tensor(value, tuple(grouped.shape), "p(y | X) of the groups")
    error_groups = float(
        (got_groups - (log_prior.double() + grouped.double()).softmax(-1)).abs().max()
    )
    measured["max_error_groups"] = error_groups
    if error_groups > PROBABILITY_TOLERANCE:
        raise Wrong(
            f"for groups of {GROUP_SIZE} points (log p(X | y) near -1,000 nats) your p(y | X) "
            f"differs from Bayes' rule by up to {error_groups:.3g}: normalise in logs",
            **measured,
        )
    accuracy = float((got.argmax(-1) == y_test).double().mean())
    without_prior = float((single.argmax(-1) == y_test).double().mean())
    group_accuracy = float((got_groups.argmax(-1) == group_y).double().mean())
    measured |= {"accuracy": accuracy, "accuracy_without_prior": without_prior}
    return (
        f"your p(y | x) is Bayes' rule to within {max(error, error_groups):.1g}, for single "
        f"points and for groups of {GROUP_SIZE} (log p(X | y) near -1,000 nats). With one "
        f"Gaussian per land mass it labels {accuracy:.1%} of held-out points right "
        f"({without_prior:.1%} without p(y)) and {group_accuracy:.0%} of the groups",
        measured,
    )


@exercise("s08.2", "The sum rule: p(x) from p(y) and p(x | y)", "log_evidence")
def _log_evidence(answer):
    what = "log_evidence(log_prior, log_likelihood)"
    grid = map_grid(STEP)
    true_prior = world.land_mass_prior()
    # log p_data(x | y) of every cell: world.LandMassUniform(y).log_prob, in one pass over the map.
    log_areas = torch.tensor([world.land_mass_area(c) for c in range(NUM_CLASSES)]).log()
    on = world.land_mass_of(grid)[:, None] == torch.arange(NUM_CLASSES)
    pieces = torch.where(on, -log_areas, -math.inf)
    got = tensor(
        call(answer, true_prior.log(), pieces.clone(), what=what),
        (len(grid),),
        "log p(x) on the map",
        allow_inf=True,
    )
    land = world.is_land(grid)
    integral = map_integral(got, STEP)
    sea_mass = float(got[~land].exp().sum() * STEP**2)
    log_p_data = -math.log(world.land_area())
    error = float((got[land] - log_p_data).abs().max())
    measured = {"integral": integral, "mass_at_sea": sea_mass, "max_error_on_land": error}
    found = (
        "given p_data's own pieces (p(y) = world.land_mass_prior(), p(x | y) uniform over land "
        f"mass y), your p(x) integrates to {integral:.6g} over the map"
    )
    if sea_mass > 1e-6:
        raise Wrong(
            f"{found} and puts {sea_mass:.3g} of it at sea, where every p(x | y) is 0",
            **measured,
        )
    if error > 1e-4:
        if integral == 0:
            hint = (
                "it is 0 (log -inf) on every land cell: a point lies on one land mass, so the "
                "other four p(x | y) are 0 and a sum of their logs is -inf. p(x) is a sum of "
                "probabilities, sum_y p(y) p(x | y): in logs, torch.logsumexp"
            )
        elif abs(integral - NUM_CLASSES) < 1e-3:
            hint = (
                f"it is the sum of the {NUM_CLASSES} class densities, each of which integrates "
                "to 1: weigh each by its p(y)"
            )
        else:
            kl = float((log_p_data - got[land]).sum() * math.exp(log_p_data) * STEP**2)
            measured["kl_nats"] = kl
            greenland = world.land_mass_of(grid) == world.LAND_MASSES.index("Greenland")
            ratio = float((got[greenland] - log_p_data).exp().mean())
            hint = (
                f"it is not p_data: KL(p_data || yours) is {nats(kl)} nats, and on Greenland "
                f"your density is {ratio:.3g} times p_data's"
            )
            uniform_prior = pieces.double().logsumexp(-1) - math.log(NUM_CLASSES)
            if _close_log(got, uniform_prior):
                hint += (
                    f". It is the mean of the class densities, the sum with p(y) = "
                    f"1/{NUM_CLASSES}: each land mass gets a fifth of the mass whatever its "
                    "size. Weigh p(x | y) by the p(y) you are given, each land mass's share "
                    "of the land"
                )
            else:
                hint += ". p(x) = sum_y p(y) p(x | y)"
        raise Wrong(f"{found}: {hint}", **measured)
    if not abs(integral - 1) < 1e-3:
        raise Wrong(f"{found}, not 1: p(x) = sum_y p(y) p(x | y)", **measured)

    log_prior, (single, _), (grouped, _) = _gaussian_pieces()
    for inputs, name in [(single, "held-out points"), (grouped, f"groups of {GROUP_SIZE}")]:
        want = (log_prior.double() + inputs.double()).logsumexp(-1)
        value = call(answer, log_prior.clone(), inputs.clone(), what=what)
        if _underflowed(value, (len(inputs),)) and torch.isfinite(want).all():
            raise Wrong(
                f"with one Gaussian per land mass, for {name} points, where log p(X | y) is "
                f"near {float(want.mean()):.0f} nats, your log p(X) is -inf or NaN: exp of "
                "those underflows to 0 (even in float64, below -745). Stay in logs: "
                "torch.logsumexp(log_prior + log_likelihood, -1)",
                **measured,
            )
        got_gauss = tensor(value, (len(inputs),), f"log p(x) of the {name}", allow_inf=True)
        if not _close_log(got_gauss, want):
            error_gauss = float((got_gauss - want).abs().max())
            measured["max_error_gaussians"] = error_gauss
            best = (log_prior.double() + inputs.double()).max(-1).values
            hint = (
                "the largest term p(y) p(x | y) is not the sum: it was for the disjoint land "
                "masses, not where the Gaussians overlap. Use torch.logsumexp"
                if _close_log(got_gauss, best)
                else "p(x) = sum_y p(y) p(x | y), in logs torch.logsumexp"
            )
            raise Wrong(
                f"{found} and equals p_data, but with one Gaussian per land mass your log p(x) "
                f"of {name} differs from log sum_y p(y) p(x | y) by up to {error_gauss:.3g}: "
                f"{hint}",
                **measured,
            )
    return (
        f"{found}, is 0 at sea and 1 / land area on every land cell: p_data itself. With one "
        "Gaussian per land mass it is their mixture's log density, for single points and for "
        f"groups of {GROUP_SIZE} (near -1,000 nats)",
        measured,
    )


# The conditional sampler is asked for three land masses: a large one, and two small ones where
# rejection from p_data keeps fewer than 4% of the draws.
SAMPLED = ("Americas", "Australia", "Greenland")
NUM_SAMPLES = 3000
# Tests of uniformity whose false alarm rate is 1e-6 each: any correct sampler passes.
FALSE_ALARM = 1e-6
BIN_DEG = 5.0  # bins of the spread over each land mass
MIN_EXPECTED = 5.0  # bins expecting fewer points are pooled (the chi-square law needs a few)
SUBCELL_BINS = 10  # the position inside each 0.25-degree cell, along each axis


def _chi_square(counts: torch.Tensor, expected: torch.Tensor) -> tuple[float, float]:
    """Pearson's statistic over bins (those expecting few points pooled) and its threshold."""
    small = expected < MIN_EXPECTED
    counts = torch.cat([counts[~small], counts[small].sum(0, keepdim=True)])
    expected = torch.cat([expected[~small], expected[small].sum(0, keepdim=True)])
    keep = expected > 0
    statistic = float(((counts - expected)[keep] ** 2 / expected[keep]).sum())
    threshold = float(scipy.stats.chi2.isf(FALSE_ALARM, int(keep.sum()) - 1))
    return statistic, threshold


def _bins(points: torch.Tensor) -> torch.Tensor:
    """The index of each point's BIN_DEG-degree bin of the map (rows from the north)."""
    per_row = int(360 / BIN_DEG)
    col = ((points[:, 0] + 180) / BIN_DEG).floor().clamp(0, per_row - 1)
    row = ((90 - points[:, 1]) / BIN_DEG).floor().clamp(0, 180 / BIN_DEG - 1)
    return (row * per_row + col).long()


def _area_shares(land_mass: int) -> torch.Tensor:
    """Each BIN_DEG-degree bin's share of the land mass's area (its mask cells counted)."""
    cells = (world.land_mass_labels() == land_mass).double()
    k = int(BIN_DEG / STEP)
    counts = cells.reshape(cells.shape[0] // k, k, cells.shape[1] // k, k).sum((1, 3))
    return (counts / counts.sum()).flatten()


def _check_sample(answer, land_mass: int, measured: dict) -> None:
    """One land mass's samples: how many, on target, continuous, uniform; or a ``Wrong``."""
    name = world.LAND_MASSES[land_mass]
    what = f"sample_given({land_mass}, {NUM_SAMPLES})"
    points = tensor(call(answer, land_mass, NUM_SAMPLES, what=what), (None, 2), what)
    share = float(world.land_mass_prior()[land_mass])
    if len(points) != NUM_SAMPLES:
        hint = (
            f"rejection from p_data keeps a share p(y) = {share:.1%} of its draws for {name}: "
            f"draw about {NUM_SAMPLES} / p(y) = {NUM_SAMPLES / share:.0f} points, or draw "
            "until you have enough, and return the first num_samples"
            if len(points) < NUM_SAMPLES
            else "return the first num_samples of them"
        )
        raise Wrong(
            f"{what} ({name}) returned {len(points)} points, not {NUM_SAMPLES}: {hint}",
            **measured,
        )
    labels = world.land_mass_of(points)
    on_target = float((labels == land_mass).double().mean())
    measured[f"on_target_{name}"] = on_target
    if on_target < 0.999:
        at_sea = float((labels < 0).double().mean())
        shares = torch.bincount(labels[labels >= 0], minlength=NUM_CLASSES).double() / len(labels)
        other = int(shares.argmax())
        if other != land_mass and shares[other] > 0.5:
            hint = (
                f"most lie on {world.LAND_MASSES[other]} (land mass {other}): the index counts "
                f"from 0 in world.LAND_MASSES = {world.LAND_MASSES}"
            )
        elif (shares - world.land_mass_prior().double()).abs().sum() / 2 < 0.1:
            hint = (
                "they spread over the land masses as p_data's do: that is p(x), not p(x | y). "
                f"Keep only the draws on land mass {land_mass} (world.land_mass_of)"
            )
        elif at_sea > 0.001:
            hint = (
                f"{at_sea:.1%} of them are at sea (or off the map), where p(x | y) is 0: keep "
                "only points with world.land_mass_of(x) == y"
            )
        else:
            hint = "keep only points with world.land_mass_of(x) == y"
        raise Wrong(
            f"only {on_target:.1%} of the points {what} returned lie on {name}: {hint}",
            **measured,
        )
    distinct = len(torch.unique(points, dim=0)) / len(points)
    measured[f"distinct_{name}"] = distinct
    repeats = Wrong(
        f"only {distinct:.1%} of the points {what} returned are distinct: p(x | y) is a "
        "density, under which two draws coincide with probability 0. Draw each point "
        f"afresh from p_data and keep those on {name}",
        **measured,
    )
    if distinct < 0.5:
        raise repeats
    inside = torch.stack([(points[:, 0] + 180) / STEP, (90 - points[:, 1]) / STEP], -1)
    position = ((inside - inside.floor()) * SUBCELL_BINS).long().clamp(0, SUBCELL_BINS - 1)
    for axis, along in enumerate(["longitude", "latitude"]):
        counts = torch.bincount(position[:, axis], minlength=SUBCELL_BINS).double()
        statistic, threshold = _chi_square(
            counts, torch.full((SUBCELL_BINS,), len(points) / SUBCELL_BINS, dtype=torch.float64)
        )
        if statistic > threshold:
            raise Wrong(
                f"within the map's 0.25-degree cells, the {along} of the points for {name} is "
                f"not uniform (chi-square {statistic:.0f}, a uniform sampler stays below "
                f"{threshold:.0f}): points at the cells' centres or corners are not uniform "
                "over the land. Draw from p_data (world.sample_land) and keep those on the "
                "land mass",
                **measured,
            )
    if distinct < 1:
        raise repeats
    expected = _area_shares(land_mass) * len(points)
    counts = torch.bincount(_bins(points), minlength=len(expected)).double()
    statistic, threshold = _chi_square(counts, expected)
    measured[f"chi_square_{name}"] = statistic
    if statistic > threshold:
        worst = int(((counts - expected) ** 2 / expected.clamp(min=MIN_EXPECTED)).argmax())
        per_row = int(360 / BIN_DEG)
        lon, lat = -180 + BIN_DEG * (worst % per_row), 90 - BIN_DEG * (worst // per_row + 1)
        raise Wrong(
            f"the points for {name} are on it, but not spread uniformly over it: chi-square "
            f"{statistic:.0f} over {BIN_DEG:g}-degree bins, where a uniform sampler stays below "
            f"{threshold:.0f}. The bin at longitude {lon:g} to {lon + BIN_DEG:g}, latitude "
            f"{lat:g} to {lat + BIN_DEG:g} holds {counts[worst] / len(points):.1%} of your "
            f"points and {expected[worst] / len(points):.1%} of the area of {name}. p(x | y) is "
            "uniform over the land mass: draw from p_data and keep those on it",
            **measured,
        )


@exercise("s08.3", "A point on Greenland, on request", "sample_given")
def _sample_given(answer):
    measured: dict = {}
    for name in SAMPLED:
        _check_sample(answer, world.LAND_MASSES.index(name), measured)
    return (
        f"your samples of p(x | y) for {', '.join(SAMPLED)} all lie on the requested land mass, "
        f"never repeat, and spread over it uniformly ({NUM_SAMPLES} points each; chi-square "
        f"over {BIN_DEG:g}-degree bins and inside the map's cells, each test at a false alarm "
        f"rate of {FALSE_ALARM:g})",
        measured,
    )
