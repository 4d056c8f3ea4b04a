"""Diagnostics: r_hat over chains, a guide's PSIS k-hat and its threshold, per-parameter widths."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoNormal

from gdl_pyro import diagnostics
from gdl_pyro._state import seeded
from gdl_pyro.convert import az
from gdl_pyro.data import world
from gdl_pyro.infer import fit_svi
from gdl_pyro.models import gaussian

# PSIS k-hat above 0.7 means the importance weights have no usable variance: the guide fails.
KHAT_OK = 0.7


@pytest.mark.slow
def test_vi_khat_separates_a_good_guide_from_a_bad_one():
    x = world.sample_land(150, seed=1)
    good = gaussian.fit(x, method="vi", num_steps=1500, num_draws=400, quiet=True, seed=0)
    # k-hat from a few hundred draws is noisy (0.36 to 0.70 over seeds at 400 draws for this
    # guide); 4000 vectorised draws cost little and give 0.2 to 0.5.
    assert good.khat(num_draws=4000, seed=0) < KHAT_OK
    idata = good.inference_data()
    assert idata.posterior["loc"].shape == (1, 400, 2) and idata.log_likelihood["obs"].shape == (
        1,
        400,
        150,
    )
    bad = AutoNormal(gaussian.model)
    result = fit_svi(gaussian.model, bad, x, num_steps=5, lr=0.02, quiet=True)  # barely trained
    with result.scope():
        assert diagnostics.vi_khat(gaussian.model, bad, x, num_draws=4000) > KHAT_OK


def test_vi_khat_of_a_guide_a_little_wider_than_the_posterior_is_small():
    # q 1.2 times as wide as the exact posterior: the weights p / q are bounded, their tail has
    # a negative Pareto shape (-0.94 to -0.73 over seeds 0-7 at 1000 draws). The exact posterior
    # itself is no test: its weights are all p(x), equal up to float noise, and a Pareto fit to
    # noise gives anything, inf included.
    x = world.sample_land(100, seed=2)
    _, cov = gaussian.mle(x)
    exact = gaussian.conjugate_posterior(x, cov)

    def wider_guide(x, cov=None):
        pyro.sample("loc", dist.MultivariateNormal(exact.loc, scale_tril=1.2 * exact.scale_tril))

    with seeded(0):
        khat = diagnostics.vi_khat(gaussian.model, wider_guide, x, cov=cov, num_draws=1000)
    assert khat < 0


def test_khat_threshold_follows_the_number_of_draws():
    assert diagnostics.khat_threshold(100) == pytest.approx(0.5)
    assert diagnostics.khat_threshold(1000) == pytest.approx(2 / 3)
    assert diagnostics.khat_threshold(10_000) == 0.7  # capped
    with pytest.raises(ValueError, match="num_draws"):
        diagnostics.khat_threshold(5)


def test_rhat_max_sees_chains_that_disagree_and_skips_fixed_entries():
    g = torch.Generator().manual_seed(0)
    agree = torch.randn(2, 1000, generator=g)
    apart = agree + torch.tensor([[0.0], [3.0]])  # the second chain elsewhere
    fixed = torch.ones(2, 1000)  # e.g. a Cholesky factor's 1: no variance, r_hat undefined
    as_idata = lambda w: az.from_dict(posterior={"w": w.numpy(), "one": fixed.numpy()})  # noqa: E731
    # 1000 draws of two chains from one distribution: r_hat within 0.005 of 1.
    assert diagnostics.rhat_max(as_idata(agree)) < diagnostics.RHAT_THRESHOLD
    assert diagnostics.rhat_max(as_idata(apart)) > 1.5


def test_sd_ratio_is_per_parameter():
    # Three weights far apart, each with posterior sd 1 under one fit and 0.2 under another:
    # the pooled sd of all draws would be about 4 for both and call them equal.
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([0.0, 10.0, -10.0])
    wide = centres + torch.randn(2, 2000, 3, generator=g)
    narrow = centres + 0.2 * torch.randn(2, 2000, 3, generator=g)
    as_idata = lambda draws: az.from_dict(posterior={"w": draws.numpy()})  # noqa: E731
    ratios = diagnostics.sd_ratio(as_idata(narrow), as_idata(wide))
    assert set(ratios) == {"w[0]", "w[1]", "w[2]"}
    assert all(r == pytest.approx(0.2, rel=0.05) for r in ratios.values())  # sd of an sd: 1.1%
    pooled = float(narrow.std() / wide.std())
    assert pooled > 0.95  # what one number over all elements would have said
