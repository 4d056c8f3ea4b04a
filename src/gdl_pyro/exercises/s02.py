"""s02's exercises: a sampler of p_data by rejection, a box that trades coverage for accuracy."""

import math
from unittest import mock

import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW
from gdl_pyro.exercises._core import STUB_HINT, Wrong, call, exercise, tensor

# Points asked of the sampler: enough for the shares below to be sharp, a fraction of a second.
NUM_SAMPLES = 20_000
# A rejection sampler's points are all on land; the slack only forgives a point on a cell edge.
MIN_ACCURACY = 0.999
# Total variation of the land-mass shares: sampling alone gives about 0.005 at 20,000 points
# (five shares, each with an error of sqrt(p (1 - p) / N)); 0.02 is four times that.
MAX_TV = 0.02
# Cells 10 degrees wide: p_data puts 15 or more of the 20,000 points in 289 of them.
CELL = 10.0
# A cell where p_data expects at least this many points and the sampler puts none: a correct
# sampler leaves such a cell empty with probability e^-15 = 3e-7.
MIN_EXPECTED_EMPTY = 15
# Pearson's chi-square over the cells where p_data expects at least 5 points (about 330): a
# correct sampler exceeds its degrees of freedom by 8 standard deviations, sqrt(2 dof) each,
# with a probability below 1e-8; a sampler that favours some land over other land does not.
CHI2_SDS = 8
# Repeated points: a continuous distribution repeats none.
MIN_DISTINCT = 0.99
# s02.2: the box must hold at least MIN_COVERAGE of p_data at an accuracy of MIN_ACCURACY_BOX;
# the best boxes reach coverage 0.32 at that accuracy; the section's box has accuracy 0.35.
MIN_ACCURACY_BOX = 0.75
MIN_COVERAGE = 0.25


def _cell_counts(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points per CELL-degree cell of the map, and p_data's expected counts: both (rows, cols)."""
    mask = world.land_mask().double()  # 0.25-degree cells, row 0 in the north
    per = int(CELL / 0.25)
    rows, cols = mask.shape[0] // per, mask.shape[1] // per
    expected = mask.reshape(rows, per, cols, per).sum((1, 3))
    expected = expected / expected.sum() * len(points)
    col = ((points[:, 0] + 180) // CELL).clamp(0, cols - 1).long()
    row = ((90 - points[:, 1]) // CELL).clamp(0, rows - 1).long()
    counts = torch.bincount(row * cols + col, minlength=rows * cols).double()
    return counts.reshape(rows, cols), expected


def _cell_name(row: int, col: int) -> str:
    """The cell (row, col) of ``_cell_counts`` as longitudes and latitudes."""
    west, north = -180 + CELL * col, 90 - CELL * row
    return f"lon {west:.0f} to {west + CELL:.0f}, lat {north - CELL:.0f} to {north:.0f}"


def _no_sample_land(*args, **kwargs):
    raise Wrong(
        "your sampler called world.sample_land (or LandUniform().sample), the sampler this "
        "exercise rebuilds: propose points uniformly from a box and keep those on land "
        "(world.is_land)"
    )


@exercise("s02.1", "Sample p_data by rejection", "sample_p_data")
def _sample_p_data(answer):
    with (
        mock.patch.object(world, "sample_land", _no_sample_land),
        mock.patch.object(world.LandUniform, "sample", _no_sample_land),
    ):
        points = call(answer, NUM_SAMPLES, what="your sampler")
    points = tensor(points, (None, 2), "your sampler's points")
    count = len(points)
    on_land = world.is_land(points)
    accuracy = float(on_land.double().mean()) if count else 0.0
    measured = {"num_points": count, "accuracy": accuracy}
    if count != NUM_SAMPLES:
        if 0 < count < NUM_SAMPLES and accuracy >= MIN_ACCURACY:
            hint = (
                f": you kept the {count / NUM_SAMPLES:.0%} of one batch of proposals that fell on "
                "land. Rejection throws the others away, so propose again until you have "
                "num_samples points"
            )
        else:
            hint = ": one point per row"
        raise Wrong(f"you returned {count} points for num_samples={NUM_SAMPLES}{hint}", **measured)
    if accuracy < MIN_ACCURACY:
        raise Wrong(
            f"{1 - accuracy:.1%} of your points are at sea (points like A of Figure 1-6): the "
            f"accuracy of your sampler is {accuracy:.3f}, and p_data's is 1. Keep a proposal "
            "only where world.is_land is True",
            **measured,
        )
    distinct = len(torch.unique(points, dim=0)) / count
    measured["distinct"] = distinct
    if distinct < MIN_DISTINCT:
        raise Wrong(
            f"only {distinct:.1%} of your points are distinct: a continuous p_data repeats "
            "no point. Draw a fresh proposal for every point",
            **measured,
        )
    labels = world.land_mass_of(points)
    labels = labels[labels >= 0]
    shares = torch.bincount(labels, minlength=len(world.LAND_MASSES)).double() / len(labels)
    truth = world.land_mass_prior().double()
    tv = 0.5 * float((shares - truth).abs().sum())
    measured.update(land_mass_tv=tv, land_mass_shares=shares.tolist())
    if tv > MAX_TV:
        worst = int((shares - truth).abs().argmax())
        name, got, want = world.LAND_MASSES[worst], float(shares[worst]), float(truth[worst])
        missing = [world.LAND_MASSES[i] for i in torch.nonzero(shares == 0).flatten().tolist()]
        if missing:
            hint = (
                f"your sampler never makes a point on {', '.join(missing)}: it has accuracy but "
                "no coverage, and a model must cover all of p_data. Propose from a box that "
                "holds all the land"
            )
        else:
            hint = (
                f"{name} gets {got:.1%} of your points and {want:.1%} of p_data's. p_data is "
                "uniform per square degree of the map, (longitude, latitude), not per km² of "
                "the globe: propose uniformly over a box in these coordinates"
                + (", one that holds all the land" if got < want else "")
            )
        raise Wrong(
            f"every point is on land, but the land masses are not in proportion (total "
            f"variation {tv:.3f} from p_data's shares): {hint}",
            **measured,
        )
    counts, expected = _cell_counts(points)
    empty = (counts == 0) & (expected >= MIN_EXPECTED_EMPTY)
    if empty.any():
        row, col = divmod(int(torch.where(empty, expected, 0).argmax()), counts.shape[1])
        raise Wrong(
            f"your sampler makes no point in the cell {_cell_name(row, col)}, where p_data puts "
            f"{float(expected[row, col]):.0f} of {count} points: they are like B, real points "
            "your sampler can never make. Propose from a box that holds all the land",
            **measured,
        )
    used = expected >= 5
    chi2 = float(((counts - expected) ** 2 / expected)[used].sum())
    dof = int(used.sum()) - 1
    measured.update(chi2=chi2, dof=dof)
    if chi2 > dof + CHI2_SDS * math.sqrt(2 * dof):
        z = torch.where(used, (counts - expected) / expected.sqrt(), 0)
        row, col = divmod(int(z.abs().argmax()), counts.shape[1])
        raise Wrong(
            f"every point is on land and the land masses are in proportion, but not the land "
            f"within them: the cell {_cell_name(row, col)} gets {int(counts[row, col])} of your "
            f"points where p_data puts {float(expected[row, col]):.0f} (chi-square {chi2:.0f} over "
            f"{dof} cells; a sample of p_data stays near {dof}). Keep every proposal on land, "
            "with the same probability",
            **measured,
        )
    return (
        f"your {count} points are all on land (accuracy {accuracy:.3f}), the land masses in "
        f"proportion (total variation {tv:.3f}) and spread as p_data's over {dof + 1} cells of "
        f"{CELL:.0f} degrees (chi-square {chi2:.0f}). From the whole map, rejection "
        f"keeps 1 proposal in {360 * 180 / world.land_area():.1f}: 1 / the map box's accuracy",
        measured,
    )


@exercise("s02.2", "A box that trades coverage for accuracy", "accurate_box")
def _accurate_box(answer):
    corners = call(answer, what="accurate_box")
    if corners is None:
        raise Wrong(f"accurate_box() returned None: {STUB_HINT}")
    if not isinstance(corners, tuple | list) or len(corners) != 2:
        raise Wrong(f"accurate_box() must return two corners, (low, high); got {corners!r:.80}")
    low, high = (tensor(c, (2,), name) for c, name in zip(corners, ("low", "high"), strict=True))
    if not (low < high).all():
        raise Wrong(
            f"low must be below high in both coordinates: low={low.tolist()}, high={high.tolist()}"
            " (low is the south-west corner, high the north-east one)"
        )
    land = world.land_area_in_box(low, high)
    area = float((high - low).prod())
    accuracy, coverage = land / area, land / world.land_area()
    measured = {"accuracy": accuracy, "coverage": coverage, "low": low.tolist()}
    measured["high"] = high.tolist()
    numbers = f"your box has accuracy {accuracy:.3f} and coverage {coverage:.3f}"
    if accuracy < MIN_ACCURACY_BOX:
        off_map = bool(
            (low < torch.tensor(SAMPLE_SPACE_LOW, dtype=low.dtype)).any()
            or (high > torch.tensor(SAMPLE_SPACE_HIGH, dtype=high.dtype)).any()
        )
        hint = (
            " Part of it lies off the map: p_model makes points there too, and none is on land."
            if off_map
            else ""
        )
        raise Wrong(
            f"{numbers}: {1 - accuracy:.0%} of the points it makes are at sea (points like A). "
            f"Shrink it onto land until accuracy >= {MIN_ACCURACY_BOX}.{hint}",
            **measured,
        )
    if coverage < MIN_COVERAGE:
        raise Wrong(
            f"{numbers}: {1 - coverage:.0%} of p_data lies outside it (points like B), where "
            f"its likelihood is 0. Grow it over more land until coverage >= {MIN_COVERAGE}; "
            "world.land_mass_prior() says how much of p_data each land mass holds",
            **measured,
        )
    return (
        f"{numbers} (both exact, from world.land_area_in_box). The MLE box of the section has "
        "accuracy about 0.35 and coverage near 1: a box buys accuracy only with coverage, and "
        "the p_data outside it has likelihood 0",
        measured,
    )
