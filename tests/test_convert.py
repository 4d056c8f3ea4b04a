"""Conversion: per-draw log-likelihood, complete InferenceData with named dims and coords."""

import math
import warnings

import pytest
import torch

from gdl_pyro import convert
from gdl_pyro.convert import az
from gdl_pyro.data import world
from gdl_pyro.models import gaussian, mixture
from gdl_pyro.models.classify import logistic_model
from tests.tiny_fits import FITS, marked_slow

# PSIS k-hat above 0.7 means the importance weights have no usable variance.
KHAT_OK = 0.7
NUM_POINTS = 150


@pytest.fixture(scope="module")
def x():
    return world.sample_land(NUM_POINTS, seed=0)


@pytest.fixture(scope="module")
def gaussian_nuts(x):
    return gaussian.fit(
        x, method="nuts", num_samples=100, warmup_steps=100, quiet=True, seed=0
    ).mcmc


@pytest.fixture(scope="module")
def gaussian_vi(x):
    return gaussian.fit(x, method="vi", num_steps=300, num_draws=200, quiet=True, seed=0)


@pytest.fixture(scope="module")
def mixture_vi(x):
    return mixture.fit(
        x, num_components=2, method="vi", num_steps=100, num_draws=200, quiet=True, seed=0
    )


@pytest.mark.slow
def test_pointwise_log_likelihood_equals_a_per_draw_reference(x, gaussian_nuts):
    draws = gaussian_nuts.get_samples()
    computed = convert.pointwise_log_likelihood(gaussian.model, draws, x)
    # Reference: the closed-form density, one draw at a time.
    for s in [0, 57, 199]:
        reference = torch.distributions.MultivariateNormal(
            draws["loc"][s] * gaussian.HALF_EXTENT,
            scale_tril=gaussian.scale_tril(
                draws["scale"][s] * gaussian.HALF_EXTENT, draws["corr_cholesky"][s]
            ),
        ).log_prob(x)
        assert torch.allclose(computed[s], reference, atol=1e-4)
    assert computed.shape == (200, NUM_POINTS)


@pytest.mark.slow
def test_inference_data_for_mcmc_has_every_group_and_a_per_chain_log_likelihood(x, gaussian_nuts):
    idata = convert.to_inference_data(gaussian_nuts, gaussian.model, x)
    for group in ["posterior", "log_likelihood", "sample_stats", "observed_data"]:
        assert hasattr(idata, group), group
    assert idata.log_likelihood["obs"].shape == (2, 100, NUM_POINTS)
    # Chain c, draw d of the log-likelihood belongs to chain c, draw d of the posterior.
    grouped = gaussian_nuts.get_samples(group_by_chain=True)
    one = {k: v[1, 7:8] for k, v in grouped.items()}
    expected = convert.pointwise_log_likelihood(gaussian.model, one, x)[0]
    assert torch.allclose(
        torch.as_tensor(idata.log_likelihood["obs"].values[1, 7]), expected, atol=1e-4
    )
    loo = az.loo(idata)
    assert math.isfinite(loo.elpd_loo) and (loo.pareto_k.values < KHAT_OK).all()


def assert_point_dims(idata):
    """observed_data is (point, coord) with coords 0..N-1 and lon, lat; log_likelihood (point)."""
    assert idata.observed_data["obs"].dims == ("point", "coord")
    assert list(idata.observed_data["coord"].values) == ["lon", "lat"]
    assert list(idata.observed_data["point"].values) == list(range(NUM_POINTS))
    assert idata.log_likelihood["obs"].dims == ("chain", "draw", "point")
    assert list(idata.log_likelihood["point"].values) == list(range(NUM_POINTS))


@pytest.mark.slow
def test_nuts_inference_data_has_named_dims(x, gaussian_nuts):
    idata = convert.to_inference_data(gaussian_nuts, gaussian.model, x)
    assert_point_dims(idata)
    posterior = idata.posterior
    assert posterior["loc"].dims == ("chain", "draw", "coord")
    assert posterior["scale"].dims == ("chain", "draw", "coord")
    # A Cholesky factor over (lon, lat): both its dims are coordinates.
    assert posterior["corr_cholesky"].dims == ("chain", "draw", "coord", "coord_bis")
    assert list(posterior["coord_bis"].values) == ["lon", "lat"]
    assert float(posterior["corr_cholesky"].sel(coord="lon", coord_bis="lon").min()) == 1.0
    # A relabelled run's posterior is rebuilt from its draws, with the same names.
    relabelled = convert.to_inference_data(gaussian_nuts, gaussian.model, x, relabel=dict)
    assert relabelled.posterior["loc"].dims == ("chain", "draw", "coord")


@pytest.mark.slow
def test_vi_inference_data_has_named_dims(x, gaussian_vi):
    idata = gaussian_vi.inference_data()
    assert_point_dims(idata)
    assert idata.posterior["loc"].dims == ("chain", "draw", "coord")
    assert idata.posterior["loc"].shape == (1, 200, 2)
    assert idata.posterior["corr_cholesky"].dims == ("chain", "draw", "coord", "coord_bis")


@pytest.mark.slow
def test_mixture_inference_data_names_components_even_when_there_are_two(mixture_vi):
    # K = 2 is the size of a point too: the weights are still per component, not (lon, lat).
    idata = mixture_vi.inference_data()
    assert_point_dims(idata)
    posterior = idata.posterior
    assert posterior["weights"].dims == ("chain", "draw", "component")
    assert posterior["locs"].dims == ("chain", "draw", "component", "coord")
    assert posterior["scales"].dims == ("chain", "draw", "component", "coord")
    assert list(posterior["component"].values) == [0, 1]
    assert torch.allclose(
        torch.as_tensor(posterior["locs"].sel(component=1, coord="lat").values[0]),
        mixture_vi.draws["locs"][:, 1, 1],
    )


@pytest.mark.slow
def test_loo_and_compare_run_on_the_named_inference_data(gaussian_nuts, gaussian_vi, mixture_vi, x):
    idatas = {
        "gaussian (NUTS)": convert.to_inference_data(gaussian_nuts, gaussian.model, x),
        "gaussian (VI)": gaussian_vi.inference_data(),
        "mixture K=2 (VI)": mixture_vi.inference_data(),
    }
    with warnings.catch_warnings():
        # Guide draws taken as posterior draws can have large Pareto k-hats (see vi_loo).
        warnings.simplefilter("ignore", UserWarning)
        for idata in idatas.values():
            loo = az.loo(idata, pointwise=True)
            assert math.isfinite(loo.elpd_loo) and loo.n_data_points == NUM_POINTS
            assert loo.loo_i.dims == ("point",)
        table = az.compare(idatas)
    assert set(table.index) == set(idatas) and table["rank"].min() == 0


def test_inference_dims_rule():
    dims, coords = convert.inference_dims(
        {"weights": (3,), "locs": (3, 2), "tau": (4,)}, ("obs", (10, 2)), num_components=3
    )
    assert dims == {
        "weights": ["component"],
        "locs": ["component", "coord"],
        "tau": [None],  # no rule names it: ArviZ's default
        "obs": ["point", "coord"],
    }
    assert coords == {"point": list(range(10)), "component": [0, 1, 2], "coord": ["lon", "lat"]}
    # Scalar observations have no coordinate axis.
    dims, coords = convert.inference_dims({"mu": ()}, ("obs", (5,)))
    assert dims == {"mu": [], "obs": ["point"]} and coords == {"point": list(range(5))}


def test_classifier_inference_data_names_classes():
    g = torch.Generator().manual_seed(0)
    features, labels = torch.randn(20, 4, generator=g), torch.randint(3, (20,), generator=g)
    draws = {"coef": torch.randn(30, 4, 3, generator=g), "bias": torch.randn(30, 3, generator=g)}
    idata = convert.to_inference_data(
        None,
        logistic_model,
        features,
        labels,
        draws=draws,
        site="y",
        coords={"class": ["a", "b", "c"]},
        num_classes=3,
    )
    assert idata.posterior["bias"].dims == ("chain", "draw", "class")
    assert idata.posterior["coef"].dims == ("chain", "draw", "coef_dim_0", "class")
    assert list(idata.posterior["class"].values) == ["a", "b", "c"]
    assert idata.observed_data["y"].dims == ("point",)
    assert torch.equal(torch.as_tensor(idata.observed_data["y"].values), labels)
    # Draw 4's log-likelihood of point 7, by hand.
    logits = features[7] @ draws["coef"][4] + draws["bias"][4]
    expected = torch.log_softmax(logits, -1)[labels[7]]
    assert idata.log_likelihood["y"].values[0, 4, 7] == pytest.approx(expected.item(), abs=1e-5)


def test_vi_conversion_needs_draws(x):
    with pytest.raises(ValueError, match="draws is required"):
        convert.to_inference_data(None, gaussian.model, x)


# Every Bayesian fit of the library (NUTS and VI), tiny.
BAYESIAN = ["box nuts", "gaussian nuts", "gaussian vi", "mixture vi", "mixture nuts"]


@pytest.mark.parametrize("name", marked_slow(BAYESIAN))
def test_every_bayesian_fit_gives_named_inference_data_for_loo(name):
    fitted = FITS[name](seed=0)
    idata = fitted.inference_data()
    for group in ("posterior", "log_likelihood", "observed_data"):
        for var in idata[group].data_vars.values():
            unnamed = [dim for dim in var.dims if "_dim_" in dim and var.sizes[dim] > 1]
            assert not unnamed, f"{group}.{var.name}: {unnamed}"
    assert idata.log_likelihood["obs"].dims[-1] == "point"
    assert list(idata.observed_data["obs"].coords["coord"].values) == ["lon", "lat"]
    with warnings.catch_warnings():  # tiny fits: k-hats are high, and ArviZ says so
        warnings.simplefilter("ignore")
        loo = az.loo(idata, pointwise=True)
        table = az.compare({name: idata, "again": idata})
    assert loo.loo_i.shape == (idata.observed_data["obs"].sizes["point"],)
    assert table.loc[name, "elpd_diff"] == pytest.approx(0.0)
