"""The KDE peer: the plain KDE is scikit-learn's density and search, written in Pyro; the
map-respecting KDE integrates to 1 over the map, is 0 off it, samples as it scores, and is
the density its bandwidth search scores."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from sklearn.neighbors import KernelDensity

from gdl_pyro.models import kde


def gaussian_points(num, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(num, 2, generator=g) * torch.tensor([20.0, 10.0])


def test_pyro_density_is_scikit_learns():
    x = gaussian_points(500, 0)
    fitted = kde.fit(x, bandwidths=[2.0, 4.0, 8.0], boundary="none")
    reference = KernelDensity(bandwidth=fitted.bandwidth).fit(x.double().numpy())
    probe = gaussian_points(50, 1)
    expected = torch.as_tensor(reference.score_samples(probe.double().numpy()), dtype=torch.float32)
    assert torch.allclose(fitted.log_prob(probe), expected, atol=1e-4)
    assert fitted.distribution().log_prob(probe).shape == (50,)


def test_chunked_density_is_the_equal_weight_mixture_and_has_gradients():
    from gdl_pyro.distributions import CHUNK, EqualWeightMixture

    points = gaussian_points(300, 3)
    density = kde.GaussianKDE(points, 3.0)
    reference = EqualWeightMixture(lambda loc: dist.Normal(loc, 3.0).to_event(1), {"loc": points})
    probe = gaussian_points(CHUNK + 7, 4).reshape(CHUNK + 7, 1, 2)  # two chunks, a batch shape
    with torch.no_grad():  # the in-place path
        assert torch.allclose(density.log_prob(probe), reference.log_prob(probe), atol=1e-5)
    assert density.component_log_prob(probe).shape == (CHUNK + 7, 1, 300)
    value = probe[:5].clone().requires_grad_()  # the path that keeps the graph
    density.log_prob(value).sum().backward()
    expected = torch.autograd.grad(reference.log_prob(value).sum(), value)[0]
    assert torch.allclose(value.grad, expected, atol=1e-5)


def test_density_integrates_to_one():
    fitted = kde.fit(gaussian_points(200, 2), bandwidths=[5.0], boundary="none")
    # Midpoint rule on 1-degree cells over +-150 x +-80 degrees (7 sd and 8 bandwidths out).
    lon, lat = torch.arange(-149.5, 150), torch.arange(-79.5, 80)
    grid = torch.cartesian_prod(lon, lat)
    integral = fitted.log_prob(grid).exp().double().sum().item()
    assert integral == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_cross_validation_picks_a_sensible_bandwidth_and_nears_the_entropy():
    # 4000 points of N(0, diag(20, 10)^2): the CV bandwidth is a few degrees, and the KDE's
    # held-out NLL comes within 0.05 nats of the Gaussian's entropy (a KDE's bias at this N).
    x, x_test = gaussian_points(4000, 3), gaussian_points(4000, 4)
    fitted = kde.fit(x, boundary="none")  # the plane's Gaussian: the plain KDE's target
    assert 1.0 < fitted.bandwidth < 8.0
    entropy = math.log(2 * math.pi * math.e) + math.log(20.0 * 10.0)
    assert -fitted.log_prob(x_test).mean().item() == pytest.approx(entropy, abs=0.05)
    # A KDE's samples are a data point plus kernel noise: variance sigma^2 + h^2 per axis.
    samples = fitted.sample(4000, seed=0)
    assert samples.shape == (4000, 2)
    expected = (x.var(0) + fitted.bandwidth**2).sqrt()
    assert torch.allclose(samples.std(0), expected, rtol=0.05)  # an sd's own sd here: 1.1%


def test_bad_input():
    with pytest.raises(ValueError, match="bandwidths"):
        kde.fit(gaussian_points(10, 0), bandwidths=[-1.0])
    with pytest.raises(ValueError, match="folds"):
        kde.fit(gaussian_points(3, 0))
    with pytest.raises(ValueError, match="finite"):
        kde.fit(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_points_off_the_map_and_no_points_are_scored_not_refused():
    """The KDE's support is the plane (its kernels leak past the map's edges): off the map its
    density is small but positive; infinitely far it is 0; no points give no values."""
    density = kde.GaussianKDE(gaussian_points(50, 0), bandwidth=2.0)
    with pyro.validation_enabled(True):
        log_p = density.log_prob(torch.tensor([[181.0, 0.0], [0.0, 95.0], [math.inf, 0.0]]))
        assert torch.isfinite(log_p[:2]).all() and log_p[2] == -math.inf
        assert density.log_prob(torch.empty(0, 2)).shape == (0,)
        with pytest.raises(ValueError, match="NaN"):
            density.log_prob(torch.tensor([[math.nan, 0.0]]))
    assert density.sample((0,)).shape == (0, 2)


# --- the map-respecting KDE ------------------------------------------------------------------

# Points at the map's edges and corners, and two inside: where the plain KDE loses mass.
EDGES = torch.tensor(
    [[179.9, 0.0], [-179.9, 30.0], [0.0, 89.9], [60.0, -89.9], [179.9, 89.9], [-179.9, -89.9]]
    + [[-179.9, 89.9], [10.0, 45.0], [-120.0, -30.0]]
)
# The map-respecting density is smooth and keeps the map's symmetries (periodic in longitude,
# even about each pole), so the midpoint rule on cells aligned with the edges is the trapezoid
# rule of a smooth periodic function: exact up to exp(-2 pi^2 h^2 / step^2). What is left is the
# rounding of float32 log-densities (4e-7 in all at 30 degrees; 3e-10 in float64) and the images
# left out (1e-15).
INTEGRAL_TOL = 2e-6
# The search scores each held-out point to kde.EPSILON = 1e-6 nats (its neighbours) or 1e-10
# (the Fourier series); the sums by hand here are float64.
CV_TOL = 1e-5


def map_integral(density, step=0.2):
    """The integral of a density over the map by the midpoint rule on step-degree cells."""
    lon = torch.arange(-180 + step / 2, 180, step, dtype=torch.float64)
    lat = torch.arange(-90 + step / 2, 90, step, dtype=torch.float64)
    grid = torch.cartesian_prod(lon, lat).float()
    with torch.no_grad():
        return density.log_prob(grid).exp().double().sum().item() * step**2


def images_by_hand(train: np.ndarray, test: np.ndarray, bandwidth: float) -> np.ndarray:
    """log p(test_i) of the map KDE of ``train``, written out: three longitudes (x, x +- 360)
    and three latitudes (y, 180 - y, -180 - y) per point, in float64. For bandwidths up to 12
    degrees every image left out lies 180 degrees (15 bandwidths) or more from the map."""
    lons = train[:, :1] + np.array([-360.0, 0.0, 360.0])
    lats = np.stack([train[:, 1], 180.0 - train[:, 1], -180.0 - train[:, 1]], 1)
    d_lon = test[:, 0, None, None, None] - lons[None, :, :, None]  # (test, train, 3, 1)
    d_lat = test[:, 1, None, None, None] - lats[None, :, None, :]  # (test, train, 1, 3)
    kernels = np.exp(-(d_lon**2 + d_lat**2) / (2 * bandwidth**2))
    density = kernels.sum((1, 2, 3)) / (2 * np.pi * bandwidth**2 * len(train))
    return np.log(density)


@pytest.mark.slow
@pytest.mark.parametrize("bandwidth", [2.0, 30.0])
def test_map_kde_integrates_to_one_where_the_plain_kde_loses_mass(bandwidth):
    # 30 degrees reaches past a pole and back: images of images (lat + 360) enter the sum.
    assert map_integral(kde.MapKDE(EDGES, bandwidth)) == pytest.approx(1.0, abs=INTEGRAL_TOL)
    # The plain KDE of the same points: half of a kernel on an edge, three quarters of one in
    # a corner, spill off the map.
    assert map_integral(kde.GaussianKDE(EDGES, bandwidth)) < 0.8


def test_map_kde_is_the_sum_over_images_and_zero_off_the_map():
    density = kde.MapKDE(EDGES, 3.0)
    probe = torch.tensor([[180.0, 0.0], [-180.0, 0.0], [0.0, 90.0], [179.0, -88.0], [5.0, 40.0]])
    expected = images_by_hand(EDGES.double().numpy(), probe.double().numpy(), 3.0)
    assert np.allclose(density.log_prob(probe).numpy(), expected, atol=1e-5)
    # Longitude -180 and 180 are one meridian: the same density on both.
    assert density.log_prob(probe[:1]).item() == pytest.approx(density.log_prob(probe[1:2]).item())
    per_point = density.component_log_prob(probe)  # each point's folded kernel
    assert per_point.shape == (5, len(EDGES))
    assert torch.allclose(per_point.logsumexp(-1) - math.log(len(EDGES)), density.log_prob(probe))
    off = torch.tensor([[180.001, 0.0], [0.0, -90.5], [500.0, 0.0], [math.inf, 0.0], [-1e6, 1e6]])
    with pyro.validation_enabled(True):
        assert (density.log_prob(off) == -math.inf).all()
        assert (density.component_log_prob(off) == -math.inf).all()
        assert density.log_prob(torch.empty(0, 2)).shape == (0,)
        with pytest.raises(ValueError, match="NaN"):
            density.log_prob(torch.tensor([[math.nan, 0.0]]))
    assert density.support.check(off).tolist() == [False] * 5


def test_samples_lie_on_the_map_and_follow_the_density_at_a_corner():
    # Kernels of 2 degrees a degree or two from the north-east corner: folding puts back there
    # the mass a plain draw would leave beyond 180 and 90 degrees.
    points = torch.tensor([[179.0, 88.0], [-178.5, 86.0], [175.0, 89.5]])
    fitted = kde.KDEFit(points, 2.0, seconds=0.0)
    samples = fitted.sample(50_000, seed=0)
    assert samples.shape == (50_000, 2) and kde.in_sample_space(samples).all()
    # Counts in 2-degree cells round the corner against 50,000 x each cell's integral (midpoint
    # rule on 0.1-degree sub-cells; its error is far below a count's noise).
    lon_cells = [(a, a + 2) for a in [*range(-180, -170, 2), *range(170, 180, 2)]]
    cells = [(lon, (lat, lat + 2)) for lon in lon_cells for lat in range(80, 90, 2)]
    sub = torch.arange(0.05, 2, 0.1, dtype=torch.float64)

    def expected(density):
        integrals = []
        for (lon, _), (lat, _) in cells:
            grid = torch.cartesian_prod(lon + sub, lat + sub).float()
            integrals.append(density.log_prob(grid).exp().double().sum().item() * 0.01)
        return 50_000 * np.array(integrals)

    lon, lat = samples[:, 0], samples[:, 1]
    counts = np.array(
        [((lon >= a) & (lon < b) & (lat >= c) & (lat < d)).sum().item() for (a, b), (c, d) in cells]
    )
    folded, plain = expected(fitted.distribution()), expected(kde.GaussianKDE(points, 2.0))
    assert counts.sum() > 0.99 * 50_000
    # Pearson's chi-squared over the cells expecting at least 5 (about 40 of them): its sd is
    # about 9, so 100 is 6 sd out. The plain KDE's integrals (the same kernels, unfolded) must
    # fail the same check by far, or it could not fail.
    kept = folded >= 5
    assert ((counts - folded) ** 2 / folded)[kept].sum() < 100
    assert ((counts - plain) ** 2 / plain)[kept].sum() > 1000
    # A kernel wider than the map folds many times over and still lands on it.
    wide = kde.KDEFit(points, 500.0, seconds=0.0).sample(10_000, seed=1)
    assert kde.in_sample_space(wide).all()


def test_the_search_scores_the_map_kde_of_the_other_folds():
    from gdl_pyro.data import world

    x = world.sample_land(500, seed=0)
    grid = [1.5, 3.0, 7.0, 12.0]  # neighbours below kde.FOURIER_FROM, the series above
    fitted = kde.fit(x, bandwidths=grid)
    plain = kde.fit(x, bandwidths=grid, boundary="none")
    data = x.double().numpy()
    folds = np.array_split(np.arange(len(data)), 5)  # contiguous, as scikit-learn's KFold
    by_hand = {}
    for bandwidth in grid:
        scores = [images_by_hand(np.delete(data, fold, 0), data[fold], bandwidth) for fold in folds]
        by_hand[bandwidth] = np.concatenate(scores).mean()
        assert fitted.cv_scores[bandwidth] == pytest.approx(by_hand[bandwidth], abs=CV_TOL)
        # The check can fail: the plain KDE's scores differ by more than the tolerance.
        assert abs(plain.cv_scores[bandwidth] - by_hand[bandwidth]) > 5 * CV_TOL
    assert fitted.bandwidth == max(by_hand, key=by_hand.get)


def test_the_series_hands_remote_points_to_their_neighbours():
    # A held-out fold 45 degrees from every training point: its density, far below the series'
    # floor (1e-4 of the uniform density), is scored over its neighbours instead.
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(100, 2, generator=g, dtype=torch.float64) * 2).numpy()
    data[:20, 0] += 45.0
    folds = np.array_split(np.arange(100), 5)
    splits = [(np.setdiff1d(np.arange(100), fold), fold) for fold in folds]
    scores = kde.fourier_held_out(data, splits, 6.5)
    assert scores[:20].max() < math.log(kde.FOURIER_FLOOR)
    expected = np.concatenate(
        [images_by_hand(np.delete(data, fold, 0), data[fold], 6.5) for fold in folds]
    )
    assert np.allclose(scores, expected, atol=CV_TOL)


def test_the_plain_search_scores_the_plain_kde_of_the_other_folds():
    x = gaussian_points(400, 5)
    x[0] = torch.tensor([150.0, -70.0])  # a point far from every other: exact all the same
    grid = [1.0, 2.0, 4.0, 8.0, 16.0]
    fitted = kde.fit(x, bandwidths=grid, boundary="none")
    data = x.double().numpy()
    folds = np.array_split(np.arange(len(data)), 5)
    by_hand = {}
    for bandwidth in grid:
        scores = []
        for fold in folds:
            train, test = torch.as_tensor(np.delete(data, fold, 0)), torch.as_tensor(data[fold])
            scores.append(kde.GaussianKDE(train, bandwidth).log_prob(test).numpy())
        by_hand[bandwidth] = np.concatenate(scores).mean()
        assert fitted.cv_scores[bandwidth] == pytest.approx(by_hand[bandwidth], abs=CV_TOL)
    assert fitted.bandwidth == max(by_hand, key=by_hand.get)


def test_boundaries_names_and_sizes():
    from gdl_pyro.data import world

    x = world.sample_land(200, seed=1)
    on_map, plain = kde.fit(x, bandwidths=[3.0]), kde.fit(x, bandwidths=[3.0], boundary="none")
    assert on_map.name == "KDE (map-respecting, bandwidth by CV)" and on_map.boundary == "map"
    assert plain.name == "KDE (plain, bandwidth by CV)" and plain.boundary == "none"
    assert type(on_map.distribution()) is kde.MapKDE
    assert type(plain.distribution()) is kde.GaussianKDE
    assert on_map.sample(0).shape == (0, 2) and on_map.distribution().sample((0,)).shape == (0, 2)
    assert on_map.log_prob(torch.empty(0, 2)).shape == (0,)
    with pytest.raises(ValueError, match="boundary must be one of"):
        kde.fit(x, boundary="sphere")
    with pytest.raises(ValueError, match="x must lie on the map"):
        kde.fit(torch.tensor([[0.0, 0.0], [190.0, 0.0]] * 5))
    assert kde.fit(torch.tensor([[0.0, 0.0], [190.0, 0.0]] * 5), boundary="none").bandwidth > 0
