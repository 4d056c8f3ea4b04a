"""The shipped land mask and the map of (longitude, latitude) onto its cells (private)."""

import functools
import math
from importlib import resources

import numpy as np
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW

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


def _cell_index(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row, column and in-sample-space flag of each point; edges 180 and -90 join the last cell."""
    rows, cols = _mask().shape
    lon, lat = points[..., 0], points[..., 1]
    inside = (lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)
    col = torch.floor((lon + 180) / CELL_DEG).clamp(0, cols - 1).long()
    row = torch.floor((90 - lat) / CELL_DEG).clamp(0, rows - 1).long()
    return row, col, inside


def sample_cells(
    cells: torch.Tensor, num_samples: int, rng: torch.Generator | None
) -> torch.Tensor:
    """Points uniform over the given cells (flat indices): a uniform cell, then a point in it.

    Every cell has the same area in square degrees, so this is exactly uniform over their union.
    """
    pick = cells[torch.randint(cells.numel(), (num_samples,), generator=rng)]
    num_cols = _mask().shape[1]
    offset = torch.rand(num_samples, 2, generator=rng, dtype=torch.get_default_dtype())
    lon = -180 + CELL_DEG * (pick % num_cols + offset[:, 0])
    lat = 90 - CELL_DEG * (pick // num_cols + offset[:, 1])
    return torch.stack([lon, lat], dim=-1)


class UniformOverCells(TorchDistribution):
    """Uniform over a set of mask cells, density per square degree; -inf elsewhere, never NaN.

    The support is the whole sample space (so Pyro's validation accepts any point on the map);
    the density is positive on the chosen cells only. Subclasses pass the cells as a bool grid.
    """

    arg_constraints = {}
    support = constraints.independent(
        constraints.interval(torch.tensor(SAMPLE_SPACE_LOW), torch.tensor(SAMPLE_SPACE_HIGH)), 1
    )
    has_rsample = False

    def __init__(self, cells: torch.Tensor, batch_shape=torch.Size(), validate_args=None):
        self._cells = cells
        self._flat = torch.nonzero(cells.flatten()).squeeze(-1)
        self._log_area = math.log(self._flat.numel() * CELL_DEG**2)
        super().__init__(torch.Size(batch_shape), torch.Size([2]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """Expand by broadcasting: every batch member is the same distribution."""
        new = self._get_checked_instance(type(self), _instance)
        new._cells, new._flat, new._log_area = self._cells, self._flat, self._log_area
        TorchDistribution.__init__(
            new, torch.Size(batch_shape), self.event_shape, validate_args=False
        )
        return new

    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        return sample_cells(self._flat, shape.numel(), None).reshape(shape + self.event_shape)

    def log_prob(self, value):
        value = torch.as_tensor(value, dtype=torch.get_default_dtype())
        if value.dim() == 0 or value.shape[-1] != 2:
            raise ValueError(
                f"value must have a last dimension of size 2; got {tuple(value.shape)}"
            )
        if torch.isnan(value).any():
            raise ValueError("value must not hold NaN")
        row, col, inside = _cell_index(value.reshape(-1, 2))
        on = (self._cells[row, col] & inside).reshape(value.shape[:-1])
        density = torch.full(on.shape, -self._log_area, dtype=value.dtype)
        return torch.where(on, density, torch.full_like(density, -math.inf))

    def entropy(self):
        return torch.full(self.batch_shape, self._log_area)
