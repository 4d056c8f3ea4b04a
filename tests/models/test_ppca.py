"""PPCA: closed form against Pyro's fit, a known subspace recovered, the exact posterior."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from gdl_pyro.infer import iwae_bound
from gdl_pyro.models import ppca

# SVI with Adam reaches the closed-form NLL to within float32 optimisation noise: 0.01 nats per
# point out of about 60.
NLL_TOL = 0.01
# With 2000 points, sample noise tilts the estimated subspace by about sigma / sqrt(N) / |w|.
ANGLE_TOL = 0.05


def simulated(num_data=2000, data_dim=12, seed=0):
    """Data from a known PPCA: orthogonal W with column norms 3 and 2, sigma 0.3."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(data_dim, 2, generator=g))
    truth = ppca.PPCAParams(
        basis * torch.tensor([3.0, 2.0]), torch.randn(data_dim, generator=g), torch.tensor(0.3)
    )
    z = torch.randn(num_data, 2, generator=g)
    x = z @ truth.W.T + truth.mu + truth.sigma * torch.randn(num_data, data_dim, generator=g)
    return x, truth


def test_closed_form_recovers_the_known_subspace_and_noise():
    x, truth = simulated()
    fitted = ppca.mle(x)
    assert ppca.principal_angles(fitted.W, truth.W).max().item() < ANGLE_TOL
    assert fitted.sigma.item() == pytest.approx(0.3, rel=0.05)
    assert torch.allclose(fitted.mu, x.mean(0), atol=1e-5)
    # W's column norms: sqrt(lambda - sigma^2) estimates the true 3 and 2.
    assert torch.allclose(fitted.W.norm(dim=0), torch.tensor([3.0, 2.0]), rtol=0.1)


def test_closed_form_is_the_maximum():
    x, _ = simulated(num_data=500)
    best = ppca.mle(x)
    nll = -ppca.log_likelihood(x, best)
    for perturbed in [
        ppca.PPCAParams(best.W * 1.05, best.mu, best.sigma),
        ppca.PPCAParams(best.W, best.mu + 0.05, best.sigma),
        ppca.PPCAParams(best.W, best.mu, best.sigma * 1.05),
    ]:
        assert -ppca.log_likelihood(x, perturbed) > nll


@pytest.mark.slow
def test_svi_fit_reaches_the_closed_form_log_likelihood():
    x, _ = simulated(num_data=1000)
    closed = ppca.fit(x)  # method="mle": the closed form
    closed_nll = -closed.log_prob(x).mean().item()
    fitted = ppca.fit(x, method="svi", num_steps=1500, lr=0.03, quiet=True, seed=0)
    assert -fitted.log_prob(x).mean().item() == pytest.approx(closed_nll, abs=NLL_TOL)
    assert fitted.losses[-1] == pytest.approx(closed_nll, abs=NLL_TOL)
    assert ppca.principal_angles(fitted.params.W, closed.params.W).max().item() < ANGLE_TOL
    # The fit's density is its distribution's, and the data set's log-likelihood is their sum.
    assert torch.allclose(fitted.log_prob(x), fitted.distribution().log_prob(x))
    assert ppca.log_likelihood(x, closed.params).item() == pytest.approx(
        closed.log_prob(x).sum().item(), rel=1e-6
    )


def test_latent_model_and_marginal_agree():
    # Integrating z out of the latent model by Monte Carlo gives the marginal density.
    x, truth = simulated(num_data=3, data_dim=4)
    z = torch.randn(200_000, 1, 2)
    log_joint = dist.Normal(z @ truth.W.T + truth.mu, truth.sigma).to_event(1).log_prob(x)
    monte_carlo = torch.logsumexp(log_joint, 0) - math.log(200_000)
    exact = ppca.PPCAFit(truth, [], 0.0).log_prob(x)
    assert torch.allclose(monte_carlo, exact, atol=0.05)
    simulated_x = ppca.model(params=truth, num_data=7)
    assert simulated_x.shape == (7, 4)
    assert ppca.marginal_model(params=truth, num_data=5).shape == (5, 4)


def test_iwae_with_the_exact_posterior_is_exact():
    # Every importance weight p(x, z) / p(z | x) equals p(x): the estimate is exact for any K.
    x, truth = simulated(num_data=50, data_dim=6)
    post = ppca.posterior(x, truth)

    def exact_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample(
                "z", dist.MultivariateNormal(post.loc, covariance_matrix=post.covariance_matrix)
            )

    estimate = iwae_bound(lambda x: ppca.model(x, params=truth), exact_guide, x, num_particles=2)
    assert torch.allclose(estimate, ppca.PPCAFit(truth, [], 0.0).log_prob(x), atol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="x must have shape"):
        ppca.mle(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="finite"):
        ppca.mle(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="latent_dim"):
        ppca.mle(torch.randn(10, 3), latent_dim=3)
    with pytest.raises(ValueError, match="num_data"):
        ppca.model()
    with pytest.raises(ValueError, match="num_data"):
        ppca.marginal_model()
    x, truth = simulated(num_data=10, data_dim=4)
    fitted = ppca.PPCAFit(truth, [], 0.0)
    with pytest.raises(ValueError, match="finite"):
        fitted.log_prob(torch.tensor([[0.0, math.nan, 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        fitted.log_prob(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="method"):
        ppca.fit(x, method="em")


def test_principal_angles_against_a_known_rotation():
    # Two planes in R^3 that share one axis and meet at 30 degrees along the other.
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    t = math.radians(30)
    b = torch.tensor([[1.0, 0.0], [0.0, math.cos(t)], [0.0, math.sin(t)]])
    angles = ppca.principal_angles(a, b).sort().values
    assert torch.allclose(angles, torch.tensor([0.0, t], dtype=torch.float64), atol=1e-7)
