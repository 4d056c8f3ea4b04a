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
