"""Land-mass labels: one per land cell, none at sea; the class-conditional p_data is proper;
samples' total variation from p_data over the land masses."""

import math

import pytest
import torch

from gdl_pyro.data import landmasses, world

# Midpoint rule on half-cells: exact for a density constant on each mask cell.
INTEGRAL_TOL = 1e-6


def test_every_land_cell_has_exactly_one_label_and_sea_none():
    labels, mask = world.land_mass_labels(), world.land_mask()
    assert ((labels >= 0) == mask).all()
    assert labels.max() == len(world.LAND_MASSES) - 1
    areas = sum(world.land_mass_area(c) for c in range(len(world.LAND_MASSES)))
    assert areas == pytest.approx(world.land_area())
    assert torch.allclose(world.land_mass_prior().sum(), torch.tensor(1.0))


@pytest.mark.parametrize(
    ("place", "lon", "lat", "land_mass"),
    [
        ("Sinai joins Africa and Asia", 33.8, 29.5, "Afro-Eurasia"),
        ("Egypt", 30.0, 27.0, "Afro-Eurasia"),
        ("Panama joins the Americas", -80.0, 8.8, "Americas"),
        ("Chukotka east of the dateline", -175.0, 66.5, "Afro-Eurasia"),
        ("Chukotka west of the dateline", 175.0, 67.0, "Afro-Eurasia"),
        ("Alaska", -150.0, 65.0, "Americas"),
        ("Madagascar (island, nearest Africa)", 47.0, -20.0, "Afro-Eurasia"),
        ("New Zealand (island, nearest Australia)", 172.0, -42.0, "Australia"),
        ("Fiji, across the dateline", 178.0, -17.8, "Australia"),
        ("Baffin Island", -70.0, 70.0, "Americas"),
        ("Greenland", -40.0, 72.0, "Greenland"),
        ("South pole", 0.0, -89.9, "Antarctica"),
    ],
)
def test_known_places(place, lon, lat, land_mass):
    label = world.land_mass_of(torch.tensor([[lon, lat]])).item()
    assert world.LAND_MASSES[label] == land_mass, place


def test_sea_and_off_map_points_have_no_class():
    assert (world.land_mass_of(torch.tensor([[0.0, 0.0], [-30.0, 0.0], [200.0, 0.0]])) == -1).all()


@pytest.mark.parametrize("land_mass", range(5))
def test_class_conditional_density_integrates_to_one(land_mass):
    step = 0.125
    lon = torch.arange(-180 + step / 2, 180, step)
    lat = torch.arange(-90 + step / 2, 90, step)
    p = world.LandMassUniform(land_mass)
    integral = sum(
        p.log_prob(torch.cartesian_prod(chunk, lat)).exp().double().sum().item()
        for chunk in lon.split(720)
    )
    assert integral * step**2 == pytest.approx(1.0, abs=INTEGRAL_TOL)


def test_class_samples_and_labelled_samples_agree_with_the_labels():
    for c in range(len(world.LAND_MASSES)):
        assert (world.land_mass_of(world.sample_land_mass(c, 500, seed=c)) == c).all()
    x, y = world.sample_land_labelled(20_000, seed=0)
    assert torch.equal(world.land_mass_of(x), y)
    shares = torch.bincount(y, minlength=5).double() / 20_000
    assert torch.allclose(
        shares, world.land_mass_prior().double(), atol=0.01
    )  # p(y) is the area share


def test_bayes_classifier_from_the_true_densities_is_always_right():
    x, y = world.sample_land_labelled(5000, seed=1)
    log_joint = torch.stack([world.LandMassUniform(c).log_prob(x) for c in range(5)], -1)
    log_joint = log_joint + world.land_mass_prior().log()
    assert torch.equal(log_joint.argmax(-1), y)
    assert world.LandMassUniform("Australia").entropy().item() == pytest.approx(
        math.log(world.land_mass_area("Australia"))
    )


@pytest.mark.parametrize("bad", [-1, 5, "Atlantis", 1.5])
def test_bad_land_mass(bad):
    with pytest.raises(ValueError, match="land_mass"):
        world.LandMassUniform(bad)


def test_land_mass_tv_known_values():
    # One land mass only: q is all on it, so TV = 1 - p_k exactly.
    prior = world.land_mass_prior()
    for k, name in enumerate(world.LAND_MASSES):
        points = world.sample_land_mass(name, 200, seed=k)
        assert landmasses.land_mass_tv(points) == pytest.approx(1 - prior[k].item(), abs=1e-6)
    # Samples of p_data itself: only sampling noise. With 5 classes and 40,000 points each
    # |q_k - p_k| has sd at most 0.0025, so the TV stays below 0.01.
    assert landmasses.land_mass_tv(world.sample_land(40_000, seed=9)) < 0.01
    # Nothing on the five masses (all at sea): undefined, reported as NaN, not as 0.
    assert math.isnan(landmasses.land_mass_tv(torch.tensor([[-150.0, 0.0]])))
