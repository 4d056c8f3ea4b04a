"""The shipped land mask, p_data and its sampler against what is known of the map; the
framework's table of fits against p_data."""

import math
import time

import pyro
import pytest
import torch

from gdl_pyro.data import world
from gdl_pyro.models import box, gaussian, mixture
from tests.models.test_mixture import simulate

# 0.25-degree Natural Earth 1:50m land: 342,703 cells of 0.0625 square degrees.
EXPECTED_LOG_LAND_AREA = 9.972
# Monte Carlo with 100,000 draws: the standard error of a share near 1/3 is 0.0015.
MC_TOL = 0.008


def test_land_area_matches_the_book_scale():
    assert math.log(world.land_area()) == pytest.approx(EXPECTED_LOG_LAND_AREA, abs=1e-3)
    # Land is a third of the lon/lat rectangle (Antarctica is wide in these coordinates).
    assert world.land_area() / (360 * 180) == pytest.approx(0.331, abs=0.002)


@pytest.mark.parametrize(
    ("place", "lon", "lat", "land"),
    [
        ("Paris", 2.35, 48.85, True),
        ("Sahara", 10.0, 25.0, True),
        ("Sydney outback", 145.0, -30.0, True),
        ("Chukotka west of the dateline", 175.0, 67.0, True),
        ("Chukotka east of the dateline", -175.0, 66.5, True),
        ("Fiji (Vanua Levu), across 180", 179.9, -16.6, True),
        ("south pole", 0.0, -89.9, True),
        ("Antarctica at the dateline", 180.0, -85.0, True),
        ("Antarctica at -180", -180.0, -85.0, True),
        ("Gulf of Guinea", 0.0, 0.0, False),
        ("mid Pacific", -150.0, 0.0, False),
        ("north pole (Arctic Ocean)", 0.0, 89.9, False),
        ("Caspian Sea (a hole in Eurasia)", 50.5, 42.0, False),
        ("Bering Strait", -169.0, 65.9, False),
    ],
)
def test_known_places(place, lon, lat, land):
    assert world.is_land(torch.tensor([[lon, lat]])).item() is land, place


def test_mask_is_north_up():
    mask = world.land_mask()
    assert mask.shape == (720, 1440)
    assert not mask[0].any()  # the northernmost row is the Arctic Ocean
    assert mask[-1].all()  # the southernmost row is Antarctica, all the way round


def test_points_outside_the_sample_space_are_not_land():
    points = torch.tensor([[181.0, -88.0], [0.0, -90.5], [-180.5, 60.0]])
    assert not world.is_land(points).any()


def test_samples_are_on_land_uniformly():
    x = world.sample_land(100_000, seed=1)
    assert x.shape == (100_000, 2)
    assert world.is_land(x).all()
    # Uniform over land: the share in a region is that region's share of the land area.
    box_low, box_high = torch.tensor([-30.0, -40.0]), torch.tensor([60.0, 40.0])  # mostly Africa
    inside = ((x >= box_low) & (x <= box_high)).all(-1).double().mean().item()
    expected = world.land_area_in_box(box_low, box_high) / world.land_area()
    assert inside == pytest.approx(expected, abs=MC_TOL)


def test_same_seed_same_points_and_global_rng_follows_pyro_seed():
    assert torch.equal(world.sample_land(10, seed=3), world.sample_land(10, seed=3))
    assert not torch.equal(world.sample_land(10, seed=3), world.sample_land(10, seed=4))
    pyro.set_rng_seed(5)
    first = world.sample_land(10)
    pyro.set_rng_seed(5)
    assert torch.equal(first, world.sample_land(10))


def test_land_uniform_log_prob_and_entropy():
    p_data = world.LandUniform()
    x = p_data.sample((1000,))
    assert x.shape == (1000, 2)
    expected = -math.log(world.land_area())
    assert torch.allclose(p_data.log_prob(x), torch.full((1000,), expected))
    sea = torch.tensor([[0.0, 0.0], [-150.0, 0.0], [500.0, 0.0]])
    assert torch.equal(p_data.log_prob(sea), torch.full((3,), -math.inf))
    assert p_data.entropy().item() == pytest.approx(-expected)


def test_land_uniform_integrates_to_one():
    step = 0.125  # cells of the mask split in four: the midpoint rule is exact here
    lon = torch.arange(-180 + step / 2, 180, step)
    lat = torch.arange(-90 + step / 2, 90, step)
    grid = torch.cartesian_prod(lon, lat)
    integral = world.LandUniform().log_prob(grid).exp().double().sum().item() * step**2
    assert integral == pytest.approx(1.0, abs=1e-6)


def test_land_uniform_in_a_pyro_model():
    x = world.sample_land(50, seed=0)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", world.LandUniform(), obs=x)

    trace = pyro.poutine.trace(model).get_trace(x)
    assert trace.log_prob_sum().item() == pytest.approx(-50 * math.log(world.land_area()), rel=1e-5)
    simulated = pyro.poutine.trace(model).get_trace(torch.zeros(7, 2))
    assert simulated.nodes["obs"]["value"].shape == (7, 2)
    # Unobserved inside a plate: the expanded distribution samples one point per plate member.
    with pyro.plate("p", 4):
        assert pyro.sample("z", world.LandUniform()).shape == (4, 2)


def test_land_area_in_box_closed_forms():
    assert world.land_area_in_box([-180, -90], [180, 90]) == pytest.approx(world.land_area())
    assert world.land_area_in_box([-1e9, -1e9], [1e9, 1e9]) == pytest.approx(world.land_area())
    # South of -85.25 every cell is land (the Ross Ice Shelf, not land in Natural Earth, ends
    # there): a 360 x 4.75 degree strip.
    assert world.land_area_in_box([-180, -90], [180, -85.25]) == pytest.approx(360 * 4.75)
    # Half a cell's width of that strip.
    assert world.land_area_in_box([0.0, -90], [0.125, -85.25]) == pytest.approx(0.125 * 4.75)
    assert world.land_area_in_box([-30, -10], [-20, 0]) == 0.0  # open Atlantic


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.zeros(3), r"shape \(N, 2\)"),
        (torch.zeros(3, 3), r"shape \(N, 2\)"),
        (torch.tensor([[0.0, math.nan]]), "finite"),
        (torch.tensor([[math.inf, 0.0]]), "finite"),
        ("not points", r"shape \(N, 2\)"),
    ],
)
def test_is_land_rejects_bad_points(bad, match):
    with pytest.raises(ValueError, match=f"points must .*{match}|points must hold {match}"):
        world.is_land(bad)


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_sample_land_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 0"):
        world.sample_land(bad)


def test_sample_land_zero_points_is_empty():
    assert world.sample_land(0).shape == (0, 2)


def test_jitter_keeps_points_on_the_map_and_wraps_longitude():
    torch.manual_seed(0)
    edge = torch.tensor([[179.9, 89.9], [-179.9, -89.9]]).repeat(5000, 1)
    moved = world.jitter(edge, 1.0)
    assert moved[:, 0].abs().max() <= 180 and moved[:, 1].abs().max() <= 90
    # half the points near 180 cross the seam and reappear near -180 (not at 181)
    crossed = (moved[0::2, 0] < 0).double().mean().item()
    assert 0.4 < crossed < 0.6
    assert moved[:, 0].abs().min() > 170  # still near the seam, on one side or the other
    assert torch.equal(world.jitter(edge, 0), edge)
    with pytest.raises(ValueError, match="noise"):
        world.jitter(edge, -1.0)


class _PData:
    """p_data itself, as a fit: what the framework's table must score as perfect."""

    name, seconds = "p_data", 0.0

    def log_prob(self, x):
        return world.LandUniform().log_prob(x)

    def sample(self, num_samples):
        return world.sample_land(num_samples, seed=5)


def test_framework_table_scores_p_data_as_perfect():
    x_test = world.sample_land(1000, seed=4)
    start = time.perf_counter()
    (row,) = world.framework_table([_PData()], x_test, num_samples=40_000)
    wall = time.perf_counter() - start
    # -log p_data(x) is log(land_area()) at every land point: the entropy, exactly.
    assert row["gap_nats"] == pytest.approx(0.0, abs=1e-5) and row["heldout_missed"] == 0
    assert row["accuracy"] == 1.0 and row["coverage"] == 1.0
    assert row["land_mass_tv"] < 0.01  # sampling noise only (see test_land_mass_tv_known_values)
    # The draws are timed inside the call: 40,000 of them took less than all of it.
    assert row["samples_per_second"] > 40_000 / wall and row["fit_seconds"] == 0.0


@pytest.mark.slow
def test_framework_table_ranks_mixture_above_gaussian_above_box():
    x, x_test = simulate(900, seed=10), simulate(2000, seed=11)
    fits = [
        mixture.fit(x, num_components=3, num_steps=600, num_draws=100, quiet=True, seed=0),
        gaussian.fit(x),
        box.fit(x, num_steps=300, quiet=True, seed=0),
    ]
    for fitted, name in zip(fits, ["mixture", "gaussian", "box"], strict=True):
        fitted.name = name
    rows = world.framework_table(fits, x_test, num_samples=100)
    nll = {row["name"]: row["heldout_nll"] for row in rows}
    # The box misses some held-out points (density 0) and is still the worst on those it covers.
    assert nll["mixture"] < nll["gaussian"] < nll["box"]
    assert rows[2]["heldout_missed"] > 0 and rows[0]["heldout_missed"] == 0
    assert all(math.isfinite(row["gap_nats"]) for row in rows)


def test_jitter_keeps_points_on_the_map_whatever_the_noise():
    points = torch.tensor([[0.0, 80.0], [179.0, -89.0]]).repeat(500, 1)
    for noise in (0.5, 30.0, 500.0):
        moved = world.jitter(points, noise)
        assert (moved[:, 0].abs() <= 180).all() and (moved[:, 1].abs() <= 90).all(), noise
    # Past a pole by 1 degree is 1 degree short of it: one reflection, as before.
    assert world.jitter(torch.tensor([[0.0, 91.0]]), 1e-12)[0, 1] == pytest.approx(89.0)
