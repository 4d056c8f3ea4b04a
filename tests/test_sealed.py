"""Nothing of the library leaks into the caller's Pyro program, for every family.

Pyro's idioms as a learner uses them: ``poutine.trace`` and ``poutine.condition`` around their own
model, their own ``pyro.plate("data")`` and sites named as the library names its own ("z",
"obs", "data"), ``Predictive`` with a fit's guide, and a fit's ``distribution()`` observed,
sampled, as a mixture component and as a prior.
"""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

from gdl_pyro._sealed import sealed
from gdl_pyro.models import box, gaussian
from tests.tiny_fits import FITS, FITTED, PROBE, SAMPLES_BY_NUTS, X, data_of, marked_slow

USER_SITES = {"data", "z", "obs"}
OFF_MAP = torch.tensor([[500.0, 95.0]])
PICK_WIDE_LAST = torch.tensor([False, False, False, False, True])


@pytest.fixture(scope="module")
def fits():
    return FITTED


def uses_of(fitted, data):
    """Every library call that runs Pyro code, each returning a tensor."""
    calls = []
    if fitted.family != "logistic":
        calls.append(lambda: fitted.sample(3, seed=0))
    if fitted.nll_kind in ("exact", "upper_bound"):
        calls.append(lambda: fitted.log_score(data[:3], seed=0))
    if fitted.family == "logistic":
        calls.append(lambda: fitted.predict_proba(data[:3], num_draws=4, seed=0))
    return calls


@pytest.mark.parametrize("name", marked_slow(FITS, also=SAMPLES_BY_NUTS))
def test_library_calls_inside_a_users_model_leave_its_trace_alone(fits, name):
    fitted, data = fits[name], data_of(name)
    outside = [call() for call in uses_of(fitted, data)]

    def user_model():
        with pyro.plate("data", 3):  # the library's own plates are named "data" too
            pyro.sample("z", dist.Normal(0.0, 1.0))
            inside = [call() for call in uses_of(fitted, data)]
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=torch.zeros(3))
        return inside

    # The user conditions "z", the GAN's latent's name, and "obs": neither reaches inside.
    conditioned = poutine.condition(user_model, data={"z": torch.full((3,), 7.0)})
    trace = poutine.trace(conditioned).get_trace()
    sites = {n for n, site in trace.nodes.items() if site["type"] in ("sample", "param")}
    assert sites == USER_SITES
    for inside, before in zip(trace.nodes["_RETURN"]["value"], outside, strict=True):
        assert torch.equal(inside, before)


@pytest.mark.parametrize(
    "name", marked_slow([n for n in FITS if n not in ("logistic",)], also=SAMPLES_BY_NUTS)
)
def test_library_calls_under_predictive(fits, name):
    fitted, data = fits[name], data_of(name)

    def user_model():
        with pyro.plate("data", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))
            for call in uses_of(fitted, data):
                call()

    draws = Predictive(user_model, num_samples=2)()
    assert set(draws) == {"z"}


# Every fit with a density on points (images and classifiers aside).
ON_POINTS = [
    n
    for n in FITS
    if n not in ("ppca mle", "ppca svi", "vae", "logistic", "gan", "point vae", "diffusion")
]


@pytest.mark.parametrize("name", marked_slow(ON_POINTS, also=SAMPLES_BY_NUTS))
def test_distribution_in_a_users_model(fits, name):
    fitted = fits[name]
    points = PROBE[:5]
    wide = dist.Normal(torch.zeros(2), 200.0).to_event(1)

    def user_model(points):
        with pyro.plate("data", len(points)):
            pyro.sample("obs", fitted.distribution(), obs=points)  # observed
            pyro.sample("new", fitted.distribution())  # sampled
            # A component of a mixture with a fit of wider support: the last point lies off the
            # map, where the mask picks the wide component (mask True picks component1).
            mixed = dist.MaskedMixture(PICK_WIDE_LAST, fitted.distribution(), wide)
            pyro.sample("mixed", mixed, obs=torch.cat([points[:-1], OFF_MAP]))
        centre = pyro.sample("centre", fitted.distribution())  # a prior
        pyro.sample("seen", dist.Normal(centre, 1.0).to_event(1), obs=points[0])

    trace = poutine.trace(user_model).get_trace(points)
    trace.compute_log_prob()
    assert torch.allclose(trace.nodes["obs"]["log_prob"], fitted.log_prob(points), atol=1e-4)
    assert trace.nodes["new"]["value"].shape == (5, 2)
    mixed = trace.nodes["mixed"]["log_prob"]
    assert torch.allclose(mixed[:-1], fitted.log_prob(points[:-1]), atol=1e-4)
    assert torch.allclose(mixed[-1], wide.log_prob(OFF_MAP[0]))
    assert trace.nodes["centre"]["value"].shape == (2,)


@pytest.mark.slow  # 400 guide draws through the model on 300 points, for each fit: seconds
@pytest.mark.parametrize("name", ["gaussian vi", "mixture vi"])
def test_a_fits_guide_in_predictive_runs_with_that_fits_parameters(fits, name):
    fitted = fits[name]
    # The caller's own store holds a guide's parameters under the same names, other values.
    user_guide = AutoMultivariateNormal(gaussian.model, init_scale=0.5)
    user_guide(X)
    users = {k: v.detach().clone() for k, v in pyro.get_param_store().items()}
    model_kwargs = fitted._model_kwargs
    predictive = Predictive(fitted.model, guide=fitted.guide, num_samples=400)
    pyro.set_rng_seed(1)
    draws = predictive(X, **model_kwargs)
    site = "loc" if name == "gaussian vi" else "locs"
    # The spread of the fit's own guide (its draws before relabelling), not the caller's
    # init_scale of 0.5, which is 10 to 100 times wider.
    own, _ = fitted.guide_draws(400, seed=2)
    ratio = draws[site].std(0) / own[site].std(0)
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio
    assert {k: v for k, v in pyro.get_param_store().items()}.keys() == users.keys()
    for key, value in users.items():
        assert torch.equal(pyro.param(key).detach(), value)


@pytest.mark.slow
def test_the_readme_example_composes():
    # A box fitted inside the user's model, observed under their own plate named "data".
    x = PROBE

    def my_model(points):
        with pyro.plate("data", len(points)):
            pyro.sample("obs", box.fit(x, quiet=True, seed=0).distribution(), obs=points)

    trace = poutine.trace(my_model).get_trace(x)
    assert {n for n, s in trace.nodes.items() if s["type"] == "sample"} == {"data", "obs"}


def test_sealed_restores_the_callers_stack_after_an_error():
    def user_model():
        with pyro.plate("data", 2):
            try:
                with sealed():
                    with pyro.plate("data", 5):
                        raise RuntimeError("inside")
            except RuntimeError:
                pass
            return pyro.sample("z", dist.Normal(0.0, 1.0))

    trace = poutine.trace(user_model).get_trace()
    assert trace.nodes["z"]["value"].shape == (2,)


def test_a_fits_calls_inside_the_users_running_svi(fits):
    # Pyro's ParamStoreDict.scope strips each of the caller's parameters of its link to the
    # unconstrained tensor; a fit's call inside the user's SVI then broke their next step.
    diffusion_fit, vi_fit = fits["diffusion"], fits["gaussian vi"]

    def my_model(points):
        shift = pyro.sample("shift", dist.Normal(torch.zeros(2), 10.0).to_event(1))
        diffusion_fit.sample(3, seed=0)
        vi_fit.guide_draws(3, seed=0)  # the fit's guide, in its own param store
        pyro.factor("f", -(shift - points.mean(0)).pow(2).sum())

    guide = AutoNormal(my_model)
    svi = SVI(my_model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    losses = [svi.step(PROBE) for _ in range(3)]
    assert all(math.isfinite(loss) for loss in losses)
    assert set(pyro.get_param_store()) == {"AutoNormal.locs.shift", "AutoNormal.scales.shift"}


def test_a_fit_is_a_value_even_when_the_callers_data_change():
    x = X.clone()
    fitted = gaussian.fit(x, method="vi", num_steps=5, num_draws=5, quiet=True, seed=0)
    before = fitted.inference_data().observed_data["obs"].values.copy()
    x.mul_(0)
    assert (fitted.inference_data().observed_data["obs"].values == before).all()
    assert torch.equal(fitted._x, X)


@pytest.mark.parametrize("name", marked_slow(ON_POINTS))
def test_distribution_as_a_prior_under_the_users_svi(fits, name):
    # A prior needs a support that Pyro can transform to the plane (biject_to): a mixture's
    # MixtureSameFamily support cannot be, and stopped every autoguide.
    fitted = fits[name]

    def my_model(point):
        centre = pyro.sample("centre", fitted.distribution())
        pyro.sample("seen", dist.Normal(centre, 5.0).to_event(1), obs=point)

    guide = AutoNormal(
        my_model, init_loc_fn=pyro.infer.autoguide.init_to_value(values={"centre": PROBE[0]})
    )
    svi = SVI(my_model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    assert all(math.isfinite(svi.step(PROBE[0])) for _ in range(3))
