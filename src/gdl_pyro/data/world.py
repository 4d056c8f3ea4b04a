"""The world map of the chapter's "Hello World": p_data is uniform over land.

The land mask is a 0.25-degree equirectangular grid (1440 x 720 cells, row 0 in the north)
rasterised from Natural Earth 1:50m land by ``scripts/build_land_mask.py``; see NOTICE.
Coordinates are (longitude, latitude) in degrees, over the sample space
[-180, 180] x [-90, 90]. Densities are per square degree, because p_data is uniform in
these coordinates (not per km^2: a degree cell near a pole is smaller on the globe).
``coverage`` and ``framework_table`` measure fits of p_data against it.
"""

import math
import time

import torch

from gdl_pyro._validation import as_count, as_points, generator
from gdl_pyro.data._grid import (
    CELL_DEG,
    UniformOverCells,
    _cell_index,
    _land_cells,
    _mask,
    sample_cells,
)
from gdl_pyro.data.landmasses import (  # the labelled world: classes for s08
    LAND_MASSES,
    LandMassUniform,
    land_mass_area,
    land_mass_labels,
    land_mass_of,
    land_mass_prior,
    land_mass_tv,
    sample_land_labelled,
    sample_land_mass,
)

__all__ = [
    "LAND_MASSES",
    "LandMassUniform",
    "COVERAGE_FRACTION",
    "LandUniform",
    "coverage",
    "framework_table",
    "is_land",
    "jitter",
    "land_area",
    "land_area_in_box",
    "land_mask",
    "land_mass_area",
    "land_mass_labels",
    "land_mass_of",
    "land_mass_prior",
    "land_mass_tv",
    "sample_land",
    "sample_land_labelled",
    "sample_land_mass",
]


def land_mask() -> torch.Tensor:
    """The land mask as a bool tensor of shape (720, 1440), north-up, columns from -180 east.

    Cell (i, j) spans longitudes -180 + 0.25 j to -180 + 0.25 (j + 1) and latitudes
    90 - 0.25 (i + 1) to 90 - 0.25 i. Pass ``extent=(-180, 180, -90, 90)`` and
    ``origin="upper"`` to ``imshow`` to draw it.
    """
    return _mask().clone()


def land_area() -> float:
    """Area of the land in square degrees of (longitude, latitude); log of it is about 9.97."""
    return float(_land_cells().numel()) * CELL_DEG**2


def is_land(points) -> torch.Tensor:
    """Whether each (longitude, latitude) point lies on land.

    Parameters
    ----------
    points : array-like of shape (N, 2)
        Longitude and latitude in degrees. Points outside [-180, 180] x [-90, 90] are not land.

    Returns
    -------
    torch.Tensor
        Bool tensor of shape (N,).
    """
    points = as_points(points, "points", allow_empty=True)
    row, col, inside = _cell_index(points)
    return _mask()[row, col] & inside


def sample_land(num_samples: int, *, seed: int | None = None) -> torch.Tensor:
    """Draw points uniformly over land in (longitude, latitude): samples from p_data.

    Every cell has the same area in square degrees, so a uniform land cell followed by a
    uniform point inside it is exactly uniform over land.

    Parameters
    ----------
    num_samples : int
        Number of points, >= 0.
    seed : int, optional
        Seed of a private generator; None uses torch's global RNG (set by pyro.set_rng_seed).

    Returns
    -------
    torch.Tensor
        Shape (num_samples, 2), columns (longitude, latitude) in degrees.
    """
    return sample_cells(_land_cells(), as_count(num_samples, "num_samples"), generator(seed))


class LandUniform(UniformOverCells):
    """p_data: the uniform distribution over land, as a Pyro-compatible distribution.

    ``log_prob`` is ``-log(land_area())`` on land and ``-inf`` elsewhere (never NaN), so
    ``pyro.sample("obs", LandUniform(), obs=x)`` scores data under the true p_data. Its
    ``entropy()`` is ``log(land_area())``: the lowest expected NLL any model can reach, so
    for a model q, E_p[-log q(x)] - entropy() = KL(p_data || q).

    Examples
    --------
    >>> p_data = LandUniform()
    >>> x = p_data.sample((1000,))
    >>> bool(torch.isfinite(p_data.log_prob(x)).all())
    True
    """

    def __init__(self, validate_args=None):
        super().__init__(_mask(), validate_args=validate_args)


def as_noise(noise) -> float:
    """``noise`` checked as a standard deviation in degrees: finite and >= 0."""
    if not (isinstance(noise, int | float) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number of degrees >= 0; got {noise!r}")
    return float(noise)


def jitter(points: torch.Tensor, noise: float) -> torch.Tensor:
    """Points plus N(0, noise^2) in degrees, kept on the map.

    Longitude wraps round the globe (a point pushed east of 180 reappears east of -180), and
    latitude reflects at the poles. Training on freshly jittered points at every step is noise
    regularisation (Rothfuss et al., 2019): a network can no longer sharpen onto single
    training points. ``noise=0`` returns the points as they are. Draws from torch's RNG.
    """
    noise = as_noise(noise)
    if noise == 0:
        return points
    noisy = points + noise * torch.randn_like(points)
    lon = torch.remainder(noisy[..., 0] + 180.0, 360.0) - 180.0
    # Reflection at both poles, as often as the noise asks: a triangle wave of period 360.
    folded = torch.remainder(noisy[..., 1] + 90.0, 360.0)
    lat = torch.where(folded > 180.0, 360.0 - folded, folded) - 90.0
    return torch.stack([lon, lat], dim=-1)


# A point of p_data counts as covered when the model gives it at least 1% of p_data's density.
COVERAGE_FRACTION = 0.01


def coverage(log_prob) -> float:
    """The framework's coverage: the share of p_data's points that a model covers.

    A point x ~ p_data is covered when log q(x) >= log p_data(x) + log(COVERAGE_FRACTION): the
    model gives it at least 1% of p_data's density. Every module and chapter uses this one
    definition. A uniform box gives every point inside it land_area() / box area of p_data's
    density (0.33 even for the whole map), so a box's coverage is the share of p_data inside it,
    land_area_in_box / land_area().

    Parameters
    ----------
    log_prob : torch.Tensor of shape (N,)
        log q(x_i) of a model at points x_i drawn from p_data.
    """
    log_prob = torch.as_tensor(log_prob)
    if log_prob.dim() != 1 or log_prob.numel() == 0 or torch.isnan(log_prob).any():
        raise ValueError("log_prob must be a non-empty 1-D tensor without NaN, one value a point")
    threshold = -math.log(land_area()) + math.log(COVERAGE_FRACTION)
    return (log_prob >= threshold).double().mean().item()


def land_area_in_box(low, high) -> float:
    """Exact land area (square degrees) inside the box [low, high]: cells count by their overlap.

    With it the framework's measures have closed forms: accuracy = land_area_in_box / box area
    (share of box samples on land) and coverage = land_area_in_box / land_area() (share of
    p_data inside the box).
    """
    low = torch.as_tensor(low, dtype=torch.float64).clamp(min=torch.tensor([-180.0, -90.0]))
    high = torch.as_tensor(high, dtype=torch.float64).clamp(max=torch.tensor([180.0, 90.0]))
    rows, cols = _mask().shape
    west = -180 + CELL_DEG * torch.arange(cols, dtype=torch.float64)
    north = 90 - CELL_DEG * torch.arange(rows, dtype=torch.float64)
    lon_overlap = (torch.minimum(west + CELL_DEG, high[0]) - torch.maximum(west, low[0])).clamp(
        min=0
    )
    lat_overlap = (torch.minimum(north, high[1]) - torch.maximum(north - CELL_DEG, low[1])).clamp(
        min=0
    )
    return float((lat_overlap[:, None] * lon_overlap[None, :])[_mask()].sum())


def framework_table(
    fits: list, x_test, *, num_samples: int = 100_000, log_scores=None
) -> list[dict]:
    """The chapter's framework for each fit: held-out NLL, gap, accuracy, coverage, speeds.

    ``fits`` are fits from ``gdl_pyro.fitting`` (anything with ``name``, ``log_prob`` and
    ``sample``). heldout_nll is nats per covered held-out point (those with finite density);
    heldout_missed counts the others (their density is 0, so the true KL is infinite when it is
    not 0). coverage is ``coverage`` of the held-out points; land_mass_tv is ``land_mass_tv`` of
    the samples. ``log_scores`` maps a fit's name to the per-point scores its NLL is made of when
    they are not ``log_prob(x_test)`` (a bound, for a fit with no density).
    """
    entropy = LandUniform().entropy().item()
    log_scores = log_scores or {}
    rows = []
    for fitted in fits:
        # A Bayesian fit's log_prob is the posterior predictive's.
        lpd = log_scores[fitted.name] if fitted.name in log_scores else fitted.log_prob(x_test)
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
                "accuracy": is_land(samples).double().mean().item(),
                "coverage": coverage(lpd),
                "land_mass_tv": land_mass_tv(samples),
                "samples_per_second": num_samples / seconds,
                "fit_seconds": fitted.seconds,
            }
        )
    return rows
