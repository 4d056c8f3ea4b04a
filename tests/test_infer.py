"""fit_svi: maximum likelihood with an empty guide and VI with an autoguide reach closed forms."""

import time

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoNormal

from gdl_pyro._state import ParamState, seeded
from gdl_pyro.data import world
from gdl_pyro.infer import cosine_adam, fit_mcmc, fit_svi, guide_draws, sample_guide
from gdl_pyro.models import gaussian, mixture

# SVI noise on a conjugate normal model with 100 points after 1500 steps: well under 0.05.
POSTERIOR_TOL = 0.05


def test_empty_guide_is_maximum_likelihood():
    x = torch.tensor([1.0, 2.0, 4.0, 9.0])

    def model(x):
        loc = pyro.param("loc", torch.tensor(0.0))
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=x)

    start = time.perf_counter()
    result = fit_svi(model, lambda x: None, x, num_steps=200, lr=0.1, quiet=True)
    wall = time.perf_counter() - start
    assert result.params["loc"].item() == pytest.approx(x.mean().item(), abs=1e-3)
    assert len(result.losses) == 200 and result.losses[-1] < result.losses[0]
    # The loop is timed inside the call, and the rate is its 200 steps over that time.
    assert 0 < result.seconds < wall
    assert result.steps_per_second == pytest.approx(200 / result.seconds)


@pytest.mark.slow
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


@pytest.mark.parametrize(
    "make_optim",
    [
        lambda: pyro.optim.Adam({"lr": 0.05}),
        lambda: pyro.optim.ClippedAdam({"lr": 0.05, "lrd": 0.99, "clip_norm": 1.0}),
        lambda: cosine_adam(0.05, 30, clip_norm=0.5),
    ],
)
def test_one_torch_optimiser_steps_as_svi_does(make_optim):
    # fit_svi builds one torch optimiser over every parameter; Pyro's SVI gives each parameter
    # its own. Adam is elementwise and clipping is per tensor, so the two must agree.
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * 2 + 1
    net = torch.nn.Linear(3, 3)

    def model(x):
        pyro.module("net", net)
        scale = pyro.param("scale", torch.ones(3), constraint=dist.constraints.positive)
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(net(x), scale).to_event(1), obs=x)

    def guide(x):
        pass

    start = {k: v.clone() for k, v in net.state_dict().items()}
    ours = fit_svi(model, guide, x, num_steps=30, optim=make_optim(), quiet=True, seed=0)
    ours_net = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(start)
    net.zero_grad(set_to_none=True)  # SVI adds to whatever gradients the tensors hold
    svi_optim = make_optim()
    svi = pyro.infer.SVI(model, guide, svi_optim, pyro.infer.Trace_ELBO())
    with ParamState().active():
        losses = []
        for _ in range(30):
            losses.append(svi.step(x))
            if isinstance(svi_optim, pyro.optim.PyroLRScheduler):
                svi_optim.step()
        scale = pyro.param("scale").detach().clone()
    assert ours.losses == pytest.approx(losses, rel=1e-5)
    assert torch.allclose(ours.params["scale"], scale, atol=1e-5)
    for key, value in net.state_dict().items():
        assert torch.allclose(ours_net[key], value, atol=1e-5)


def test_guide_draws_weights_are_exact_for_the_exact_posterior():
    # With q equal to the posterior, every weight p(x, theta) / q(theta) is p(x): all equal.
    x = world.sample_land(100, seed=2)
    _, cov = gaussian.mle(x)
    exact = gaussian.conjugate_posterior(x, cov)

    def exact_guide(x, cov=None):
        pyro.sample("loc", dist.MultivariateNormal(exact.loc, scale_tril=exact.scale_tril))

    draws, log_weights = guide_draws(gaussian.model, exact_guide, x, cov=cov, num_draws=50)
    assert draws["loc"].shape == (50, 2)
    assert log_weights.std().item() < 1e-3


def test_sample_guide_draws_what_guide_draws_draws():
    # The same guide draws without scoring them: under one seed, the very same values.
    x = world.sample_land(300, seed=3)
    fitted = mixture.fit(x, num_components=3, num_steps=20, num_draws=10, quiet=True, seed=0)
    with fitted.svi.scope():
        with seeded(4):
            weighted, _ = guide_draws(
                mixture.marginal_model, fitted.guide, x, num_components=3, num_draws=30
            )
        with seeded(4):
            drawn = sample_guide(fitted.guide, x, num_components=3, num_draws=30)
    assert drawn.keys() == weighted.keys() and drawn["locs"].shape == (30, 3, 2)
    assert all(torch.equal(drawn[name], weighted[name]) for name in drawn)
