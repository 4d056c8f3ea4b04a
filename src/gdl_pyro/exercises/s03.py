"""s03's exercises: a box's log-likelihood (and the product that underflows), p_data's density."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.exercises._core import Wrong, call, exercise, map_grid, map_integral, number, tensor

# float32 sums of 5,000 log densities agree with the float64 closed form to about 1e-6 relative.
RELATIVE = 1e-4
# Cells 0.25 degrees wide centred as the land mask's cells are: the midpoint rule is exact there.
STEP = 0.25


def _closed_form(x, low, high) -> float:
    """-N log(area) when every point lies in the box [low, high] (edges included)."""
    return -len(x) * math.log(float((high - low).prod()))


@exercise("s03.1", "A box's log-likelihood, as a sum", "log_likelihood")
def _log_likelihood(answer):
    def log_l(x, low, high) -> float:
        return number(call(answer, x, low, high), "your log-likelihood", allow_inf=True)

    x = world.sample_land(5000)
    low, high = x.min(0).values, x.max(0).values
    expected = _closed_form(x, low, high)
    got = log_l(x, low, high)
    measured = {"answer": got, "closed_form": expected, "num_points": len(x)}
    if got == -math.inf:
        few = x[:3]
        if log_l(few, few.min(0).values - 1, few.max(0).values + 1) == -math.inf:
            hint = "even for 3 points well inside a box: check the density of one point first"
        elif log_l(few, few.min(0).values, few.max(0).values) == -math.inf:
            hint = (
                "your answer says the bounding box misses a point on its edge. The box is "
                "closed: low <= x <= high (torch's Uniform is half-open, [low, high); "
                "gdl_pyro.distributions.UniformBox includes its edges)"
            )
        else:
            area = float((high - low).prod())
            hint = (
                f"a product of {len(x)} densities of 1/{area:.0f} underflows to 0 in floating "
                "point: add the log densities instead of multiplying the densities"
            )
        raise Wrong(
            f"your log-likelihood of {len(x)} points in their bounding box is -inf; it is "
            f"-N log(area) = {expected:.1f}: {hint}",
            **measured,
        )
    if math.isfinite(got) and abs(got - expected / len(x)) <= RELATIVE * abs(expected / len(x)):
        raise Wrong(
            f"your answer {got:.3f} is the mean log density; the log-likelihood of {len(x)} "
            f"points is their sum, {expected:.1f}",
            **measured,
        )
    if not abs(got - expected) <= RELATIVE * abs(expected):
        raise Wrong(
            f"your log-likelihood of {len(x)} points in their bounding box is {got:.1f}; it is "
            f"-N log(area) = {expected:.1f} (the box's density is 1/area inside it)",
            **measured,
        )
    # The left half of the map misses every point east of 0: the likelihood is exactly 0.
    outside = log_l(x, torch.tensor([-180.0, -90.0]), torch.tensor([0.0, 90.0]))
    measured["left_half"] = outside
    if outside != -math.inf:
        raise Wrong(
            f"the left half of the map misses {int((x[:, 0] > 0).sum())} of the points, so its "
            f"likelihood is 0 and its log-likelihood -inf; yours is {outside:.1f}. A point outside "
            "the box has density 0: do not skip it or clip it",
            **measured,
        )
    return (
        f"your log-likelihood is {got:.1f} for {len(x)} points (-N log(area) = {expected:.1f}), "
        "and -inf for a box that misses a point",
        measured,
    )


@exercise("s03.2", "p_data as a density that integrates to 1", "log_p_data")
def _log_p_data(answer):
    grid = map_grid(STEP)
    got = tensor(call(answer, grid), (len(grid),), "log_p_data(x)", allow_inf=True)
    true = world.LandUniform().log_prob(grid).double()
    integral = map_integral(got, STEP)
    land = torch.isfinite(true)
    sea_mass = float(got[~land].exp().sum() * STEP**2)
    error = float((got[land] - true[land]).abs().max())
    measured = {"integral": integral, "mass_at_sea": sea_mass, "max_error_on_land": error}
    if sea_mass > 1e-6:
        raise Wrong(
            f"your density puts {sea_mass:.3g} of its mass at sea; p_data makes points only on "
            "land, so its density is 0 (log density -inf) off land: world.is_land tells which",
            **measured,
        )
    if not abs(integral - 1) < 1e-3:
        raise Wrong(
            f"your density integrates to {integral:.6g} over the map, not 1. Uniform over land "
            f"means the same value on every land point, 1 / land area = 1/{world.land_area():.0f}",
            **measured,
        )
    if error > 1e-4:
        raise Wrong(
            f"your density integrates to 1 but is not uniform over land: its log differs from "
            f"-log(land area) by up to {error:.3g} on land",
            **measured,
        )
    return (
        f"your density integrates to {integral:.6f} over the map, is 0 at sea, and equals "
        f"1 / land area = 1/{world.land_area():.0f} on every land point",
        measured,
    )
