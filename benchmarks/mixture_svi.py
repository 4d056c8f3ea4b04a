"""Mixture SVI: Pyro (TraceEnum_ELBO + AutoNormal) against a hand-written PyTorch loop.

Both optimise the same objective: the ELBO of the mixture with the assignments summed out, a
mean-field Normal guide over the unconstrained globals (stick-breaking weights, centres, log
scales), one reparameterised draw per step, Adam. The ratio of steps per second is Pyro's
per-step overhead for enumeration, tracing and the autoguide.
"""

import contextlib
import math
import time

import pyro
import torch
from torch.distributions import biject_to, constraints
from torch.nn.functional import softplus

from gdl_pyro.data import world
from gdl_pyro.infer import _Stepper
from gdl_pyro.models import mixture
from gdl_pyro.models.gaussian import HALF_EXTENT


def steps_per_second(step, num_steps: int, warmup: int = 20, scope=None) -> float:
    with scope or contextlib.nullcontext():
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        for _ in range(num_steps):
            step()
        return num_steps / (time.perf_counter() - start)


def pyro_step(x, k, model=mixture.model, loss=None):
    """One SVI step of the fit's own guide, in the fit's own param store (as mixture.fit runs)."""
    fitted = mixture.fit(x, num_components=k, num_steps=1, num_draws=1, quiet=True, seed=0)
    svi = pyro.infer.SVI(
        pyro.poutine.scale(model, scale=1.0 / len(x)),
        pyro.poutine.scale(fitted.guide, scale=1.0 / len(x)),
        pyro.optim.Adam({"lr": 0.05}),
        loss or pyro.infer.TraceEnum_ELBO(max_plate_nesting=1),
    )
    return (lambda: svi.step(x, num_components=k)), fitted.svi.scope()


def fit_svi_step(x, k):
    """The same enumerated step as gdl_pyro's fit_svi takes it: one torch Adam over all params."""
    fitted = mixture.fit(x, num_components=k, num_steps=1, num_draws=1, quiet=True, seed=0)
    stepper = _Stepper(pyro.optim.Adam({"lr": 0.05}))
    model = pyro.poutine.scale(mixture.model, scale=1.0 / len(x))
    guide = pyro.poutine.scale(fitted.guide, scale=1.0 / len(x))
    loss = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1)
    kwargs = {"num_components": k}
    return (lambda: stepper.step(loss, model, guide, (x,), kwargs)), fitted.svi.scope()


def pyro_marginal_step(x, k):
    """The same ELBO with the sum written as MixtureSameFamily: no enumeration, plain Trace_ELBO."""
    return pyro_step(x, k, mixture.marginal_model, pyro.infer.Trace_ELBO())


def torch_step(x, k):
    simplex = biject_to(constraints.simplex)
    start = x[torch.randperm(len(x))[:k]] / HALF_EXTENT
    params = {
        "w_loc": torch.zeros(k - 1),
        "w_scale": torch.full((k - 1,), -4.0),
        "locs_loc": start.clone(),
        "locs_scale": torch.full((k, 2), -4.0),
        "scales_loc": torch.full((k, 2), math.log(0.1)),
        "scales_scale": torch.full((k, 2), -4.0),
    }
    for value in params.values():
        value.requires_grad_(True)
    optim = torch.optim.Adam(params.values(), lr=0.05)
    prior_w = torch.distributions.Dirichlet(torch.ones(k))
    prior_loc = torch.distributions.Normal(0.0, 1.0)
    prior_scale = torch.distributions.LogNormal(math.log(0.1), 1.0)

    def loss():
        total = 0.0
        draws = {}
        for name in ["w", "locs", "scales"]:
            q = torch.distributions.Normal(params[f"{name}_loc"], softplus(params[f"{name}_scale"]))
            u = q.rsample()
            total = total - q.log_prob(u).sum()
            draws[name] = u
        weights = simplex(draws["w"])
        total = (
            total + simplex.log_abs_det_jacobian(draws["w"], weights) + prior_w.log_prob(weights)
        )
        scales = draws["scales"].exp()
        total = total + draws["scales"].sum() + prior_scale.log_prob(scales).sum()
        total = total + prior_loc.log_prob(draws["locs"]).sum()
        components = torch.distributions.Normal(draws["locs"] * HALF_EXTENT, scales * HALF_EXTENT)
        log_lik = torch.logsumexp(
            weights.log() + components.log_prob(x.unsqueeze(-2)).sum(-1), -1
        ).sum()
        return -(total + log_lik) / len(x)

    def step():
        optim.zero_grad()
        value = loss()
        value.backward()
        optim.step()
        return value.item()

    return step


def main(num_data: int = 20_000, k: int = 10, num_steps: int = 200) -> None:
    """Steps per second of each; SVI.step gives each parameter its own optimiser, fit_svi one."""
    torch.set_num_threads(1)
    pyro.set_rng_seed(0)
    x = world.sample_land(num_data, seed=0)
    step, scope = pyro_step(x, k)
    pyro_rate = steps_per_second(step, num_steps, scope=scope)
    step, scope = pyro_marginal_step(x, k)
    marginal_rate = steps_per_second(step, num_steps, scope=scope)
    step, scope = fit_svi_step(x, k)
    stepper_rate = steps_per_second(step, num_steps, scope=scope)
    torch_rate = steps_per_second(torch_step(x, k), num_steps)
    print(f"mixture SVI, N={num_data:,}, K={k}, 1 thread, steps per second:")
    print(f"  {'hand-written PyTorch':<36}{torch_rate:6.1f}")
    for label, rate in [
        ("Pyro TraceEnum_ELBO (enumerated)", pyro_rate),
        ("Pyro Trace_ELBO, MixtureSameFamily", marginal_rate),
        ("gdl_pyro fit_svi (TraceEnum_ELBO)", stepper_rate),
    ]:
        print(f"  {label:<36}{rate:6.1f}  ({torch_rate / rate:.2f}x slower)")


if __name__ == "__main__":
    main()
