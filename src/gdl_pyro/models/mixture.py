r"""A Gaussian mixture: a latent variable (which component?) lets a model have many continents.

.. math:: w \sim \mathrm{Dir}(1), \quad \mu_k \sim \mathcal N(0, I),
          \quad \sigma_k \sim \mathrm{LogNormal}, \quad c_i \sim \mathrm{Cat}(w),
          \quad x_i \mid c_i \sim \mathcal N(\mu_{c_i}, \sigma_{c_i}^2)

``model`` is the enumerated form: the discrete "assignment" of each point is summed out exactly
by ``TraceEnum_ELBO`` (``config_enumerate``), so SVI only has to fit the continuous globals.
``marginal_model`` is the same distribution with the sum written as ``MixtureSameFamily``; use
it wherever a log-likelihood is needed. ``assign`` recovers each point's component with
``infer_discrete``; ``responsibilities`` gives the posterior probabilities in closed form.

As in ``gaussian``, "locs" and "scales" are in units of the map's half-extent (180, 90 degrees);
components have diagonal covariances.
"""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO, config_enumerate, infer_discrete
from pyro.infer.autoguide import AutoNormal, init_to_value

from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.infer import SVIResult, fit_svi
from gdl_pyro.models.gaussian import HALF_EXTENT

__all__ = [
    "MixtureFit",
    "assign",
    "fit",
    "log_density",
    "marginal_model",
    "model",
    "responsibilities",
    "sample_predictive",
]

DIRICHLET_CONCENTRATION = 1.0
PRIOR_SCALE_MEDIAN = 0.1  # a tenth of the map's half-extent: 18 x 9 degrees


def _globals(num_components: int):
    """The global latent variables: weights, and per component a centre and a scale."""
    weights = pyro.sample(
        "weights", dist.Dirichlet(torch.full((num_components,), DIRICHLET_CONCENTRATION))
    )
    with pyro.plate("components", num_components):
        locs = pyro.sample("locs", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        scales = pyro.sample(
            "scales",
            dist.LogNormal(torch.full((2,), math.log(PRIOR_SCALE_MEDIAN)), 1.0).to_event(1),
        )
    return weights, locs, scales


def _components(locs, scales) -> dist.MultivariateNormal:
    """Diagonal Gaussians in degrees.

    Written as a MultivariateNormal, not Normal(...).to_event(1): inside the data plate both are
    expanded to (K, N), and Normal.log_prob would then take log(scale) of the expanded (K, N, 2)
    view on every step, while MultivariateNormal keeps its scale factor unbroadcast. Same
    density; the enumerated SVI step is measurably faster (see benchmarks/mixture_svi.py).
    """
    return dist.MultivariateNormal(
        locs * HALF_EXTENT, scale_tril=torch.diag_embed(scales * HALF_EXTENT)
    )


@config_enumerate
def model(x=None, *, num_components: int, num_data=None):
    """The mixture with each point's component as a latent "assignment" (enumerated in SVI)."""
    num_data = checked_num_data(x, num_data)
    weights, locs, scales = _globals(num_components)
    with pyro.plate("data", num_data):
        # logits, not probs: the log is taken of K numbers, not of the plate's (N, K) expansion.
        assignment = pyro.sample("assignment", dist.Categorical(logits=weights.log()))
        return pyro.sample("obs", _components(locs[assignment], scales[assignment]), obs=x)


def marginal_model(x=None, *, num_components: int, num_data=None):
    """The same mixture with the assignment summed out: obs ~ MixtureSameFamily."""
    num_data = checked_num_data(x, num_data)
    weights, locs, scales = _globals(num_components)
    with pyro.plate("data", num_data):
        mixture = dist.MixtureSameFamily(dist.Categorical(weights), _components(locs, scales))
        return pyro.sample("obs", mixture, obs=x)


def log_density(points, weights, locs, scales) -> torch.Tensor:
    """log p(points | parameters) for site values with leading draw dims: shape (..., N)."""
    components = _components(locs.unsqueeze(-3), scales.unsqueeze(-3))
    mixture = dist.MixtureSameFamily(dist.Categorical(weights.unsqueeze(-2)), components)
    return mixture.log_prob(points)


def responsibilities(points, weights, locs, scales) -> torch.Tensor:
    """p(component k | x_i) for one parameter value: shape (N, K), rows sum to 1."""
    points = as_points(points)
    log_joint = weights.log() + _components(locs, scales).log_prob(points.unsqueeze(-2))
    return torch.softmax(log_joint, -1)


class MixtureFit:
    """A mixture fitted by SVI: the guide, the SVI result, and helpers to read it."""

    def __init__(self, num_components: int, guide: AutoNormal, svi: SVIResult):
        self.num_components, self.guide, self.svi = num_components, guide, svi

    def median(self) -> dict[str, torch.Tensor]:
        """The guide's median of each global site (a point estimate)."""
        with torch.no_grad():
            return {name: value.detach() for name, value in self.guide.median().items()}


def fit(
    x,
    *,
    num_components: int,
    num_steps: int = 1500,
    lr: float = 0.05,
    quiet: bool = False,
) -> MixtureFit:
    """Fit the mixture by SVI: TraceEnum_ELBO sums out the assignments, AutoNormal the globals.

    Centres start at K distinct data points (drawn with the global RNG), scales at the prior
    median and weights equal: a spread start that avoids empty components.
    """
    x = as_points(x)
    num_components = as_count(num_components, "num_components", minimum=1)
    if num_components > x.shape[0]:
        raise ValueError(f"num_components must be at most the number of points ({x.shape[0]})")
    start = x[torch.randperm(x.shape[0])[:num_components]] / HALF_EXTENT
    init = init_to_value(
        values={
            "weights": torch.full((num_components,), 1.0 / num_components),
            "locs": start,
            "scales": torch.full((num_components, 2), PRIOR_SCALE_MEDIAN),
        }
    )
    guide = AutoNormal(poutine.block(model, hide=["assignment"]), init_loc_fn=init, init_scale=0.01)
    scaled = poutine.scale(model, scale=1.0 / x.shape[0])
    scaled_guide = poutine.scale(guide, scale=1.0 / x.shape[0])
    result = fit_svi(
        scaled,
        scaled_guide,
        x,
        num_components=num_components,
        num_steps=num_steps,
        lr=lr,
        loss=TraceEnum_ELBO(max_plate_nesting=1),
        quiet=quiet,
        desc=f"mixture K={num_components}",
    )
    return MixtureFit(num_components, guide, result)


def assign(fitted: MixtureFit, x) -> torch.Tensor:
    """Each point's most probable component, by Pyro's infer_discrete at the guide's median."""
    x = as_points(x)
    conditioned = poutine.condition(model, data=fitted.median())
    decoder = infer_discrete(conditioned, first_available_dim=-2, temperature=0)
    trace = poutine.trace(decoder).get_trace(x, num_components=fitted.num_components)
    return trace.nodes["assignment"]["value"]


def sample_predictive(draws: dict, num_samples: int) -> torch.Tensor:
    """Points from the posterior predictive: a random draw, then a component, then a point."""
    index = torch.randint(len(draws["weights"]), (as_count(num_samples, "num_samples"),))
    component = dist.Categorical(draws["weights"][index]).sample()
    locs = draws["locs"][index, component]
    scales = draws["scales"][index, component]
    return _components(locs, scales).sample()
