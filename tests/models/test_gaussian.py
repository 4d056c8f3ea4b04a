"""The Gaussian: MLE is the sample mean and covariance; NUTS and VI match the conjugate form."""

import numpy as np
import pyro
import pytest
import torch
from pyro.infer.autoguide import AutoMultivariateNormal

from gdl_pyro.data import world
from gdl_pyro.infer import fit_mcmc, fit_svi
from gdl_pyro.models import gaussian

# 400 NUTS draws (2 chains) estimate a posterior mean to within about 0.1 posterior sd; the test
# allows 0.35 sd. Posterior sds are matched to 20%, the scatter of an sd from ~300 effective draws.
MEAN_TOL_SD = 0.35
SD_RTOL = 0.2


def test_mle_is_sample_mean_and_biased_covariance():
    x = world.sample_land(500, seed=0)
    loc, cov = gaussian.mle(x)
    assert torch.allclose(loc, x.mean(0), atol=1e-4)
    expected = np.cov(x.double().numpy().T, bias=True)
    assert np.allclose(cov.double().numpy(), expected, rtol=1e-4)


def conjugate_case():
    x = world.sample_land(200, seed=1)
    _, cov = gaussian.mle(x)
    return x, cov, gaussian.conjugate_posterior(x, cov)


@pytest.mark.slow
def test_nuts_matches_the_conjugate_posterior():
    x, cov, exact = conjugate_case()
    mcmc = fit_mcmc(gaussian.model, x, cov=cov, num_samples=200, warmup_steps=200, quiet=True)
    draws = mcmc.get_samples()["loc"]
    sd = exact.covariance_matrix.diagonal().sqrt()
    assert ((draws.mean(0) - exact.mean).abs() / sd).max() < MEAN_TOL_SD
    assert torch.allclose(draws.std(0), sd, rtol=SD_RTOL)


@pytest.mark.slow
def test_svi_multivariate_normal_matches_the_conjugate_posterior():
    x, cov, exact = conjugate_case()
    guide = AutoMultivariateNormal(gaussian.model)
    result = fit_svi(gaussian.model, guide, x, cov=cov, num_steps=2000, lr=0.01, quiet=True)
    with result.scope():  # the guide's parameters live in the fit's own param store
        q = guide.get_posterior()
    sd = exact.covariance_matrix.diagonal().sqrt()
    assert ((q.mean - exact.mean).abs() / sd).max() < MEAN_TOL_SD
    assert torch.allclose(q.covariance_matrix.diagonal().sqrt(), sd, rtol=SD_RTOL)


@pytest.mark.slow
def test_full_model_posterior_centres_on_the_mle():
    x = world.sample_land(300, seed=2)
    loc, cov = gaussian.mle(x)
    fitted = gaussian.fit(x, method="nuts", num_samples=150, warmup_steps=150, quiet=True, seed=0)
    draws = fitted.draws
    mean_loc, mean_scale = gaussian.in_degrees(draws["loc"].mean(0), draws["scale"].mean(0))
    # With 300 points and weak priors the posterior sits on the MLE, within its own spread.
    assert torch.allclose(mean_loc, loc, atol=8.0)  # posterior sd of the centre is about 5 degrees
    assert torch.allclose(mean_scale, cov.diagonal().sqrt(), rtol=0.08)


def test_log_density_matches_the_model_trace():
    x = world.sample_land(50, seed=3)
    values = {
        "loc": torch.tensor([0.1, -0.2]),
        "scale": torch.tensor([0.5, 0.6]),
        "corr_cholesky": torch.eye(2),
    }
    trace = pyro.poutine.trace(pyro.poutine.condition(gaussian.model, data=values)).get_trace(x)
    trace.compute_log_prob()
    direct = gaussian.distribution(**values).log_prob(x)
    assert torch.allclose(trace.nodes["obs"]["log_prob"], direct, atol=1e-4)


@pytest.mark.slow
def test_fit_methods_agree_on_a_large_sample():
    # 2000 points: posterior predictive and MLE density differ by O(1/N) nats per point.
    x = world.sample_land(2000, seed=4)
    x_test = world.sample_land(500, seed=5)
    mle = gaussian.fit(x)
    loc, cov = gaussian.mle(x)
    assert torch.equal(mle.loc, loc) and torch.equal(mle.cov, cov)
    vi = gaussian.fit(x, method="vi", num_steps=1500, num_draws=200, quiet=True, seed=0)
    gap = (vi.log_prob(x_test) - mle.log_prob(x_test)).mean().item()
    assert abs(gap) < 0.02
    with pytest.raises(ValueError, match="method"):
        gaussian.fit(x, method="em")


def test_bad_input():
    with pytest.raises(ValueError, match="at least 3 points"):
        gaussian.mle(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="num_data"):
        gaussian.model()
