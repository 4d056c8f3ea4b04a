r"""A Gaussian mixture: a latent variable (which component?) lets a model have many continents.

.. math:: w \sim \mathrm{Dir}(1), \quad \mu_k \sim \mathcal N(0, I),
          \quad \sigma_k \sim \mathrm{LogNormal}, \quad c_i \sim \mathrm{Cat}(w),
          \quad x_i \mid c_i \sim \mathcal N(\mu_{c_i}, \sigma_{c_i}^2)

``model`` is the enumerated form: the discrete "assignment" of each point is summed out exactly
by ``TraceEnum_ELBO`` (``config_enumerate``), so SVI only has to fit the continuous globals.
``marginal_model`` is the same distribution with the sum written as ``MixtureSameFamily``; use
it wherever a log-likelihood is needed. ``fit`` fits either by VI or NUTS and returns a fit with
the interface of every family (``gdl_pyro.fitting``). ``assign`` recovers each point's component
with ``infer_discrete``; ``responsibilities`` gives the posterior probabilities in closed form.

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
from sklearn.mixture import GaussianMixture
from torch.distributions import constraints

from gdl_pyro._sealed import sealed
from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.fitting import NUTSFit, PointFit, VIFit, method_options, nuts_fit, preamble, vi_fit
from gdl_pyro.infer import cosine_adam
from gdl_pyro.models.gaussian import HALF_EXTENT

__all__ = [
    "EMFit",
    "NormalMixture",
    "assign",
    "distribution",
    "fit",
    "fit_em",
    "marginal_model",
    "model",
    "relabel",
    "responsibilities",
]

DIRICHLET_CONCENTRATION = 1.0
PRIOR_SCALE_MEDIAN = 0.1  # a tenth of the map's half-extent: 18 x 9 degrees


def _globals(num_components: int, device=None):
    """The global latent variables: weights, and per component a centre and a scale."""
    concentration = torch.full((num_components,), DIRICHLET_CONCENTRATION, device=device)
    weights = pyro.sample("weights", dist.Dirichlet(concentration))
    with pyro.plate("components", num_components):
        locs = pyro.sample("locs", dist.Normal(torch.zeros(2, device=device), 1.0).to_event(1))
        median = torch.full((2,), math.log(PRIOR_SCALE_MEDIAN), device=device)
        scales = pyro.sample("scales", dist.LogNormal(median, 1.0).to_event(1))
    return weights, locs, scales


def _components(locs, scales) -> dist.MultivariateNormal:
    """Diagonal Gaussians in degrees.

    Written as a MultivariateNormal, not Normal(...).to_event(1): inside the data plate both are
    expanded to (K, N), and Normal.log_prob would then take log(scale) of the expanded (K, N, 2)
    view on every step, while MultivariateNormal keeps its scale factor unbroadcast. Same
    density; the enumerated SVI step is measurably faster (see benchmarks/mixture_svi.py).
    """
    half_extent = HALF_EXTENT.to(locs.device)
    return dist.MultivariateNormal(
        locs * half_extent, scale_tril=torch.diag_embed(scales * half_extent)
    )


@config_enumerate
def model(x=None, *, num_components: int, num_data=None):
    """The mixture with each point's component as a latent "assignment" (enumerated in SVI)."""
    num_data = checked_num_data(x, num_data)
    weights, locs, scales = _globals(num_components, None if x is None else x.device)
    with pyro.plate("data", num_data):
        # logits, not probs: the log is taken of K numbers, not of the plate's (N, K) expansion.
        assignment = pyro.sample("assignment", dist.Categorical(logits=weights.log()))
        return pyro.sample("obs", _components(locs[assignment], scales[assignment]), obs=x)


def marginal_model(x=None, *, num_components: int, num_data=None):
    """The same mixture with the assignment summed out: obs ~ MixtureSameFamily."""
    num_data = checked_num_data(x, num_data)
    weights, locs, scales = _globals(num_components, None if x is None else x.device)
    with pyro.plate("data", num_data):
        # The components' batch dimension sits left of K, so a leading draw dimension broadcasts.
        components = _components(locs.unsqueeze(-3), scales.unsqueeze(-3))
        mixture = dist.MixtureSameFamily(dist.Categorical(weights), components)
        return pyro.sample("obs", mixture, obs=x)


class NormalMixture(dist.MixtureSameFamily):
    """A mixture of Normals on the plane whose ``support`` says so.

    ``MixtureSameFamily``'s own support is a constraint with no ``biject_to``, so a fitted
    mixture used as a prior in a learner's model stopped NUTS and the autoguides ("Cannot
    transform MixtureSameFamilyConstraint"). Every component here is a Normal over the plane,
    and so is the mixture.
    """

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self):
        return constraints.independent(constraints.real, 1)


def distribution(weights, locs, scales) -> NormalMixture:
    """The mixture density in degrees for site values; leading dims are batch dims (draws)."""
    return NormalMixture(dist.Categorical(weights), _components(locs, scales))


def relabel(draws: dict) -> dict:
    """The same draws with each draw's components ordered by their centre's longitude.

    A mixture's posterior has K! copies, one per labelling, so chains that start apart can
    settle in different labellings, and an r_hat over "component 1" would compare different
    components. Ordering by longitude after sampling picks one labelling everywhere (a post-hoc
    identifiability constraint); the density is unchanged. Works for any leading dimensions
    (draws, or chains and draws).
    """
    order = draws["locs"][..., 0].argsort(-1)
    relabelled = dict(draws)
    relabelled["weights"] = draws["weights"].gather(-1, order)
    for name in ("locs", "scales"):
        index = order.unsqueeze(-1).expand(draws[name].shape)
        relabelled[name] = draws[name].gather(-2, index)
    return relabelled


def responsibilities(points, weights, locs, scales) -> torch.Tensor:
    """p(component k | x_i) for one parameter value: shape (N, K), rows sum to 1."""
    points = as_points(points, "points")
    log_joint = weights.log() + _components(locs, scales).log_prob(points.unsqueeze(-2))
    return torch.softmax(log_joint, -1)


# The options of each method and their defaults (``method_options`` refuses the others).
_METHODS = {
    "vi": {"num_steps": 750, "lr": 0.1, "num_draws": 1000},
    "nuts": {"num_samples": 500, "warmup_steps": 500, "num_chains": 2, "init": None},
}


def fit(
    x,
    *,
    num_components: int,
    method: str = "vi",
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_steps: int | None = None,
    lr: float | None = None,
    num_draws: int | None = None,
    init: dict | None = None,
    num_samples: int | None = None,
    warmup_steps: int | None = None,
    num_chains: int | None = None,
) -> VIFit | NUTSFit:
    """Fit the Bayesian mixture by VI (enumerated SVI) or NUTS: the fit interface of every family.

    The maximum-likelihood mixture by EM, the fit a user would pick instead, is ``fit_em``
    (scikit-learn keeps ``GaussianMixture`` apart from ``BayesianGaussianMixture`` too). An
    option of the other method is refused with a ValueError.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    num_components : int
        K, at least 1 and at most N.
    method : {"vi", "nuts"}
        "vi": TraceEnum_ELBO sums out the assignments and AutoNormal fits the globals (centres
        start at K distinct data points, scales at the prior median, weights equal: a spread
        start that avoids empty components). "nuts": ``marginal_model`` sampled by NUTS,
        each chain from its own dispersed start (or all from ``init``, e.g. a VI fit's
        ``median()``), the draws relabelled by ``relabel`` so that component k means the
        same in every chain. Both give the posterior predictive as ``distribution()``.
    seed, quiet, device
        As for every fit.
    num_steps, lr, num_draws : int, float, int
        SVI steps, Adam's starting learning rate, which falls to 0 along a cosine
        (``gdl_pyro.infer.cosine_adam``), and guide draws kept (VI; 750, 0.1, 1000). Measured
        at K = 30 and N = 5,000: 500 steps from 0.1 reached a held-out NLL of 10.320 nats in
        5.0 s, where 1,000 steps at a constant 0.05 reached 10.331 in 10.4 s.
    init : dict, optional
        Starting values of "weights", "locs" and "scales" for NUTS.
    num_samples, warmup_steps, num_chains : int
        NUTS draws per chain, warm-up steps and chains (500, 500, 2).
    """
    options = method_options(
        method,
        {
            "num_steps": num_steps,
            "lr": lr,
            "num_draws": num_draws,
            "init": init,
            "num_samples": num_samples,
            "warmup_steps": warmup_steps,
            "num_chains": num_chains,
        },
        _METHODS,
    )
    with preamble(x, seed=seed, device=device) as setup:
        num_components = _num_components(num_components, setup.x)
        name = f"mixture K={num_components}"
        if method == "nuts":
            init = options.pop("init")
            return nuts_fit(
                f"{name} (NUTS)",
                "mixture",
                marginal_model,
                setup,
                distribution,
                quiet=quiet,
                init_strategy=None if init is None else init_to_value(values=init),
                relabel=relabel,
                num_components=num_components,
                **options,
            )
        device = setup.device
        start = setup.x[torch.randperm(setup.x.shape[0], device=device)[:num_components]]
        init_fn = init_to_value(
            values={
                "weights": torch.full((num_components,), 1.0 / num_components, device=device),
                "locs": start / HALF_EXTENT.to(device),
                "scales": torch.full((num_components, 2), PRIOR_SCALE_MEDIAN, device=device),
            }
        )
        guide = AutoNormal(
            poutine.block(model, hide=["assignment"]), init_loc_fn=init_fn, init_scale=0.01
        )
        return vi_fit(
            f"{name} (VI)",
            "mixture",
            model,
            guide,
            setup,
            distribution,
            marginal=marginal_model,
            quiet=quiet,
            loss=TraceEnum_ELBO(max_plate_nesting=1),
            optim=cosine_adam(options["lr"], options["num_steps"]),
            relabel=relabel,
            num_components=num_components,
            **options,
        )


def _num_components(num_components, x: torch.Tensor) -> int:
    """K checked: an integer from 1 to the number of points."""
    num_components = as_count(num_components, "num_components", minimum=1)
    if num_components > x.shape[0]:
        raise ValueError(f"num_components must be at most the number of points ({x.shape[0]})")
    return num_components


class EMFit(PointFit):
    """scikit-learn's EM mixture as a Pyro density: ``weights`` (K,), ``locs`` (K, 2) and
    ``covariances`` (K, 2, 2) in degrees; ``converged`` says whether EM stopped by tolerance."""

    def __init__(self, weights, locs, covariances, converged: bool, iterations: int, seconds):
        self.weights, self.locs, self.covariances = weights, locs, covariances.to(locs.dtype)
        # Cholesky factors from the float64 covariances: a thin component's covariance can be
        # positive definite in float64 and not once rounded to float32.
        self.scale_tril = torch.linalg.cholesky(covariances.double()).to(locs.dtype)
        self.converged, self.iterations = converged, iterations
        name = f"mixture K={len(weights)} (EM)"
        super().__init__(name, "mixture", self._distribution, seconds=seconds)

    def _distribution(self) -> NormalMixture:
        components = dist.MultivariateNormal(self.locs, scale_tril=self.scale_tril)
        return NormalMixture(dist.Categorical(probs=self.weights), components)


def fit_em(
    x, *, num_components: int, seed: int | None = None, max_iter: int = 750, device=None
) -> EMFit:
    """The maximum-likelihood mixture by scikit-learn's EM (``GaussianMixture``), as a fit.

    Full covariances, at most ``max_iter`` iterations, seeded from ``seed`` (its own RNG, not
    the caller's). EM runs on the CPU in float64, as scikit-learn does; the fit's density is a
    Pyro ``MixtureSameFamily``. It is the point fit a user would pick instead of ``fit``.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    num_components : int
        K, at least 1 and at most N.
    seed : int, optional
        The fit's own seed (scikit-learn's ``random_state``).
    max_iter : int
        EM iterations at most, >= 1.
    device : str or torch.device, optional
        Checked as for every fit; EM itself runs on the CPU.
    """
    max_iter = as_count(max_iter, "max_iter", minimum=1)
    with preamble(x, seed=seed, device=device) as setup:
        num_components = _num_components(num_components, setup.x)
        em = GaussianMixture(
            num_components, covariance_type="full", max_iter=max_iter, random_state=setup.seed
        ).fit(setup.x.cpu().double().numpy())
    as_float = lambda array: torch.as_tensor(array, dtype=torch.get_default_dtype())  # noqa: E731
    return EMFit(
        as_float(em.weights_),
        as_float(em.means_),
        torch.as_tensor(em.covariances_),  # float64, as EM computed them
        bool(em.converged_),
        int(em.n_iter_),
        setup.timer.seconds,
    )


def assign(fitted: VIFit, x) -> torch.Tensor:
    """Each point's most probable component, by Pyro's infer_discrete at the guide's median."""
    if not isinstance(fitted, VIFit):
        raise ValueError(
            f"fitted must be a VI fit of this mixture (mixture.fit); got {type(fitted).__name__}"
        )
    x = as_points(x)
    conditioned = poutine.condition(model, data=fitted.median())
    decoder = infer_discrete(conditioned, first_available_dim=-2, temperature=0)
    num_components = fitted.draws["weights"].shape[-1]
    with sealed():
        trace = poutine.trace(decoder).get_trace(x, num_components=num_components)
    return trace.nodes["assignment"]["value"]
