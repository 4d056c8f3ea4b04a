r"""A Gaussian kernel density estimate that lives on the map: the peer a user would pick.

.. math:: p(x) = \frac1N \sum_{i=1}^N \sum_{g \in G} \mathcal N(x \mid g(x_i), h^2 I_2),
          \qquad x \in [-180, 180] \times [-90, 90]

G holds the images of a point under the map's own edges, as ``gdl_pyro.data.world.jitter`` treats
them: longitude wraps (lon + 360 k) and latitude reflects at the poles (180 - lat, -180 - lat and
their repeats, lat + 360 k). The sum is the density of a plain KDE's draw folded back onto the map,
so it integrates to 1 over the map, is 0 off it, and samples by drawing from the plain KDE and
folding. An image enters the sum only when it lies within ``CUTOFF`` = 8 bandwidths of the map:
each one left out would put less than Phi(-8) = 6e-16 of a kernel's mass on the map.

The bandwidth h (degrees) is chosen by K-fold cross-validation of that same density: each
held-out point is scored by the map-respecting KDE of the other folds, exactly (to 1e-6 nats),
over its neighbours among their images (a KD-tree), or for wide kernels by the density's Fourier
series. ``boundary="none"`` gives the plain KDE, N Gaussians on the whole plane, whose kernels
near the edges spill past the map (it keeps about 0.977 of its mass on the map at N = 3,000):
kept for the lessons that need it, and chosen by the same search without the images. Measured
by ``benchmarks/kde_boundary.py``: at N = 3,000 the map's KDE is 0.028 nats closer to p_data
(sd 0.008 over 5 training seeds, each 10 to 40 paired standard errors), at N = 20,000 0.013.
"""

import math

import numpy as np
import pyro.distributions as dist
import torch
from joblib import Parallel, delayed
from sklearn.model_selection import KFold
from sklearn.neighbors import KDTree

from gdl_pyro._validation import as_count
from gdl_pyro.distributions import (
    CHUNK,
    SAMPLE_SPACE,
    SAMPLE_SPACE_HIGH,
    SAMPLE_SPACE_LOW,
    EqualWeightMixture,
    in_sample_space,
)
from gdl_pyro.fitting import PointFit, preamble

__all__ = ["BANDWIDTHS", "BOUNDARIES", "CUTOFF", "GaussianKDE", "KDEFit", "MapKDE", "fit"]

# Candidate bandwidths in degrees: from a quarter of a land cell's worth of detail up to a
# continent's; the cross-validated choice on the world map lies well inside (1 to 3 degrees).
BANDWIDTHS = np.geomspace(0.25, 30.0, 25)
# An image of a point counts when it lies within this many bandwidths of the map.
CUTOFF = 8.0
BOUNDARIES = ("map", "none")
NAMES = {"map": "KDE (map-respecting, bandwidth by CV)", "none": "KDE (plain, bandwidth by CV)"}


class GaussianKDE(EqualWeightMixture):
    """The plain KDE: the equal-weight mixture of N(x_i, h^2 I) over the points, on the plane.

    The same density as ``EqualWeightMixture`` over ``Normal(x_i, h).to_event(1)`` (``sample``
    is inherited), with ``component_log_prob`` from ``torch.cdist``:
    -|x - x_i|^2 / 2h^2 - log 2 pi h^2.
    At 20,000 points by 20,000 it took 4.2 s instead of 9.7 s on 2 cores, agreeing to 2e-6 nats.
    Distances are taken directly, not by the matrix-product shortcut, which lost 8e-4 nats in
    float32 on coordinates of hundreds of degrees.
    """

    def __init__(self, points: torch.Tensor, bandwidth: float, validate_args=None):
        self.points, self.bandwidth = points, float(bandwidth)
        self.centres = points  # where the kernels sit (the map's KDE adds the points' images)
        super().__init__(
            lambda loc: dist.Normal(loc, self.bandwidth).to_event(1),
            {"loc": points},
            validate_args=validate_args,
        )

    def component_log_prob(self, value) -> torch.Tensor:
        flat = value.reshape(-1, 2).to(self.points.dtype)
        rows = [self._kernels(part) for part in flat.split(CHUNK)]
        per_centre = torch.cat(rows) if rows else flat.new_empty(0, len(self.centres))
        return per_centre.reshape(*value.shape[:-1], len(self.centres))

    def log_prob(self, value) -> torch.Tensor:
        """log p(x) chunk by chunk: each chunk's kernels are summed before the next is computed.

        At 20,000 points by 20,000 it took 2.9 s instead of 4.7 s for ``component_log_prob``
        followed by one log-sum-exp, with the same values to 2e-6 nats.
        """
        if self._validate_args:
            self._validate_sample(value)
        flat = value.reshape(-1, 2).to(self.points.dtype)
        rows = [torch.logsumexp(self._kernels(part), -1) for part in flat.split(CHUNK)]
        log_sum = torch.cat(rows) if rows else flat.new_empty(0)
        return log_sum.reshape(value.shape[:-1]) - math.log(len(self.points))

    def _kernels(self, part: torch.Tensor) -> torch.Tensor:
        """log N(x | c_j, h^2 I) of a chunk of points against every centre, shape (chunk, M)."""
        log_norm = math.log(2 * math.pi * self.bandwidth**2)
        distance = torch.cdist(part, self.centres, compute_mode="donot_use_mm_for_euclid_dist")
        if torch.is_grad_enabled() and (part.requires_grad or self.centres.requires_grad):
            return distance.pow(2).div(-2 * self.bandwidth**2) - log_norm
        # In place when no gradient is needed: a third fewer passes over a (chunk, M) matrix.
        return distance.square_().mul_(-0.5 / self.bandwidth**2).sub_(log_norm)


def map_images(points: np.ndarray, bandwidth: float, cutoff: float = CUTOFF):
    """Each point's images under the map's wrap and reflections, within ``cutoff`` h of the map.

    Returns (images, owners): images of shape (M, 2), the points themselves among them, and the
    index of the point each image belongs to, shape (M,). In each coordinate the images are the
    point moved by the symmetries of that axis (longitude: lon + 360 k; latitude: lat + 360 k and
    180 - lat + 360 k); the 2-D images are the pairs whose coordinates both lie within
    ``cutoff * bandwidth`` of the map's range. In NumPy: torch spent 25 ms instead of 1 ms on
    these small arrays at 2,400 points, its threads waiting on each other on 2 busy cores.
    """
    reach = cutoff * float(bandwidth)
    # Beyond |k| = turns an image lies more than ``reach`` off the map in either coordinate.
    turns = math.ceil((reach + 180.0) / 360.0)
    shifts = 360.0 * np.arange(-turns, turns + 1)
    lons = points[:, :1] + shifts
    lats = np.concatenate([points[:, 1:] + shifts, 180.0 - points[:, 1:] + shifts], 1)
    (lon_low, lat_low), (lon_high, lat_high) = SAMPLE_SPACE_LOW, SAMPLE_SPACE_HIGH
    lon_kept = (lons >= lon_low - reach) & (lons <= lon_high + reach)
    lat_kept = (lats >= lat_low - reach) & (lats <= lat_high + reach)
    owners, lon_image, lat_image = np.nonzero(lon_kept[:, :, None] & lat_kept[:, None, :])
    images = np.stack([lons[owners, lon_image], lats[owners, lat_image]], -1)
    return images, owners


def fold(x: torch.Tensor) -> torch.Tensor:
    """Points of the plane folded onto the map: longitude wraps, latitude reflects at the poles."""
    lon = torch.remainder(x[..., 0] + 180.0, 360.0) - 180.0
    climb = torch.remainder(x[..., 1] + 90.0, 360.0)  # 0 at the south pole, 180 at the north
    lat = torch.where(climb > 180.0, 360.0 - climb, climb) - 90.0
    return torch.stack([lon, lat], -1)


class MapKDE(GaussianKDE):
    """The map-respecting KDE: the plain KDE folded onto the map (see the module docstring).

    ``log_prob`` sums the kernels at the points and at their images (``map_images``) and divides
    by the number of points; off the map it is -inf, with validation on or off
    (``ZeroOutsideSupport``: validation refuses NaN and bad shapes, never a place).
    ``component_log_prob`` gives each point's folded kernel; ``sample`` draws from the plain KDE
    and folds, which is exactly this density's sampler.
    """

    support = SAMPLE_SPACE

    def __init__(self, points: torch.Tensor, bandwidth: float, validate_args=None):
        super().__init__(points, bandwidth, validate_args=validate_args)
        images, owners = map_images(points.detach().cpu().double().numpy(), bandwidth)
        self.centres = torch.as_tensor(images).to(points)
        self.owners = torch.as_tensor(owners, device=points.device)

    def component_log_prob(self, value) -> torch.Tensor:
        on_map, value = self._on_map(value)
        per_image = super().component_log_prob(value)
        top = per_image.max(-1, keepdim=True).values.clamp_min(-1e30)  # finite: no inf - inf
        shape = (*per_image.shape[:-1], len(self.points))
        summed = per_image.new_zeros(shape).index_add_(-1, self.owners, (per_image - top).exp())
        return (summed.log() + top).masked_fill(~on_map.unsqueeze(-1), -math.inf)

    def log_prob(self, value) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        on_map, value = self._on_map(value)
        return super().log_prob(value).masked_fill(~on_map, -math.inf)

    def _on_map(self, value):
        """Which values lie on the map, and the values with those off it moved to (0, 0)."""
        on_map = in_sample_space(value)
        return on_map, torch.where(on_map.unsqueeze(-1), value, torch.zeros_like(value))

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        return fold(super().sample(sample_shape))


class KDEFit(PointFit):
    """A kernel density estimate: the training ``points``, the cross-validated ``bandwidth``, the
    ``boundary`` ("map" or "none") and ``cv_scores``: the mean held-out log density of each
    candidate bandwidth (a dict, bandwidth -> nats per point)."""

    def __init__(self, points, bandwidth: float, seconds: float, boundary="map", cv_scores=None):
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}; got {boundary!r}")
        self.points, self.bandwidth, self.boundary = points, float(bandwidth), boundary
        self.cv_scores = dict(cv_scores or {})
        super().__init__(NAMES[boundary], "kde", self._distribution, seconds=seconds)

    def _distribution(self) -> GaussianKDE:
        density = MapKDE if self.boundary == "map" else GaussianKDE
        return density(self.points, self.bandwidth)


# Cross-validation scores each held-out point under the KDE of the other folds (and their
# images, for the map) to this relative error in density (nats, in its log): every kernel left
# out lies so far off that all of them together weigh less than EPSILON of the nearest one.
# (scikit-learn's KernelDensity tree, which the search used before, was wrong by up to 73 nats
# either way at points far from every kernel, with rtol = 1e-4 and with rtol = 0 alike: at N =
# 3,000, 0.5 degrees, a fold's mean moved by 0.4 nats; on one seed in five its GridSearchCV chose
# 2.74 degrees where the exact search chooses 3.34. Perhaps scikit-learn's issue #27186.)
EPSILON = 1e-6
# Held-out points per radius query: a bound on the memory of the neighbours' distances.
QUERY_CHUNK = 256
# From this bandwidth on, the map's folds are scored by the Fourier series of the folded kernels
# instead: a wide kernel has many neighbours and many images (8.9 per point at 30 degrees),
# while its series is short (see ``fourier_held_out``).
FOURIER_FROM = 6.0
# The series stops where a term's weight exp(-(k omega h)^2 / 2) falls below this.
FOURIER_TAIL = 1e-12
# Below this share of the uniform density on the map, a point is scored by its neighbours
# instead: the series' rounding (about 1e-15 in density) would show there.
FOURIER_FLOOR = 1e-4 / (360.0 * 180.0)


def neighbour_scores(centres: np.ndarray, test: np.ndarray, bandwidth: float, count: int):
    """log((1/count) sum_j N(test_i | centres_j, h^2 I)) to relative error ``EPSILON``.

    A KD-tree finds each point's nearest centre, at distance d, and then every centre within
    sqrt(d^2 + 2 h^2 log(M / EPSILON)): the M centres beyond weigh less than EPSILON times the
    nearest one's kernel. The tree releases the GIL, so threads run folds in parallel.
    """
    tree = KDTree(centres)
    nearest = tree.query(test, k=1)[0][:, 0]
    reach = 2 * bandwidth**2 * math.log(len(centres) / EPSILON)
    scores = np.empty(len(test))
    for part in np.array_split(np.arange(len(test)), -(-len(test) // QUERY_CHUNK)):
        radius = np.sqrt(nearest[part] ** 2 + reach)
        distances = tree.query_radius(test[part], radius, return_distance=True)[1]
        counts = np.fromiter(map(len, distances), int, len(part))
        starts = np.cumsum(counts) - counts
        offset = np.repeat(nearest[part] ** 2, counts)  # the nearest kernel's term is exp(0)
        terms = np.exp((offset - np.concatenate(distances) ** 2) / (2 * bandwidth**2))
        scores[part] = np.log(np.add.reduceat(terms, starts)) - nearest[part] ** 2 / (
            2 * bandwidth**2
        )
    return scores - math.log(2 * math.pi * bandwidth**2 * count)


def fourier_held_out(data: np.ndarray, splits, bandwidth: float) -> np.ndarray:
    r"""log p(x_i) of each point under the map's KDE of the other folds, by Fourier series.

    With omega = 2 pi / 360 and g_k = exp(-(k omega h)^2 / 2), a kernel wrapped in longitude is
    (1/360) sum_k g_k cos(k omega (y - x)), and one reflected at the poles is
    (1/360) sum_m g_m 2 cos(m omega (y - 90)) cos(m omega (x - 90)) (the images x and 180 - x,
    repeated every 360 degrees). Their product summed over the points is a bilinear form,
    phi(y1)^T B psi(y2), with B = sum_i phi(x_i1) psi(x_i2)^T: a fold's B is the whole data's
    minus the fold's, so every fold costs one small matrix product. The series is exact up to
    ``FOURIER_TAIL``; points where it gives less than ``FOURIER_FLOOR`` are scored by their
    neighbours (``neighbour_scores``).
    """
    omega = 2 * math.pi / 360.0
    k = np.arange(math.ceil(math.sqrt(-2 * math.log(FOURIER_TAIL)) / (omega * bandwidth)) + 1)
    weight = np.exp(-0.5 * (k * omega * bandwidth) ** 2)
    lon, lat = data[:, :1] * (k * omega), (data[:, 1:] - 90.0) * (k * omega)
    phi, psi = np.concatenate([np.cos(lon), np.sin(lon)], 1), np.cos(lat)
    phi_weight = np.tile(np.where(k == 0, 1.0, 2.0) * weight, 2) / 360.0
    psi_weight = np.where(k == 0, 2.0, 4.0) * weight / 360.0
    whole = phi.T @ psi
    scores = np.empty(len(data))
    for train, test in splits:
        other = whole - phi[test].T @ psi[test]
        inner = ((phi[test] * phi_weight) @ other) * (psi[test] * psi_weight)
        density = inner.sum(1) / len(train)
        scores[test] = np.log(np.maximum(density, FOURIER_FLOOR))
        if (low := density < FOURIER_FLOOR).any():
            centres = map_images(data[train], bandwidth)[0]
            scores[test[low]] = neighbour_scores(centres, data[test[low]], bandwidth, len(train))
    return scores


PARALLEL_FROM = 1000


def held_out(data: np.ndarray, splits, grid: np.ndarray, boundary: str, n_jobs) -> np.ndarray:
    """log p(x_i) of each point under the KDE of the other folds, for each bandwidth: (H, N).

    For the map the other folds' images are centres too, and the sum is divided by the number
    of points, not of centres.
    """
    fourier = [boundary == "map" and bandwidth >= FOURIER_FROM for bandwidth in grid]

    def score(bandwidth, train, test):
        centres = data[train] if boundary == "none" else map_images(data[train], bandwidth)[0]
        return neighbour_scores(centres, data[test], bandwidth, len(train))

    rows = [(row, None) for row in range(len(grid)) if fourier[row]]
    rows += [(row, split) for row in range(len(grid)) if not fourier[row] for split in splits]
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(fourier_held_out)(data, splits, grid[row])
        if split is None
        else delayed(score)(grid[row], *split)
        for row, split in rows
    )
    scores = np.empty((len(grid), len(data)))
    for (row, split), result in zip(rows, results, strict=True):
        scores[row, slice(None) if split is None else split[1]] = result
    return scores


def fit(
    x,
    *,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    bandwidths=None,
    folds: int = 5,
    boundary: str = "map",
) -> KDEFit:
    """Choose the bandwidth by ``folds``-fold cross-validation and return the KDE as a fit.

    Parameters
    ----------
    x : array-like of shape (N, 2)
        Points on the map (for ``boundary="map"``; anywhere in the plane for "none").
    seed, quiet, device
        As for every fit; the folds are contiguous, so the result does not depend on ``seed``,
        and scikit-learn runs on the CPU.
    bandwidths : array-like, optional
        Candidate bandwidths in degrees; ``BANDWIDTHS`` by default.
    folds : int
        Cross-validation folds, at least 2: scikit-learn's ``KFold``, contiguous, unshuffled.
    boundary : {"map", "none"}
        "map": the map-respecting KDE (``MapKDE``), each fold scored by the map-respecting KDE
        of the other folds; "none": the plain KDE on the plane (``GaussianKDE``), each fold
        scored by the plain KDE of the other folds.
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}; got {boundary!r}")
    folds = as_count(folds, "folds", minimum=2)
    try:
        grid = BANDWIDTHS if bandwidths is None else np.asarray(bandwidths, dtype=float)
    except (TypeError, ValueError):
        grid = np.empty(0)
    if grid.ndim != 1 or grid.size == 0 or not (np.isfinite(grid).all() and (grid > 0).all()):
        raise ValueError("bandwidths must be a non-empty 1-D array of finite values > 0")
    # The same checks as every fit; the work is scikit-learn's KD-tree and NumPy's, on the CPU.
    with preamble(x, seed=seed, device=device) as setup:
        x = setup.x.cpu()
        if x.shape[0] < folds:
            raise ValueError(f"x must hold at least folds = {folds} points; got {x.shape[0]}")
        if boundary == "map" and not in_sample_space(x).all():
            raise ValueError("x must lie on the map [-180, 180] x [-90, 90] (longitude, latitude)")
        data = x.double().numpy()
        splits = list(KFold(folds).split(data))
        # Folds in threads on every core (the KD-tree releases the GIL): at N = 20,000 the map's
        # search took 6.8 s instead of 10.2 s on 2 busy cores, and 1 s at N = 3,000. Below
        # PARALLEL_FROM points the threads' start-up and polling cost more than they save.
        n_jobs = -1 if len(data) >= PARALLEL_FROM else 1
        mean = held_out(data, splits, grid, boundary, n_jobs=n_jobs).mean(1)
    cv_scores = dict(zip(grid.tolist(), mean.tolist(), strict=True))
    return KDEFit(x, float(grid[np.argmax(mean)]), setup.timer.seconds, boundary, cv_scores)
