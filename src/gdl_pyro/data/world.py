"""The world map of the chapter's "Hello World": p_data is uniform over land.

The land mask is a 0.25-degree equirectangular grid (1440 x 720 cells, row 0 in the north)
rasterised from Natural Earth 1:50m land by ``scripts/build_land_mask.py``; see NOTICE.
Coordinates are (longitude, latitude) in degrees, over the sample space
[-180, 180] x [-90, 90]. Densities are per square degree, because p_data is uniform in
these coordinates (not per km^2: a degree cell near a pole is smaller on the globe).
"""

import functools
import math
from importlib import resources

import numpy as np
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from gdl_pyro._validation import as_count, as_points, generator
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW

__all__ = ["LandUniform", "is_land", "land_area", "land_area_in_box", "land_mask", "sample_land"]

CELL_DEG = 0.25


@functools.cache
def _mask() -> torch.Tensor:
    """The packed mask, unpacked once: bool tensor (720, 1440), row 0 = latitude 90 to 89.75."""
    with resources.files("gdl_pyro.data").joinpath("land_mask.npz").open("rb") as file:
        stored = np.load(file)
        shape = tuple(int(s) for s in stored["shape"])
        bits = np.unpackbits(stored["packed"])[: shape[0] * shape[1]]
    return torch.from_numpy(bits.reshape(shape).astype(bool))


@functools.cache
def _land_cells() -> torch.Tensor:
    """Flat indices of the land cells."""
    return torch.nonzero(_mask().flatten()).squeeze(-1)


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


def _cell_index(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row, column and in-sample-space flag of each point; edges 180 and -90 join the last cell."""
    rows, cols = _mask().shape
    lon, lat = points[..., 0], points[..., 1]
    inside = (lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)
    col = torch.floor((lon + 180) / CELL_DEG).clamp(0, cols - 1).long()
    row = torch.floor((90 - lat) / CELL_DEG).clamp(0, rows - 1).long()
    return row, col, inside


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
    num_samples = as_count(num_samples, "num_samples")
    rng = generator(seed)
    cells = _land_cells()
    pick = cells[torch.randint(cells.numel(), (num_samples,), generator=rng)]
    num_cols = _mask().shape[1]
    row, col = pick // num_cols, pick % num_cols
    offset = torch.rand(num_samples, 2, generator=rng, dtype=torch.get_default_dtype())
    lon = -180 + CELL_DEG * (col + offset[:, 0])
    lat = 90 - CELL_DEG * (row + offset[:, 1])
    return torch.stack([lon, lat], dim=-1)


class LandUniform(TorchDistribution):
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

    arg_constraints = {}
    # The support is the sample space; land is where the density is positive.
    support = constraints.independent(
        constraints.interval(torch.tensor(SAMPLE_SPACE_LOW), torch.tensor(SAMPLE_SPACE_HIGH)), 1
    )
    has_rsample = False

    def __init__(self, validate_args=None):
        super().__init__(torch.Size(), torch.Size([2]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """Expand by broadcasting: every batch member is the same p_data."""
        new = self._get_checked_instance(LandUniform, _instance)
        super(LandUniform, new).__init__(
            torch.Size(batch_shape), self.event_shape, validate_args=False
        )
        return new

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        points = sample_land(shape.numel())
        return points.reshape(shape + self.event_shape)

    def log_prob(self, value):
        value = torch.as_tensor(value, dtype=torch.get_default_dtype())
        if value.dim() == 0 or value.shape[-1] != 2:
            raise ValueError(
                f"value must have a last dimension of size 2; got {tuple(value.shape)}"
            )
        if torch.isnan(value).any():
            raise ValueError("value must not hold NaN")
        flat = value.reshape(-1, 2)
        row, col, inside = _cell_index(flat)
        on_land = (_mask()[row, col] & inside).reshape(value.shape[:-1])
        density = torch.full(on_land.shape, -math.log(land_area()), dtype=value.dtype)
        return torch.where(on_land, density, torch.full_like(density, -math.inf))

    def entropy(self):
        return torch.full(self.batch_shape, math.log(land_area()))


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
