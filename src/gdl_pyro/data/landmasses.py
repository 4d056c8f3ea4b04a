"""Land masses as classes: labels for generative versus discriminative modelling.

Every land cell of the mask belongs to one of five classes: the five largest connected land
masses, with every smaller component (an island) joined to the nearest of them. Because the
classes are separated by sea, the true p(y | x) is 0 or 1 and the Bayes accuracy is 1; the true
class-conditional p_data(x | y) is uniform over land mass y (``LandMassUniform``).

How the labels come out, checked by tests/data/test_landmasses.py:

- Components are 4-connected cells of the 0.25-degree mask, and the map wraps at the dateline,
  so Chukotka east of 180 degrees is part of Afro-Eurasia (as it is on the globe).
- Africa and Asia are joined through Sinai, and North and South America through Panama: at
  1:50m and 0.25 degrees neither canal cuts the land, so both pairs are single classes.
- "Nearest" is the straight-line distance between cells on the map (degrees, equirectangular,
  across the dateline): Madagascar joins Afro-Eurasia, New Zealand and New Guinea Australia,
  the Canadian Arctic islands the Americas.
"""

import functools
import math

import numpy as np
import torch
from scipy import ndimage

from gdl_pyro._validation import as_count, as_points, generator
from gdl_pyro.data._grid import CELL_DEG, UniformOverCells, _cell_index, _mask, sample_cells

__all__ = [
    "LAND_MASSES",
    "LandMassUniform",
    "land_mass_area",
    "land_mass_labels",
    "land_mass_of",
    "land_mass_prior",
    "land_mass_tv",
    "sample_land_labelled",
    "sample_land_mass",
]

# The five classes, by a point inside each; their order is the class index.
LAND_MASSES = ("Afro-Eurasia", "Americas", "Antarctica", "Australia", "Greenland")
_INSIDE = {
    "Afro-Eurasia": (30.0, 27.0),
    "Americas": (-100.0, 40.0),
    "Antarctica": (0.0, -85.0),
    "Australia": (135.0, -25.0),
    "Greenland": (-40.0, 72.0),
}


def _components(mask: np.ndarray) -> np.ndarray:
    """4-connected components of the mask, merged across the dateline (0 = sea)."""
    labels, count = ndimage.label(mask)
    parent = np.arange(count + 1)

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for row in np.nonzero(mask[:, 0] & mask[:, -1])[0]:
        a, b = root(labels[row, 0]), root(labels[row, -1])
        parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(count + 1)])[labels]


@functools.cache
def _label_grid() -> torch.Tensor:
    """Class index of every cell, -1 for sea: shape (720, 1440)."""
    mask = _mask().numpy()
    components = _components(mask)
    ids, sizes = np.unique(components[mask], return_counts=True)
    largest = set(ids[np.argsort(-sizes)[: len(LAND_MASSES)]].tolist())
    to_class = np.full(components.max() + 1, -1, dtype=np.int64)  # component id -> class
    for index, name in enumerate(LAND_MASSES):
        row, col = (int(v) for v in _cell_index(torch.tensor([_INSIDE[name]]))[:2])
        component = components[row, col]
        if component not in largest:
            raise RuntimeError(f"{name} is not one of the {len(LAND_MASSES)} largest land masses")
        to_class[component] = index
    grid = np.where(mask, to_class[components], -1)
    # Islands: each joins the class of the class cell nearest to any of its cells. The map is
    # tiled three times across so that distances wrap at the dateline.
    num_cols = mask.shape[1]
    tiled_classes = np.tile(grid, 3)
    distance, (near_row, near_col) = ndimage.distance_transform_edt(
        tiled_classes < 0, return_indices=True
    )
    middle = slice(num_cols, 2 * num_cols)
    distance, nearest = distance[:, middle], tiled_classes[near_row, near_col][:, middle]
    cells = np.nonzero(mask & (grid < 0))
    island, order = components[cells], np.lexsort((distance[cells], components[cells]))
    ids, first = np.unique(island[order], return_index=True)  # each island's nearest cell
    to_class[ids] = nearest[cells][order[first]]
    grid = np.where(mask, to_class[components], -1)
    return torch.from_numpy(grid)


def land_mass_labels() -> torch.Tensor:
    """The class index of every cell of the land mask (-1 for sea), shape (720, 1440), north-up."""
    return _label_grid().clone()


def land_mass_of(points) -> torch.Tensor:
    """The land mass (class index) of each point, -1 for sea or outside the map: shape (N,)."""
    points = as_points(points, "points", allow_empty=True)
    row, col, inside = _cell_index(points)
    return torch.where(inside, _label_grid()[row, col], torch.tensor(-1))


def _check_class(land_mass) -> int:
    if isinstance(land_mass, str):
        if land_mass not in LAND_MASSES:
            raise ValueError(f"land_mass must be one of {LAND_MASSES}; got {land_mass!r}")
        return LAND_MASSES.index(land_mass)
    index = as_count(land_mass, "land_mass")
    if index >= len(LAND_MASSES):
        raise ValueError(
            f"land_mass must be one of {LAND_MASSES} or 0..{len(LAND_MASSES) - 1}; got {land_mass}"
        )
    return index


@functools.cache
def _class_cells(index: int) -> torch.Tensor:
    return torch.nonzero(_label_grid().flatten() == index).squeeze(-1)


def land_mass_area(land_mass) -> float:
    """Area of one land mass in square degrees."""
    return _class_cells(_check_class(land_mass)).numel() * CELL_DEG**2


def land_mass_prior() -> torch.Tensor:
    """p_data(y): each land mass's share of the land area, shape (5,)."""
    areas = torch.tensor([land_mass_area(i) for i in range(len(LAND_MASSES))], dtype=torch.float64)
    return (areas / areas.sum()).to(torch.get_default_dtype())


def land_mass_tv(samples) -> float:
    """Total variation between the samples' shares over the five land masses and p_data's.

    Of the samples that fall on one of s08's five land masses (``LAND_MASSES``), the share
    on each, q_k, is compared with its share of p_data, p_k = ``land_mass_prior()``:
    TV = (1/2) sum_k |q_k - p_k|, from 0 (every mass in proportion) to 1. It sees what accuracy
    cannot: a model that drops a land mass (mode dropping) loses nothing in accuracy. Samples on
    sea or on smaller islands do not count; with none on the five masses it is NaN.
    """
    labels = land_mass_of(samples)
    labels = labels[labels >= 0]
    if labels.numel() == 0:
        return math.nan
    shares = torch.bincount(labels, minlength=len(LAND_MASSES)).double() / labels.numel()
    return 0.5 * (shares - land_mass_prior().double()).abs().sum().item()


def sample_land_mass(land_mass, num_samples: int, *, seed: int | None = None) -> torch.Tensor:
    """Points uniform over one land mass: samples from the true p_data(x | y), shape (N, 2)."""
    cells = _class_cells(_check_class(land_mass))
    return sample_cells(cells, as_count(num_samples, "num_samples"), generator(seed))


def sample_land_labelled(
    num_samples: int, *, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points uniform over land with their land-mass labels: samples from p_data(x, y)."""
    from gdl_pyro.data.world import sample_land

    points = sample_land(num_samples, seed=seed)
    return points, land_mass_of(points)


class LandMassUniform(UniformOverCells):
    """The true class-conditional p_data(x | y): uniform over land mass y, in square degrees.

    ``log_prob`` is ``-log(land_mass_area(y))`` on that land mass and ``-inf`` elsewhere.
    """

    def __init__(self, land_mass, validate_args=None):
        self.land_mass = _check_class(land_mass)
        super().__init__(_label_grid() == self.land_mass, validate_args=validate_args)
