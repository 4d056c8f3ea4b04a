"""fit_svi: maximum likelihood with an empty guide and VI with an autoguide reach closed forms."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoNormal

from gdl_pyro.infer import fit_mcmc, fit_svi

# SVI noise on a conjugate normal model with 100 points after 1500 steps: well under 0.05.
POSTERIOR_TOL = 0.05


def test_empty_guide_is_maximum_likelihood():
    x = torch.tensor([1.0, 2.0, 4.0, 9.0])

    def model(x):
        loc = pyro.param("loc", torch.tensor(0.0))
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=x)

    result = fit_svi(model, lambda x: None, x, num_steps=500, lr=0.1, quiet=True)
    assert result.params["loc"].item() == pytest.approx(x.mean().item(), abs=1e-3)
    assert len(result.losses) == 500 and result.losses[-1] < result.losses[0]
    assert result.steps_per_second > 0


def test_autonormal_recovers_the_conjugate_posterior():
    # loc ~ N(0, 1), x_i ~ N(loc, 1): posterior N(sum x / (n + 1), 1 / (n + 1)).
    x = torch.randn(100) + 3.0

    def model(x):
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=x)

    guide = AutoNormal(model)
    result = fit_svi(model, guide, x, num_steps=1500, lr=0.02, quiet=True, seed=0)
    post_loc = x.sum().item() / 101
    post_scale = (1 / 101) ** 0.5
    loc, scale = (
        result.params["AutoNormal.locs.loc"].item(),
        result.params["AutoNormal.scales.loc"].item(),
    )
    # The fit's parameters are its own: none of them reached the global param store.
    assert "AutoNormal.locs.loc" not in pyro.get_param_store()
    with result.scope():
        assert guide.median()["loc"].item() == pytest.approx(loc)
    assert loc == pytest.approx(post_loc, abs=POSTERIOR_TOL)
    assert scale == pytest.approx(post_scale, rel=0.2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_steps"):
        fit_svi(lambda: None, lambda: None, num_steps=-1)
    with pytest.raises(ValueError, match="lr"):
        fit_svi(lambda: None, lambda: None, lr=0.0)


def test_on_step_is_called_before_every_step():
    seen = []

    def model():
        pyro.sample(
            "z", dist.Normal(pyro.param("m", torch.tensor(0.0)), 1.0), obs=torch.tensor(1.0)
        )

    fit_svi(model, lambda: None, num_steps=7, quiet=True, on_step=seen.append)
    assert seen == list(range(7))


def test_mcmc_chains_start_from_their_own_points(monkeypatch):
    # Record the start each chain is given: two chains, two different points.
    import pyro.infer.mcmc.api as api

    starts = []
    original = api.MCMC.__init__

    def recording(self, kernel, *args, initial_params=None, **kwargs):
        starts.append(initial_params)
        original(self, kernel, *args, initial_params=initial_params, **kwargs)

    monkeypatch.setattr(api.MCMC, "__init__", recording)

    def model():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    fit_mcmc(model, num_samples=5, warmup_steps=5, num_chains=2, quiet=True, seed=0)
    (start,) = starts
    assert start["z"].shape == (2, 3)
    assert not torch.allclose(start["z"][0], start["z"][1])
    assert start["z"].abs().max() <= 2  # uniform in (-2, 2), as Stan starts
