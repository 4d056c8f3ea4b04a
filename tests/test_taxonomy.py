"""family_table scores every fit by its own kind, against fits whose answers are known."""

import math

import pytest
import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox
from gdl_pyro.fitting import Fit, PointFit
from gdl_pyro.taxonomy import ROW_KINDS, branch_of, family_table

X_TEST = world.sample_land(2000, seed=4)
ENTROPY = world.LandUniform().entropy().item()
# 2,000 held-out points: the mean log density of a uniform density is exact, so the gap of p_data
# itself is 0 up to float rounding.
EXACT = 1e-4


class _Sampler(Fit):
    """A fit with no density that samples p_data itself: a perfect GAN."""

    nll_kind = "none"

    def _sample(self, num_samples):
        return world.sample_land(num_samples, seed=int(torch.randint(1000, ())))


class _Bounded(Fit):
    """p_data with a 'bound' 0.5 nats below its log density: an upper bound on the NLL."""

    nll_kind = "upper_bound"

    def log_prob_lower_bound(self, x, seed=None, slack=0.5):
        return world.LandUniform().log_prob(x) - slack

    def _sample(self, num_samples):
        return world.sample_land(num_samples, seed=1)


@pytest.fixture(scope="module")
def rows():
    p_data = PointFit("p_data", "flow", world.LandUniform, seconds=1.0)
    small_box = PointFit(
        "small box",
        "box",
        lambda: UniformBox(torch.tensor([-100.0, -50.0]), torch.tensor([100.0, 50.0])),
    )
    fits = [small_box, p_data, _Bounded("bounded", "vae"), _Sampler("perfect GAN", "gan")]
    table = family_table(
        fits,
        X_TEST,
        num_samples=3000,
        seed=0,
        bound_options={"bounded": {"slack": 0.25}},
        kde_bandwidths=[1.0, 2.0, 4.0],
    )
    return {row["name"]: row for row in table}, [row["name"] for row in table]


def test_exact_rows_first_then_bounds_then_kdes_of_samples(rows):
    by_name, order = rows
    assert order == ["p_data", "small box", "bounded", "perfect GAN"]
    assert [by_name[n]["nll_kind"] for n in order] == list(ROW_KINDS[:1] * 2 + ROW_KINDS[1:])


def test_p_data_scores_a_gap_of_zero_and_its_kl_is_that_gap(rows):
    row = rows[0]["p_data"]
    assert row["gap_nats"] == pytest.approx(0.0, abs=EXACT)
    assert row["kl_nats"] == row["gap_nats"] and row["heldout_missed"] == 0
    assert row["branch"] == "flow" and row["kde_bandwidth"] is None


def test_a_box_that_misses_points_has_an_infinite_kl(rows):
    row = rows[0]["small box"]
    assert row["heldout_missed"] > 0 and math.isfinite(row["gap_nats"])
    assert row["kl_nats"] == math.inf and row["branch"] == "baseline"


def test_a_bound_uses_the_options_given_for_it(rows):
    row = rows[0]["bounded"]
    assert row["gap_nats"] == pytest.approx(0.25, abs=EXACT)  # the slack asked for, not 0.5
    assert row["kl_nats"] is None


def test_a_kde_of_samples_sits_beside_the_same_procedure_on_p_data(rows):
    # A perfect sampler's KDE scores what the KDE of p_data's own samples scores: the bias of
    # the procedure, not the model's.
    row = rows[0]["perfect GAN"]
    assert row["nll_kind"] == "kde_of_samples" and row["kl_nats"] is None
    assert row["kde_bandwidth"] in (1.0, 2.0, 4.0)
    assert row["kde_of_p_data_gap"] > 0.02  # a KDE of 3,000 points is far from perfect
    assert row["gap_nats"] == pytest.approx(row["kde_of_p_data_gap"], abs=0.03)


def test_branches_and_names():
    assert branch_of("energy") == "energy" and branch_of("kde") == "baseline"
    twice = PointFit("same", "box", world.LandUniform)
    with pytest.raises(ValueError, match="distinct names"):
        family_table([twice, twice], X_TEST, num_samples=10)
