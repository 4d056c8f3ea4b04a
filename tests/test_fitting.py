"""Every fit owns its state: parameters, RNG and param store are never shared or disturbed.

A learner fits model after model in one notebook; these tests do the same in one process.
"""

import math
import random
import subprocess
import sys

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import scipy.optimize
import torch
from pyro.infer import TraceEnum_ELBO
from torch.distributions import constraints

from gdl_pyro.distributions import UniformBox
from gdl_pyro.fitting import NLL_KINDS, Fit, NoDensityError, method_options
from gdl_pyro.infer import fit_svi
from gdl_pyro.models import autoregressive, box, flow, gaussian, mixture, vae
from gdl_pyro.models.classify import fit_logistic
from tests.tiny_fits import (
    FITS,
    FITTED,
    IMAGES,
    LABELLED,
    PROBE,
    SAMPLES_BY_NUTS,
    X,
    data_of,
    marked_slow,
)

# Each fit's family (its module's name) and the kind of NLL it offers.
PROTOCOL = {
    "box mle": ("box", "exact"),
    "box nuts": ("box", "exact"),
    "gaussian mle": ("gaussian", "exact"),
    "gaussian nuts": ("gaussian", "exact"),
    "gaussian vi": ("gaussian", "exact"),
    "mixture vi": ("mixture", "exact"),
    "mixture nuts": ("mixture", "exact"),
    "mixture em": ("mixture", "exact"),
    "kde": ("kde", "exact"),
    "flow": ("flow", "exact"),
    "autoregressive": ("autoregressive", "exact"),
    "point vae": ("vae", "upper_bound"),
    "energy": ("energy", "exact"),
    "diffusion": ("diffusion", "upper_bound"),
    "gan": ("gan", "none"),
    "ppca mle": ("ppca", "exact"),
    "ppca svi": ("ppca", "exact"),
    "vae": ("vae", "upper_bound"),
    "logistic": ("logistic", "none"),
    "class conditional": ("class_conditional", "exact"),
}


def fingerprint(name, fitted) -> torch.Tensor:
    """Numbers that a fit's parameters determine: its density, or what stands in for it."""
    if name == "vae":
        return fitted.encode(IMAGES[:5])
    if name == "logistic":
        return fitted.predict_proba(PROBE, num_draws=5, seed=0)
    if name == "point vae":
        return fitted.log_prob_quadrature(PROBE, step=0.1)
    if fitted.nll_kind == "exact":
        return fitted.log_prob(data_of(name)[:5])
    if fitted.nll_kind == "upper_bound":
        return fitted.log_prob_lower_bound(PROBE, seed=0)
    return fitted.sample(5, seed=0)


@pytest.fixture(scope="module")
def fits():
    """One fit of every family, made on first use for the protocol tests."""
    return FITTED


def test_every_public_fit_is_listed():
    assert set(PROTOCOL) == set(FITS)


@pytest.mark.parametrize("name", marked_slow(FITS, also=SAMPLES_BY_NUTS))
def test_every_fit_answers_the_one_protocol(fits, name):
    fitted, data = fits[name], data_of(name)
    assert isinstance(fitted, Fit)
    assert (fitted.family, fitted.nll_kind) == PROTOCOL[name]
    assert fitted.nll_kind in NLL_KINDS and fitted.name and fitted.name in repr(fitted)
    assert all(isinstance(loss, float) for loss in fitted.losses)
    assert math.isfinite(fitted.seconds)
    if fitted.nll_kind == "exact":
        d = fitted.distribution()
        assert tuple(d.event_shape) == fitted.event_shape == tuple(data.shape[1:])
        assert torch.allclose(d.log_prob(data), fitted.log_prob(data), atol=1e-4)
        assert torch.equal(fitted.log_score(data), fitted.log_prob(data))
    else:  # one documented error from distribution and log_prob, saying why
        for ask in (fitted.distribution, lambda: fitted.log_prob(data)):
            with pytest.raises(NoDensityError, match=r"p\(.*\)"):
                ask()
    if fitted.nll_kind == "upper_bound":
        bound = fitted.log_prob_lower_bound(data[:5], seed=0)
        assert torch.equal(fitted.log_score(data[:5], seed=0), bound)
        assert bound.shape == (5,) and torch.isfinite(bound).all()
    if fitted.nll_kind == "none":
        with pytest.raises(NoDensityError):
            fitted.log_score(data)
    if name == "logistic":  # p(y | x) only: it cannot make a point
        with pytest.raises(NoDensityError, match="p\\(y \\| x\\) only"):
            fitted.sample(3)
        return
    samples = fitted.sample(4, seed=0)
    assert samples.shape == (4, *fitted.event_shape) and torch.isfinite(samples).all()
    assert torch.equal(samples, fitted.sample(4, seed=0))
    assert fitted.sample(0).shape == (0, *fitted.event_shape)


@pytest.mark.parametrize(
    "name", marked_slow([n for n, (_, kind) in PROTOCOL.items() if kind != "none"])
)
def test_empty_input_gives_empty_output(fits, name):
    fitted = fits[name]
    empty = data_of(name)[:0]
    score = fitted.log_score(empty, seed=0)
    assert score.shape == (0,)


def test_method_options_refuse_what_the_method_does_not_use():
    defaults = {"a": {"steps": 1}, "b": {"draws": 2}}
    assert method_options("a", {"steps": None, "draws": None}, defaults) == {"steps": 1}
    assert method_options("a", {"steps": 5, "draws": None}, defaults) == {"steps": 5}
    with pytest.raises(ValueError, match="draws is not used by method='a'.*method='b'"):
        method_options("a", {"draws": 3}, defaults)
    with pytest.raises(ValueError, match="method must be one of"):
        method_options("c", {}, defaults)


@pytest.mark.parametrize(
    "call, refused",
    [
        (lambda: box.fit(X, method="nuts", num_steps=5), "num_steps"),
        (lambda: box.fit(X, num_samples=5, quiet=True), "num_samples"),
        (lambda: gaussian.fit(X, lr=0.1), "lr"),
        (lambda: gaussian.fit(X, method="vi", warmup_steps=3), "warmup_steps"),
        (lambda: mixture.fit(X, num_components=2, method="nuts", lr=0.1), "lr"),
        (lambda: mixture.fit(X, num_components=2, init={}), "init"),
    ],
)
def test_every_option_is_used_or_refused(call, refused):
    with pytest.raises(ValueError, match=f"{refused} is not used by method="):
        call()


def test_em_has_its_own_function():
    with pytest.raises(ValueError, match="method must be one of \\['nuts', 'vi'\\]"):
        mixture.fit(X, num_components=2, method="em")
    fitted = mixture.fit_em(X, num_components=2, seed=0)
    assert isinstance(fitted, mixture.EMFit) and fitted.family == "mixture"


def rng_state():
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global RNG is the point)
    return torch.get_rng_state(), numpy_state, random.getstate()


@pytest.mark.parametrize("name", marked_slow(FITS))
def test_a_fit_leaves_the_callers_param_store_and_rng_as_they_were(name):
    user = pyro.param("user_weight", torch.tensor([1.0, 2.0]))
    # Names the fits themselves use, set by the caller with other shapes.
    clash = pyro.param("AutoNormal.locs.locs", torch.zeros(7))
    decoy = pyro.param("margin_low", torch.full((3,), 5.0))
    before = rng_state()
    FITS[name](seed=11)
    store = pyro.get_param_store()
    assert sorted(store.keys()) == ["AutoNormal.locs.locs", "margin_low", "user_weight"]
    assert torch.equal(pyro.param("user_weight"), user)
    assert torch.equal(pyro.param("AutoNormal.locs.locs"), clash)
    assert torch.equal(pyro.param("margin_low"), decoy)
    after = rng_state()
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2] == after[2]


# Every fit takes its seed through the one preamble (fitting.preamble). The unit loop checks a
# closed form, SVI fits, a fit with its own loop (the GAN), EM and the KDE's folds; the slow loop
# checks every fit.
SEEDS_FAST = ("box mle", "gaussian vi", "kde", "gan", "mixture em", "flow", "vae")
SEED_CASES = marked_slow(FITS, also=[name for name in FITS if name not in SEEDS_FAST])


@pytest.mark.parametrize("name", SEED_CASES)
def test_same_seed_same_fit(name):
    assert torch.equal(fingerprint(name, FITS[name](seed=0)), fingerprint(name, FITTED[name]))


@pytest.mark.parametrize("name", SEED_CASES)
def test_seed_none_follows_torchs_rng(name):
    # seed=None takes the fit's seed from torch's global RNG, so pyro.set_rng_seed repeats it.
    pyro.set_rng_seed(5)
    third = FITS[name](seed=None)
    pyro.set_rng_seed(5)
    assert torch.equal(fingerprint(name, third), fingerprint(name, FITS[name](seed=None)))


@pytest.mark.slow
def test_fits_in_one_session_never_share_parameters():
    # The session: K = 3, then K = 5 (other shapes under the same names), then K = 3.
    a = mixture.fit(X, num_components=3, num_steps=50, num_draws=20, quiet=True, seed=0)
    a_density, a_median = a.log_prob(PROBE).clone(), a.median()
    b = mixture.fit(X, num_components=5, num_steps=50, num_draws=20, quiet=True, seed=0)
    c = mixture.fit(X, num_components=3, num_steps=50, num_draws=20, quiet=True, seed=1)
    assert b.median()["locs"].shape == (5, 2)
    assert not torch.equal(c.log_prob(PROBE), a_density)
    # Two flows, two VAEs, two logistic classifiers, each trained after the first of its kind.
    f1 = flow.fit(X, num_layers=1, num_steps=10, quiet=True, seed=0)
    f1_density = f1.log_prob(PROBE).clone()
    flow.fit(X, num_layers=1, num_steps=10, quiet=True, seed=1)
    r1 = autoregressive.fit(X, num_components=3, hidden_dim=8, num_steps=10, quiet=True, seed=0)
    r1_density = r1.log_prob(PROBE).clone()
    autoregressive.fit(X, num_components=3, hidden_dim=8, num_steps=10, quiet=True, seed=1)
    v1 = vae.fit(IMAGES, hidden_dim=8, num_steps=10, quiet=True, seed=0)
    v1_codes = v1.encode(IMAGES).clone()
    v1_bound = v1.log_prob_lower_bound(IMAGES, num_particles=3, seed=0).clone()
    vae.fit(IMAGES, hidden_dim=8, num_steps=10, quiet=True, seed=1)
    l1 = fit_logistic(*LABELLED, num_classes=5, num_steps=10, quiet=True, seed=0)
    l1_proba = l1.predict_proba(PROBE, seed=0).clone()
    fit_logistic(*LABELLED, num_classes=5, num_steps=10, quiet=True, seed=1)
    # Bit for bit, every first fit is as it was.
    assert torch.equal(a.log_prob(PROBE), a_density)
    assert all(torch.equal(a.median()[k], a_median[k]) for k in a_median)
    assert torch.equal(f1.log_prob(PROBE), f1_density)
    assert torch.equal(r1.log_prob(PROBE), r1_density)
    assert torch.equal(v1.encode(IMAGES), v1_codes)
    assert torch.equal(v1.log_prob_lower_bound(IMAGES, num_particles=3, seed=0), v1_bound)
    assert torch.equal(l1.predict_proba(PROBE, seed=0), l1_proba)
    assert len(pyro.get_param_store()) == 0


def test_svi_result_params_hold_that_fit_only():
    pyro.param("user_weight", torch.tensor(1.0))

    def model():
        loc = pyro.param("mine", torch.tensor(0.0))
        pyro.sample("obs", dist.Normal(loc, 1.0), obs=torch.ones(1))

    result = fit_svi(model, lambda: None, num_steps=2, quiet=True, seed=0)
    assert list(result.params) == ["mine"]  # not the caller's user_weight
    assert "mine" not in pyro.get_param_store()


@pytest.mark.parametrize("method", ["mle", pytest.param("nuts", marks=pytest.mark.slow), "vi"])
def test_distribution_matches_log_prob_and_samples_points(method):
    options = {
        "mle": {},
        "nuts": {"num_samples": 15, "warmup_steps": 15},
        "vi": {"num_steps": 50, "num_draws": 30},
    }
    fitted = gaussian.fit(X, method=method, quiet=True, **options[method])
    d = fitted.distribution()
    assert d.event_shape == (2,) and d.batch_shape == ()
    assert torch.allclose(d.log_prob(PROBE), fitted.log_prob(PROBE), atol=1e-5)
    assert fitted.sample(9, seed=0).shape == (9, 2)
    assert fitted.log_prob(PROBE).shape == (40,)


@pytest.mark.slow
def test_distribution_inside_a_users_own_model():
    fitted = mixture.fit(X, num_components=4, num_steps=200, num_draws=30, quiet=True, seed=0)

    # Observed under a plate: the site's log density is the fit's.
    def observed(points):
        with pyro.plate("data", len(points)):
            pyro.sample("obs", fitted.distribution(), obs=points)

    trace = pyro.poutine.trace(observed).get_trace(PROBE)
    trace.compute_log_prob()
    assert torch.allclose(trace.nodes["obs"]["log_prob"], fitted.log_prob(PROBE), atol=1e-5)

    # Sampled without obs.
    with pyro.plate("new", 6):
        assert pyro.sample("x", fitted.distribution()).shape == (6, 2)

    # One part of a two-part mixture whose weight SVI fits, the part chosen by an enumerated
    # latent: data are 70% the fitted model's samples and 30% uniform over the map.
    whole_map = UniformBox(torch.tensor([-180.0, -90.0]), torch.tensor([180.0, 90.0]))
    from_model = fitted.sample(800, seed=1)
    # The Gaussians' tails reach past the poles, where the uniform part has no support at all.
    from_model = from_model[whole_map.log_prob(from_model) > -math.inf][:700]
    data = torch.cat([from_model, whole_map.sample((300,))])

    def two_part(points):
        weight = pyro.param("weight", torch.tensor(0.5), constraint=constraints.unit_interval)
        with pyro.plate("data", len(points)):
            from_fit = pyro.sample(
                "from_fit", dist.Bernoulli(weight), infer={"enumerate": "parallel"}
            )
            parts = dist.MaskedMixture(from_fit.bool(), whole_map, fitted.distribution())
            pyro.sample("obs", parts, obs=points)

    result = fit_svi(
        pyro.poutine.scale(two_part, scale=1 / len(data)),
        lambda points: None,
        data,
        loss=TraceEnum_ELBO(max_plate_nesting=1),
        num_steps=400,
        lr=0.05,
        quiet=True,
        seed=0,
    )
    # The known answer: the weight's maximum-likelihood value, solved with SciPy.
    log_fit, log_map = fitted.log_prob(data).double(), whole_map.log_prob(data).double()

    def score(w):
        mix = torch.logaddexp(math.log(w) + log_fit, math.log(1 - w) + log_map)
        return ((log_fit - mix).exp() - (log_map - mix).exp()).sum().item()

    mle_weight = scipy.optimize.brentq(score, 1e-6, 1 - 1e-6)
    assert result.params["weight"].item() == pytest.approx(mle_weight, abs=0.01)
    assert mle_weight == pytest.approx(0.7, abs=0.06)  # and near the truth: 1000 points
    assert "weight" not in pyro.get_param_store()  # the user's SVI had a store of its own too


def test_device_argument():
    cpu = box.fit(X, num_steps=10, quiet=True, seed=0, device="cpu")
    default = box.fit(X, num_steps=10, quiet=True, seed=0)
    assert torch.equal(cpu.low, default.low) and cpu.low.device.type == "cpu"
    with pytest.raises(ValueError, match="device must name a torch device"):
        box.fit(X, num_steps=10, quiet=True, device="banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            flow.fit(X, num_steps=1, quiet=True, device="cuda")


@pytest.mark.slow
def test_importing_the_library_leaves_the_matplotlib_backend_alone():
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "import gdl_pyro.plots, gdl_pyro.convert, gdl_pyro.diagnostics, gdl_pyro.compare, "
        "gdl_pyro.models, gdl_pyro.scripting; "
        "print(matplotlib.get_backend())"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "svg"


@pytest.mark.slow
def test_importing_fitting_imports_no_dataset():
    # The fit protocol, InferenceData and comparisons need no map: the datasets load on demand.
    code = (
        "import sys, gdl_pyro.fitting; "
        "print([m for m in sys.modules if m.startswith('gdl_pyro.data')])"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


@pytest.mark.slow
def test_importing_the_library_leaves_torch_distribution_validation_as_it_was():
    # Zuko's import switches validation off for every torch distribution; ours must not. (Pyro's
    # own import switches it on, so pyro comes first, as in any user's notebook.)
    code = (
        "import torch, pyro; torch.distributions.Distribution.set_default_validate_args({0});"
        "import gdl_pyro, gdl_pyro.models;"
        "assert torch.distributions.Distribution._validate_args is {0}"
    )
    for value in (True, False):
        subprocess.run([sys.executable, "-c", code.format(value)], check=True)


@pytest.mark.parametrize(
    "fitter",
    [
        lambda x, **o: box.fit(x, method="nuts", num_samples=5, warmup_steps=5, **o),
        lambda x, **o: gaussian.fit(x, method="vi", num_steps=2, num_draws=5, **o),
        lambda x, **o: autoregressive.fit(x, num_components=3, hidden_dim=8, num_steps=2, **o),
    ],
    ids=["box nuts", "gaussian vi", "autoregressive"],
)
def test_model_must_be_a_program(fitter):
    with pytest.raises(ValueError, match="^model must be a Pyro program"):
        fitter(X, model="nope", quiet=True, seed=0)


def test_the_library_program_given_as_model_is_the_default_fit():
    options = {"num_components": 3, "hidden_dim": 8, "num_steps": 3, "quiet": True, "seed": 0}
    given = autoregressive.fit(X, model=autoregressive.model, **options)
    assert given.losses == autoregressive.fit(X, **options).losses
