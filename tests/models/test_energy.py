"""The energy-based model: an exact normaliser by quadrature, NCE recovers a known Gaussian, and
NUTS on the potential samples the density that quadrature describes."""

import math

import pyro
import pytest
import torch

from gdl_pyro.models import energy

SCALES, LOC = torch.tensor([30.0, 20.0]), torch.tensor([10.0, 5.0])
# Quadrature of a smooth energy (features up to 4 cycles across the map) at 1 and 0.5 degrees:
# the midpoint rule's error is far below this.
QUADRATURE_TOL = 1e-3
# NCE's optimum is self-normalised: -E(x) = log p_data(x), so log Z = 0. Measured -0.006 after
# 1,000 steps on 3,000 points; the estimate's noise from 3,000 points is of order 0.02.
SELF_NORMALISED_TOL = 0.05
# Held-out NLL minus the true NLL of the same points (paired, so the points' own noise cancels).
# Measured 0.015 nats (standard error 0.003) after 1,000 steps; a Gaussian is easy for the energy,
# and what is left is optimisation and the estimate from 3,000 points.
KL_TOL = 0.1


def _gaussian(num, seed):
    return torch.randn(num, 2, generator=torch.Generator().manual_seed(seed)) * SCALES + LOC


def _true_log_prob(x):
    return torch.distributions.Normal(LOC, SCALES).log_prob(x).sum(-1)


@pytest.fixture(scope="module")
def fitted():
    return energy.fit(
        _gaussian(3000, 0),
        hidden_dim=64,
        num_frequencies=4,
        num_steps=1000,
        quadrature_steps=(1.0, 0.5),
        seed=0,
        quiet=True,
    )


@pytest.mark.slow
def test_normaliser_agrees_at_two_resolutions_and_the_density_integrates_to_one(fitted):
    coarse, fine = fitted.log_z_by_step[1.0], fitted.log_z_by_step[0.5]
    assert coarse == pytest.approx(fine, abs=QUADRATURE_TOL)
    step = 0.75  # a third grid, not one the normaliser was computed on
    grid = energy._grid(step)
    mass = fitted.log_prob(grid).exp().sum().item() * step**2
    assert mass == pytest.approx(1.0, abs=QUADRATURE_TOL)


@pytest.mark.slow
def test_nce_recovers_the_gaussian_and_its_own_normaliser(fitted):
    x = _gaussian(5000, 1)
    excess = (_true_log_prob(x) - fitted.log_prob(x)).mean().item()
    assert 0 < excess < KL_TOL  # a KL estimate: positive up to noise far below its size here
    assert fitted.log_z == pytest.approx(0.0, abs=SELF_NORMALISED_TOL)


@pytest.mark.slow
def test_nuts_samples_the_density_that_quadrature_describes(fitted):
    samples = fitted.sample(4000, seed=0)
    grid = energy._grid(0.5)
    weight = fitted.log_prob(grid).exp() * 0.25
    mean = (weight.unsqueeze(-1) * grid).sum(0)
    sd = (weight.unsqueeze(-1) * (grid - mean) ** 2).sum(0).sqrt()
    # 4,000 chains, one draw each: the sample mean's standard error is sd / 63, under 0.5 degrees.
    assert torch.allclose(samples.mean(0), mean, atol=2.0)
    assert torch.allclose(samples.std(0), sd, rtol=0.05)
    assert torch.equal(samples, fitted.sample(4000, seed=0))
    chains = energy.sample_mcmc(fitted.energy, 300, num_chains=100, seed=0, return_chains=True)
    assert chains.shape == (3, 100, 2)


@pytest.mark.slow
def test_model_scores_exactly_and_nce_model_labels(fitted):
    x = _gaussian(5, 2)
    trace = pyro.poutine.trace(energy.model).get_trace(x, energy=fitted.energy, log_z=fitted.log_z)
    trace.compute_log_prob()
    assert torch.allclose(trace.nodes["obs"]["log_prob"], fitted.log_prob(x))
    trace = pyro.poutine.trace(energy.nce_model).get_trace(x, energy=fitted.energy, noise_ratio=3)
    assert trace.nodes["data_label"]["value"].tolist() == [1.0] * 5
    assert trace.nodes["noise_label"]["value"].shape == (15,)


@pytest.mark.slow
def test_off_the_map_has_no_density_and_bad_steps_are_refused(fitted):
    assert fitted.log_prob(torch.tensor([[190.0, 0.0]])).item() == -math.inf
    with pytest.raises(ValueError, match="step"):
        energy.log_normaliser(fitted.energy, 0.7)
    with pytest.raises(ValueError, match="noise_ratio"):
        energy.fit(_gaussian(10, 0), noise_ratio=0, num_steps=1, quiet=True)


def test_off_the_map_is_minus_inf_with_validation_on_and_keeps_gradients_finite():
    torch.manual_seed(0)
    net = energy.Energy(num_frequencies=2, hidden_dim=8)
    d = energy.EnergyDistribution(net, log_z=0.0)
    off_map = torch.tensor([[500.0, 0.0], [0.0, 90.5], [180.0001, 0.0], [math.inf, 0.0]])
    with pyro.validation_enabled(True):
        log_p = d.log_prob(torch.cat([off_map, torch.tensor([[10.0, 20.0]])]))
        assert torch.equal(log_p[:4], torch.full((4,), -math.inf))
        with pytest.raises(ValueError, match="NaN"):
            d.log_prob(torch.tensor([[math.nan, 0.0]]))
        assert d.log_prob(torch.empty(0, 2)).shape == (0,)
    log_p[-1].backward()  # an infinite point masked to -inf used to leave NaN in the gradients
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert d.sample((0,)).shape == (0, 2)


# The sampler's check on densities whose shares are known exactly: Normal bumps on the map,
# each at least 5 sd from the map's edges, so cutting them to the map moves a share by < 1e-6.
class Bumps(energy.Energy):
    """E(x) = -log sum_k w_k exp(-|x - loc_k|^2 / (2 scale^2)): a mixture of round Normals."""

    def __init__(self, locs, weights, scale):
        super().__init__(num_frequencies=1, hidden_dim=1)
        self.locs, self.log_weights, self.scale = locs, torch.tensor(weights).log(), scale
        # Nothing of the network's is used: sample_mcmc needs only E and half_extent.

    def forward(self, x):
        squared = (((x.unsqueeze(-2) - self.locs) / self.scale) ** 2).sum(-1)
        return -torch.logsumexp(self.log_weights - squared / 2, -1)


ONE_BUMP = Bumps(torch.tensor([[30.0, 10.0]]), [1.0], 15.0)


def within_one_sd(x):
    return ((x - ONE_BUMP.locs[0]).abs() <= ONE_BUMP.scale).all(-1)


# A round Normal puts erf(1 / sqrt 2)^2 of its mass within one sd in both coordinates.
ONE_SD_SHARE = math.erf(1 / math.sqrt(2)) ** 2
# The check from uniform starts on ONE_BUMP, 100 chains of 30 draws, trees 3 deep: measured
# |difference| / SE of 4.9 with no warm-up, 1.9 after 20 steps (ESS 125 of 3,000 draws: the
# chains were still on their way), 1.1 after 50 and 0.56 after 100, the warm-up used here.
WARMUP, DRAWS, CHAINS = 100, 30, 100


@pytest.mark.slow
def test_the_check_passes_from_uniform_starts_after_its_warm_up():
    chains = energy.sample_mcmc(
        ONE_BUMP,
        CHAINS * DRAWS,
        num_chains=CHAINS,
        warmup_steps=WARMUP,
        start="uniform",
        seed=0,
        quiet=True,
        return_chains=True,
    )
    assert chains.shape == (DRAWS, CHAINS, 2)
    check = energy.share_check(chains, within_one_sd, ONE_SD_SHARE)
    assert check["passes"] and check["z"] < energy.CHECK_SE
    assert CHAINS <= check["ess"] <= CHAINS * DRAWS
    # Uniform starts put 900 / 64,800 of the chains in the box: the draws did the travelling.
    assert within_one_sd(chains[0]).double().mean() > 0.3


def test_the_check_fails_without_warm_up():
    chains = energy.sample_mcmc(
        ONE_BUMP,
        CHAINS,
        num_chains=CHAINS,
        warmup_steps=0,
        start="uniform",
        seed=0,
        quiet=True,
        return_chains=True,
    )
    check = energy.share_check(chains, within_one_sd, ONE_SD_SHARE)
    assert check["ess"] == CHAINS  # one draw a chain: each chain counts once
    assert not check["passes"] and check["z"] > 2 * energy.CHECK_SE


@pytest.mark.slow
def test_the_check_fails_where_chains_cannot_cross_and_passes_from_the_grid():
    # Two bumps 180 degrees apart hold 0.8 and 0.2 of the mass; between them p falls by
    # exp(-162), so a chain stays in the half it starts in. From uniform starts about half the
    # chains are in each, whatever the warm-up (measured: 0.56 after 20 steps and after 100), so
    # the check must fail. The grid start holds the answer already: it passes, and checks nothing.
    two = Bumps(torch.tensor([[-90.0, 0.0], [90.0, 0.0]]), [0.8, 0.2], 10.0)

    def west(x):
        return x[:, 0] < 0

    options = {"num_chains": 4 * CHAINS, "seed": 0, "quiet": True, "return_chains": True}
    uniform = energy.sample_mcmc(
        two, 4 * CHAINS * DRAWS, warmup_steps=WARMUP, start="uniform", **options
    )
    check = energy.share_check(uniform, west, 0.8)
    assert not check["passes"] and check["share"] == pytest.approx(0.5, abs=0.1)
    grid = energy.sample_mcmc(
        two, 4 * CHAINS * DRAWS, warmup_steps=20, start="grid", start_step=1.0, **options
    )
    assert energy.share_check(grid, west, 0.8)["passes"]


def test_share_check_counts_effective_draws():
    def east(x):
        return x[:, 0] > 0

    # 40 chains that never move, half east: the draws of a chain repeat it, so there are about
    # 40 effective draws, not 40 times the draws. ArviZ sees that from 30 draws a chain (it
    # says 45 at 50); with fewer its estimate runs to its ceiling, and each chain counts once.
    stuck = torch.tensor([[10.0, 0.0], [-10.0, 0.0]]).repeat(20, 1)
    check = energy.share_check(stuck.expand(50, 40, 2), east, 0.5)
    assert check["share"] == 0.5 and check["ess"] == pytest.approx(40, rel=0.2)
    assert check["se"] == pytest.approx(math.sqrt(0.25 / check["ess"]))
    assert energy.share_check(stuck.expand(8, 40, 2), east, 0.5)["ess"] == 40
    # Independent draws: about as many effective draws as draws, and never more.
    noise = torch.rand(50, 40, 2, generator=torch.Generator().manual_seed(0)) - 0.5
    assert 1000 < energy.share_check(noise, east, 0.5)["ess"] <= 2000
    # All draws inside: no variance, so any other expected share fails and the same one passes.
    assert energy.share_check(stuck.expand(8, 40, 2), lambda x: x[:, 1] == 0, 0.99)["z"] == math.inf
    assert energy.share_check(stuck.expand(8, 40, 2), lambda x: x[:, 1] == 0, 1.0)["passes"]
    with pytest.raises(ValueError, match="chains"):
        energy.share_check(stuck, east, 0.5)


def test_start_points_are_checked():
    with pytest.raises(ValueError, match="start"):
        energy.sample_mcmc(ONE_BUMP, 10, num_chains=5, start="data", quiet=True)
    with pytest.raises(ValueError, match="one point per chain"):
        energy.sample_mcmc(ONE_BUMP, 10, num_chains=5, start=torch.zeros(4, 2), quiet=True)
    # Given points are where the chains start: with no warm-up and one short step, the draws
    # stay near them.
    start = torch.tensor([[30.0, 10.0], [35.0, 5.0]])
    draws = energy.sample_mcmc(
        ONE_BUMP,
        2,
        num_chains=2,
        warmup_steps=0,
        max_tree_depth=1,
        start=start,
        seed=0,
        quiet=True,
    )
    assert (draws - start).abs().max() < ONE_BUMP.scale
