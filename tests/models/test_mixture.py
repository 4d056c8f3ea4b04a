"""The mixture: SVI with enumeration recovers a known mixture; the two forms agree."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO

from gdl_pyro import convert
from gdl_pyro.models import mixture
from gdl_pyro.models.gaussian import HALF_EXTENT

# Three well-separated components; with 1500 points each weight is known to +-0.013 (binomial sd)
# and each centre to about 10 / sqrt(500) = 0.5 degrees. Tolerances: 0.04 and 2 degrees.
WEIGHT_TOL = 0.04
CENTRE_TOL_DEG = 2.0
TRUE_WEIGHTS = torch.tensor([0.5, 0.3, 0.2])
TRUE_CENTRES = torch.tensor([[-100.0, 40.0], [20.0, 0.0], [120.0, -30.0]])
TRUE_SCALES = torch.tensor([[15.0, 10.0], [10.0, 20.0], [12.0, 8.0]])


def simulate(num_data, seed):
    g = torch.Generator().manual_seed(seed)
    which = torch.multinomial(TRUE_WEIGHTS, num_data, replacement=True, generator=g)
    noise = torch.randn(num_data, 2, generator=g)
    return TRUE_CENTRES[which] + TRUE_SCALES[which] * noise


@pytest.mark.slow
def test_svi_recovers_weights_and_centres():
    x = simulate(1500, seed=0)
    fitted = mixture.fit(x, num_components=3, num_steps=800, lr=0.05, quiet=True, seed=0)
    m = fitted.median()
    order = torch.argsort(m["locs"][:, 0])  # match components by longitude
    assert torch.allclose(m["weights"][order], TRUE_WEIGHTS, atol=WEIGHT_TOL)
    assert torch.allclose(m["locs"][order] * HALF_EXTENT, TRUE_CENTRES, atol=CENTRE_TOL_DEG)
    assert torch.allclose(m["scales"][order] * HALF_EXTENT, TRUE_SCALES, rtol=0.15)


def test_enumerated_and_marginal_forms_give_the_same_likelihood():
    x = simulate(40, seed=1)
    values = {
        "weights": TRUE_WEIGHTS,
        "locs": TRUE_CENTRES / HALF_EXTENT,
        "scales": TRUE_SCALES / HALF_EXTENT,
    }
    # The marginal form's obs log-likelihood...
    trace = poutine.trace(poutine.condition(mixture.marginal_model, data=values)).get_trace(
        x, num_components=3
    )
    trace.compute_log_prob()
    marginal = trace.nodes["obs"]["log_prob"].sum()

    # ... equals what TraceEnum_ELBO gets by summing out the assignments (a guide of point masses).
    def delta_guide(x, num_components):
        pyro.sample("weights", dist.Delta(values["weights"], event_dim=1))
        with pyro.plate("components", num_components):
            pyro.sample("locs", dist.Delta(values["locs"], event_dim=1))
            pyro.sample("scales", dist.Delta(values["scales"], event_dim=1))

    elbo = -TraceEnum_ELBO(max_plate_nesting=1).loss(
        mixture.model, delta_guide, x, num_components=3
    )
    prior = sum(node["log_prob_sum"] for name, node in trace.nodes.items() if name in values)
    assert elbo == pytest.approx((marginal + prior).item(), rel=1e-5)
    # And the closed-form log_density agrees with both.
    direct = mixture.distribution(**values).log_prob(x)
    assert direct.sum().item() == pytest.approx(marginal.item(), rel=1e-5)


def test_marginal_model_broadcasts_over_draws():
    # Three draws of the parameters at once give each draw's own log-likelihood.
    x = simulate(30, seed=3)
    values = {
        "weights": TRUE_WEIGHTS,
        "locs": TRUE_CENTRES / HALF_EXTENT,
        "scales": TRUE_SCALES / HALF_EXTENT,
    }
    draws = {k: torch.stack([v, v * 1.1, v * 0.9]) for k, v in values.items()}
    draws["weights"] = draws["weights"] / draws["weights"].sum(-1, keepdim=True)
    vectorised = convert.pointwise_log_likelihood(
        mixture.marginal_model, draws, x, num_components=3
    )
    one_by_one = torch.stack(
        [mixture.distribution(**{k: v[s] for k, v in draws.items()}).log_prob(x) for s in range(3)]
    )
    assert torch.allclose(vectorised, one_by_one, atol=1e-5)


@pytest.mark.slow
def test_infer_discrete_agrees_with_responsibilities():
    x = simulate(600, seed=2)
    fitted = mixture.fit(x, num_components=3, num_steps=300, quiet=True, seed=0)
    m = fitted.median()
    resp = mixture.responsibilities(x, m["weights"], m["locs"], m["scales"])
    assert torch.allclose(resp.sum(-1), torch.ones(600))
    assert torch.equal(mixture.assign(fitted, x), resp.argmax(-1))


def test_simulation_and_bad_input():
    pyro.set_rng_seed(0)
    simulated = mixture.model(num_components=4, num_data=25)
    assert simulated.shape == (25, 2) and torch.isfinite(simulated).all()
    with pytest.raises(ValueError, match="num_components must be an integer >= 1"):
        mixture.fit(simulate(10, 0), num_components=0)
    with pytest.raises(ValueError, match="at most the number of points"):
        mixture.fit(simulate(3, 0), num_components=5)
    with pytest.raises(ValueError, match="method"):
        mixture.fit(simulate(10, 0), num_components=2, method="gibbs")
    with pytest.raises(ValueError, match="points"):
        mixture.responsibilities(torch.zeros(3, 3), TRUE_WEIGHTS, TRUE_CENTRES, TRUE_SCALES)
    fitted = mixture.fit(simulate(50, 0), num_components=2, num_steps=5, num_draws=10, quiet=True)
    with pytest.raises(ValueError, match="finite"):
        fitted.log_prob(torch.tensor([[0.0, math.nan]]))
    assert math.isfinite(fitted.log_prob(simulate(5, 0)).sum().item())


def test_relabel_orders_components_by_longitude_and_keeps_the_density():
    values = {
        "weights": TRUE_WEIGHTS,
        "locs": TRUE_CENTRES / HALF_EXTENT,
        "scales": TRUE_SCALES / HALF_EXTENT,
    }
    permuted = {k: v[[2, 0, 1]] for k, v in values.items()}  # components in another order
    draws = {
        k: torch.stack([values[k], permuted[k]]).unsqueeze(0).expand(3, -1, *values[k].shape)
        for k in values
    }
    relabelled = mixture.relabel(draws)  # (chains, draws, K, ...)
    assert torch.equal(relabelled["locs"][:, 0], relabelled["locs"][:, 1])
    assert (relabelled["locs"][..., 0].diff(dim=-1) > 0).all()
    assert torch.equal(relabelled["weights"][0, 1], TRUE_WEIGHTS)  # already in longitude order
    x = simulate(20, seed=4)
    assert torch.allclose(
        mixture.distribution(**permuted).log_prob(x), mixture.distribution(**values).log_prob(x)
    )


@pytest.mark.slow
def test_nuts_chains_start_apart_and_are_relabelled():
    x = simulate(150, seed=5)
    fitted = mixture.fit(
        x, num_components=2, method="nuts", num_samples=20, warmup_steps=20, quiet=True, seed=0
    )
    posterior = fitted.inference_data().posterior
    locs = torch.as_tensor(posterior["locs"].values)  # (chains, draws, K, 2)
    assert (locs[..., 0].diff(dim=-1) >= 0).all()  # one labelling in every chain and draw
    assert torch.equal(fitted.draws["locs"], locs.reshape(-1, 2, 2).float())


def test_em_baseline_is_scikit_learns_mixture_and_recovers_the_truth():
    from sklearn.mixture import GaussianMixture

    x = simulate(1500, seed=0)
    fitted = mixture.fit_em(x, num_components=3, seed=0)
    order = torch.argsort(fitted.locs[:, 0])
    assert torch.allclose(fitted.weights[order], TRUE_WEIGHTS, atol=WEIGHT_TOL)
    assert torch.allclose(fitted.locs[order], TRUE_CENTRES, atol=CENTRE_TOL_DEG)
    reference = GaussianMixture(3, random_state=0).fit(x.double().numpy())
    expected = torch.as_tensor(reference.score_samples(x[:20].double().numpy()))
    assert torch.allclose(fitted.log_prob(x[:20]).double(), expected, atol=1e-4)
    assert fitted.converged
