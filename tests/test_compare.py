"""Comparison: held-out scores of any fit, and PSIS-LOO of VI fits corrected for the guide."""

import math

import numpy as np
import pyro
import pytest
import torch

from gdl_pyro import compare
from gdl_pyro.convert import az, to_inference_data
from gdl_pyro.distributions import UniformBox
from gdl_pyro.fitting import PosteriorFit
from gdl_pyro.models import box, gaussian, mixture
from tests.models.test_mixture import simulate

# vi_loo against the exact leave-one-out predictive of 100 points, 4000 guide draws: measured
# over seeds 0-2 and guides 0.8, 1 and 5 times as wide as the posterior, the sum is off by 0.02 to
# 0.055 nats (PSIS's own error: the exact posterior as guide does no better); 0.1 is twice that.
LOO_TOL = 0.1


@pytest.mark.slow
def test_comparison_ranks_mixture_above_gaussian_above_box():
    x, x_test = simulate(900, seed=10), simulate(2000, seed=11)
    fits = [
        mixture.fit(x, num_components=3, num_steps=600, num_draws=100, quiet=True, seed=0),
        gaussian.fit(x),
        box.fit(x, num_steps=300, quiet=True, seed=0),
    ]
    for fitted, name in zip(fits, ["mixture", "gaussian", "box"], strict=True):
        fitted.name = name
    scores = {f.name: f.log_prob(x_test) for f in fits}
    table, missed = compare.compare_heldout(scores)
    assert list(table.index) == ["mixture", "gaussian"]
    # Decisively: the Gaussian's elpd is more than 4 standard errors of the difference below.
    assert table.loc["gaussian", "lpd_diff"] > 4 * table.loc["gaussian", "dse"]
    assert "elpd_loo" not in table.columns  # held-out scores, not LOO
    # The box gives some held-out points density 0: reported with its count, never as NaN.
    expected_missed = int((~torch.isfinite(scores["box"])).sum())
    assert missed == {"box": expected_missed} and expected_missed > 0


def test_heldout_table_by_hand():
    scores = {"a": torch.tensor([-1.0, -2.0, -3.0]), "b": torch.tensor([-1.5, -2.0, -2.0])}
    table, missed = compare.compare_heldout({**scores, "c": torch.tensor([0.0, -math.inf])})
    assert list(table.index) == ["b", "a"] and missed == {"c": 1}
    assert table.loc["b", "heldout_lpd"] == pytest.approx(-5.5)
    assert table.loc["a", "lpd_diff"] == pytest.approx(0.5)
    # Paired differences b - a: (-0.5, 0, 1), population variance 7/18; dse = sqrt(3 * 7/18).
    assert table.loc["a", "dse"] == pytest.approx(math.sqrt(3 * 7 / 18))
    assert table.loc["a", "se"] == pytest.approx(math.sqrt(3 * 2 / 3))
    assert table.loc["b", "lpd_diff"] == 0 and table.loc["b", "dse"] == 0


def test_posterior_predictive_is_the_log_of_the_mean_density_over_draws():
    # Two posterior boxes: a point inside both, and a point that only the first covers.
    draws = {
        "low": torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        "high": torch.tensor([[2.0, 2.0], [1.0, 1.0]]),
    }
    fitted = PosteriorFit("toy", "box", UniformBox, draws, None, losses=(), seconds=0.0)
    points = torch.tensor([[0.5, 0.5], [1.5, 1.5]])
    lpd = fitted.log_prob(points)
    expected = torch.log(torch.tensor([(1 / 4 + 1) / 2, (1 / 4 + 0) / 2]))
    assert torch.allclose(lpd, expected)
    assert torch.allclose(fitted.distribution().log_prob(points), expected)
    expected_per_draw = torch.tensor([[-math.log(4)] * 2, [0.0, -math.inf]])
    assert torch.allclose(fitted.log_density(points), expected_per_draw)  # (draws, points)
    assert torch.isfinite(lpd).all()  # one draw covering a point is enough


def normal_mean_case(num_data=100):
    """y_i ~ N(mu, 1), mu ~ N(0, 2^2): Normal posteriors, and an exact leave-one-out predictive.

    Without y_i the posterior of mu is N(m, v) with 1/v = 1/4 + (n - 1) and m = v sum_{j != i} y_j,
    so p(y_i | y_-i) = N(y_i | m, 1 + v).
    """
    y = torch.randn(num_data, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = (y + 1.5).float()

    def model(y):
        mu = pyro.sample("mu", pyro.distributions.Normal(0.0, 2.0))
        with pyro.plate("data", len(y)):
            pyro.sample("obs", pyro.distributions.Normal(mu, 1.0), obs=y)

    y64 = y.double()
    v = 1 / (0.25 + (num_data - 1))
    m = v * (y64.sum() - y64)
    exact = torch.distributions.Normal(m, (1 + v) ** 0.5).log_prob(y64).sum().item()
    precision = 0.25 + num_data
    posterior = (y64.sum().item() / precision, precision**-0.5)
    # The full posterior's log predictive density of each y_i, for p_loo = lppd - elpd_loo.
    lppd = torch.distributions.Normal(posterior[0], (1 + 1 / precision) ** 0.5).log_prob(y64)
    return y, model, exact, posterior, lppd.sum().item()


@pytest.mark.parametrize(("width", "tol"), [(5.0, LOO_TOL), (0.8, LOO_TOL)])
def test_vi_loo_is_exact_for_a_guide_wider_or_narrower_than_the_posterior(width, tol):
    y, model, exact, (mean, sd), lppd = normal_mean_case()

    def guide(y):
        pyro.sample("mu", pyro.distributions.Normal(mean, width * sd))

    result = compare.vi_loo(model, guide, y, num_draws=4000)
    assert result.elpd_loo == pytest.approx(exact, abs=tol)
    assert result.n_samples == 4000 and result.good_k == pytest.approx(0.7)
    assert (result.pareto_k < result.good_k).all() and not result.warning
    assert result.p_loo == pytest.approx(lppd - exact, abs=tol)  # 1.25 effective parameters


def test_loo_without_the_correction_misses_by_many_nats():
    # The same guide's draws taken as if they were the posterior: a 5x too wide "posterior".
    y, model, exact, (mean, sd), _ = normal_mean_case()
    draws = {"mu": torch.randn(4000, generator=torch.Generator().manual_seed(1)) * 5 * sd + mean}
    idata = to_inference_data(None, model, y, draws=draws)
    with pytest.warns(UserWarning, match="Pareto"):  # ArviZ sees the ratios' heavy tail too
        uncorrected = az.loo(idata).elpd_loo
    assert exact - uncorrected > 5.0


def test_compare_loo_ranks_only_reliable_fits():
    y, model, exact, (mean, sd), _ = normal_mean_case()

    def guide(y):
        pyro.sample("mu", pyro.distributions.Normal(mean, 2 * sd))

    corrected = compare.vi_loo(model, guide, y, num_draws=2000)
    draws = {"mu": torch.randn(2000, generator=torch.Generator().manual_seed(2)) * 5 * sd + mean}
    idata = to_inference_data(None, model, y, draws=draws)
    with pytest.warns(UserWarning, match="Pareto"):
        uncorrected = az.loo(idata, pointwise=True)
    table, unreliable = compare.compare_loo({"vi_loo": corrected, "as if posterior": uncorrected})
    assert list(table.index) == ["vi_loo"]
    assert set(unreliable) == {"as if posterior"}
    assert unreliable["as if posterior"] > uncorrected.good_k


def test_paired_difference_of_known_scores():
    base = torch.linspace(-1.0, 1.0, 101, dtype=torch.float64)
    result = compare.paired_difference(base + 0.3, base)
    assert result["diff_nats"] == pytest.approx(0.3) and result["se_nats"] == pytest.approx(0.0)
    noisy = compare.paired_difference(base, torch.zeros(101))
    assert noisy["se_nats"] == pytest.approx(base.std().item() / math.sqrt(101))
    with pytest.raises(ValueError, match="finite"):
        compare.paired_difference(torch.tensor([0.0, -math.inf]), torch.zeros(2))


def test_seed_verdict_separates_spread_between_seeds_from_heldout_noise():
    # The flow-minus-KDE differences over seeds 0-4: the spread between seeds is as
    # large as the effect, whatever the held-out errors say.
    diffs = [0.013, 0.024, 0.001, 0.031, 0.031]
    runs = [{"diff_nats": d, "se_nats": 0.005} for d in diffs]
    verdict = compare.seed_verdict(runs)
    assert verdict["mean_diff_nats"] == pytest.approx(0.02)
    assert verdict["sd_between_seeds_nats"] == pytest.approx(float(np.std(diffs, ddof=1)))
    assert verdict["wins"] == 5 and not verdict["winner_changes"]
    flipped = compare.seed_verdict([*runs[:4], {"diff_nats": -0.01, "se_nats": 0.005}])
    assert flipped["wins"] == 4 and flipped["winner_changes"]
    with pytest.raises(ValueError, match="at least 2 seeds"):
        compare.seed_verdict(runs[:1])
