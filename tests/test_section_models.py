"""The small models that sections write out by hand equal the library's own.

A section teaches a model by writing it in a cell (the box in s04, the mixture in s05, ...), while
its family's ``fit`` runs the library's version. These tests hold the two equal: the same trace
structure (site names, types, observed or not, shapes, plates) and the same log density on the
same data and parameters, so neither can drift from the other.

The models are taken from the section files themselves: ``section_functions`` parses the file
with ``ast`` and compiles only its imports and the named functions, so the test reads exactly the
code the reader reads, and none of the section's fits or figures run.

Also: from s03 on, every section's notebook shows at least one ``pyro.sample``.
"""

import ast

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO
from pyro.poutine.util import site_is_subsample

from gdl_pyro import show
from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, seeded
from gdl_pyro.data import world
from gdl_pyro.models import autoregressive, box, classify, gaussian, mixture
from gdl_pyro.notebooks import CHAPTER, sections

# Log densities are float32 sums of a few hundred terms of order 10 (nats): summed in another
# order, or with a density written another way (Normal(...).to_event(1) for a diagonal
# MultivariateNormal), they differ in the 6th or 7th significant digit.
REL_TOL = 1e-5
NUM_POINTS = 300


def section_functions(section: str, *names: str) -> dict:
    """The named top-level functions of a section file, compiled with the file's imports only."""
    path = CHAPTER / f"{section}.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    kept = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.FunctionDef) and node.name in names)
    ]
    missing = set(names) - {node.name for node in kept if isinstance(node, ast.FunctionDef)}
    assert not missing, f"{section} defines no {sorted(missing)}"
    namespace: dict = {}
    exec(compile(ast.Module(kept, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return {name: namespace[name] for name in names}


def structure(trace) -> dict:
    """Each site's type, observed flag, value, batch and event shapes, and plates."""
    sites = {}
    for name, site in trace.nodes.items():
        if site["type"] not in ("sample", "param") or site_is_subsample(site):
            continue
        fn = site["fn"] if site["type"] == "sample" else None
        sites[name] = {
            "type": site["type"],
            "observed": site.get("is_observed", False),
            "value": tuple(site["value"].shape),
            "batch": None if fn is None else tuple(fn.batch_shape),
            "event": None if fn is None else tuple(fn.event_shape),
            "plates": [(frame.name, frame.size) for frame in site.get("cond_indep_stack", ())],
        }
    return sites


def traces(ours, theirs, args, ours_kwargs, theirs_kwargs, params=None):
    """Both models traced in one param store holding ``params``; ours replays their latents."""
    with sealed(), ParamState().active(), seeded(0):
        for name, value in (params or {}).items():
            pyro.param(name, value)
        theirs_trace = poutine.trace(theirs).get_trace(*args, **theirs_kwargs)
        ours_trace = poutine.trace(poutine.replay(ours, trace=theirs_trace)).get_trace(
            *args, **ours_kwargs
        )
    return ours_trace, theirs_trace


def assert_same_program(ours_trace, theirs_trace):
    assert structure(ours_trace) == structure(theirs_trace)
    ours, theirs = ours_trace.log_prob_sum(), theirs_trace.log_prob_sum()
    assert torch.isfinite(theirs)
    torch.testing.assert_close(ours, theirs, rtol=REL_TOL, atol=0.0)


@pytest.fixture(scope="module")
def points():
    return world.sample_land(NUM_POINTS, seed=0)


def test_s03_box_family_is_the_library_box(points):
    section = section_functions("s03_probability", "box_family")
    low, high = box.mle(points)
    theta = {"low": low - torch.tensor([3.0, 1.0]), "high": high + torch.tensor([0.5, 2.0])}
    ours, theirs = traces(section["box_family"], box.model, (points,), theta, theta)
    assert_same_program(ours, theirs)


def test_s04_box_is_the_library_box(points):
    section = section_functions("s04_mle", "box_model", "no_guide")
    margins = {"margin_low": torch.tensor([0.5, 2.0]), "margin_high": torch.tensor([3.0, 0.25])}
    ours, theirs = traces(section["box_model"], box._margin_model, (points, 10.0), {}, {}, margins)
    assert_same_program(ours, theirs)
    # Maximum likelihood: the section's guide samples nothing.
    guide_trace = poutine.trace(section["no_guide"]).get_trace(points)
    assert not [site for site in guide_trace.nodes.values() if site["type"] == "sample"]


@pytest.mark.parametrize("num_components", [1, 4])
def test_s05_mixture_is_the_library_mixture(points, num_components):
    section = section_functions("s05_latent_variables", "mixture_model", "mixture_guide")
    ours_model, kwargs = section["mixture_model"], {"num_components": num_components}
    ours, theirs = traces(ours_model, mixture.model, (points,), kwargs, kwargs)
    assert_same_program(ours, theirs)
    # The enumerated marginal log p(x, globals), with the assignments summed out.
    globals_ = {name: theirs.nodes[name]["value"] for name in ("weights", "locs", "scales")}
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    losses = [
        elbo.loss(poutine.condition(model, data=globals_), _empty, points, **kwargs)
        for model in (ours_model, mixture.model)
    ]
    assert losses[0] == pytest.approx(losses[1], rel=REL_TOL)
    # The guide is over the globals only.
    guide = section["mixture_guide"](num_components)
    with sealed(), ParamState().active(), seeded(0):
        guide_trace = poutine.trace(guide).get_trace(points, **kwargs)
    assert {n for n, s in guide_trace.nodes.items() if s["type"] == "sample"} >= set(globals_)
    assert "assignment" not in guide_trace.nodes


def test_s06_bayesian_box_is_the_library_one(points):
    section = section_functions("s06_compare_fits", "bayesian_box_model")
    ours, theirs = traces(section["bayesian_box_model"], box.bayesian_model, (points,), {}, {})
    assert_same_program(ours, theirs)


@pytest.mark.parametrize("num_data", [None, 7])
def test_s06_gaussian_is_the_library_one(points, num_data):
    section = section_functions("s06_compare_fits", "gaussian_model")
    args, kwargs = ((points,), {}) if num_data is None else ((), {"num_data": num_data})
    ours, theirs = traces(section["gaussian_model"], gaussian.model, args, kwargs, kwargs)
    assert_same_program(ours, theirs)


def test_s09_autoregressive_model_is_the_library_one(points):
    section = section_functions("s09_taxonomy", "autoregressive_model")
    with seeded(0):
        module = autoregressive.Autoregressive(num_components=4, hidden_dim=8, num_lat_bins=36)
    ours, theirs = traces(
        section["autoregressive_model"],
        autoregressive.model,
        (points,),
        {"module": module},
        {"module": module},
    )
    assert_same_program(ours, theirs)


def test_s08_logistic_regression_is_the_library_one(points):
    section = section_functions("s08_generative_vs_discriminative", "logistic_model")
    features = classify.FourierFeatures(num_features=50)(points)
    labels = torch.arange(NUM_POINTS) % 3
    kwargs = {"num_classes": 3}
    ours, theirs = traces(
        section["logistic_model"], classify.logistic_model, (features, labels), kwargs, kwargs
    )
    assert_same_program(ours, theirs)


def test_s08_class_conditional_model_is_the_library_fit_s_sum(points):
    """The joint p(y) p(x | y) equals what fit_class_conditional fits: p(y)'s Dirichlet and
    Categorical, plus one library mixture per class on that class's points."""
    section = section_functions("s08_generative_vs_discriminative", "class_conditional_model")
    model, num_classes, num_components = section["class_conditional_model"], 3, 4
    labels = torch.arange(NUM_POINTS) % num_classes
    kwargs = {"num_classes": num_classes, "num_components": num_components}
    with sealed(), seeded(0):
        trace = poutine.trace(model).get_trace(points, labels, **kwargs)
    assert trace.nodes["obs"]["value"].shape == (NUM_POINTS, 2)
    assert trace.nodes["y"]["is_observed"] and not trace.nodes["assignment"]["is_observed"]
    values = {n: trace.nodes[n]["value"] for n in ("class_probs", "weights", "locs", "scales")}
    elbo = TraceEnum_ELBO(max_plate_nesting=2)
    ours = elbo.loss(poutine.condition(model, data=values), _empty, points, labels, **kwargs)
    class_probs = values["class_probs"]
    theirs = -(
        dist.Dirichlet(torch.ones(num_classes)).log_prob(class_probs)
        + dist.Categorical(class_probs).log_prob(labels).sum()
    ).item()
    for c in range(num_classes):
        own = {
            "weights": values["weights"][c, 0],
            "locs": values["locs"][c],
            "scales": values["scales"][c],
        }
        theirs += TraceEnum_ELBO(max_plate_nesting=1).loss(
            poutine.condition(mixture.model, data=own),
            _empty,
            points[labels == c],
            num_components=num_components,
        )
    assert ours == pytest.approx(theirs, rel=REL_TOL)


def _empty(*args, **kwargs):
    """A guide with nothing to sample: the globals are conditioned, the assignment enumerated."""


@pytest.mark.parametrize(
    "section", [path for path in sections() if path.name >= "s03"], ids=lambda path: path.stem
)
def test_section_notebook_shows_a_pyro_sample(section):
    import jupytext

    notebook = jupytext.read(section)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    written = any("pyro.sample(" in source for source in code)
    assert written or any("pyro.sample(" in shown for shown in shown_sources(section, code)), (
        f"{section.name}: no code cell writes or shows a pyro.sample; show the model before the fit"
    )


def shown_sources(section, code: list[str]) -> list[str]:
    """The source that each ``show.source(...)`` call in the cells shows, resolved as it runs:
    the arguments evaluated with the section's imports (nothing else of the section runs)."""
    namespace = {}
    tree = ast.parse(section.read_text())
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    exec(compile(ast.Module(imports, type_ignores=[]), str(section), "exec"), namespace)  # noqa: S102
    shown = []
    for source in code:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "show.source":
                objs = [eval(ast.unparse(arg), namespace) for arg in node.args]  # noqa: S307
                shown.append(show.source(*objs))
    return shown


# The sections fit their written programs with the family's own ``fit`` (``model=``). The same
# program under the same seed gives the same fit, to the last bit: same draws, same losses.
TINY_NUTS = {"num_samples": 8, "warmup_steps": 8, "num_chains": 1, "seed": 0, "quiet": True}


def assert_same_draws(ours, theirs):
    assert ours.draws.keys() == theirs.draws.keys()
    for name in theirs.draws:
        torch.testing.assert_close(ours.draws[name], theirs.draws[name], rtol=0.0, atol=0.0)


# A training (NUTS or SVI) of seconds: the slow loop.
@pytest.mark.slow
def test_s06_fits_its_bayesian_box_as_box_fit_does(points):
    section = section_functions("s06_compare_fits", "bayesian_box_model")
    fits = [
        box.fit(points, method="nuts", model=model, **TINY_NUTS)
        for model in (section["bayesian_box_model"], None)
    ]
    assert_same_draws(*fits)


# A training (NUTS or SVI) of seconds: the slow loop.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["nuts", "vi"])
def test_s06_fits_its_gaussian_as_gaussian_fit_does(points, method):
    section = section_functions("s06_compare_fits", "gaussian_model")
    vi = {"num_steps": 20, "num_draws": 10, "seed": 0, "quiet": True}
    options = TINY_NUTS if method == "nuts" else vi
    fits = [
        gaussian.fit(points, method=method, model=model, **options)
        for model in (section["gaussian_model"], None)
    ]
    assert_same_draws(*fits)
    assert fits[0].losses == fits[1].losses


# A training (NUTS or SVI) of seconds: the slow loop.
@pytest.mark.slow
def test_s08_fits_its_logistic_regression_as_fit_logistic_does(points):
    section = section_functions("s08_generative_vs_discriminative", "logistic_model")
    labels = torch.arange(NUM_POINTS) % 3
    fits = [
        classify.fit_logistic(
            points,
            labels,
            num_classes=3,
            features=classify.FourierFeatures(num_features=50),
            num_steps=20,
            seed=0,
            quiet=True,
            model=model,
        )
        for model in (section["logistic_model"], None)
    ]
    assert fits[0].losses == fits[1].losses
    ours, theirs = fits[0].svi.params, fits[1].svi.params
    assert ours.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0.0, atol=0.0)


# A training (NUTS or SVI) of seconds: the slow loop.
@pytest.mark.slow
def test_s09_fits_its_autoregressive_model_as_autoregressive_fit_does(points):
    section = section_functions("s09_taxonomy", "autoregressive_model")
    options = {"num_components": 4, "hidden_dim": 8, "num_lat_bins": 36, "batch_size": 64}
    fits = [
        autoregressive.fit(points, num_steps=20, seed=0, quiet=True, model=model, **options)
        for model in (section["autoregressive_model"], None)
    ]
    assert fits[0].losses == fits[1].losses
    ours, theirs = fits[0].module.state_dict(), fits[1].module.state_dict()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0.0, atol=0.0)
