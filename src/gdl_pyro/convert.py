"""Conversion of a fit to ArviZ InferenceData, with named dims and coords (as arviz/data does).

Facts about ArviZ 0.23 and Pyro 1.9 that shape this module:

- ``az.from_pyro(mcmc)`` is right for the posterior and sample stats, but its log_likelihood group
  is dropped or wrong for models with vector-valued sites; it is computed here per draw
  (``pointwise_log_likelihood``, one vectorised trace) and added, with ``log_likelihood=False``
  passed to from_pyro.
- ``az.from_pyro`` does not take SVI: a VI fit's InferenceData is built from guide draws
  (``gdl_pyro.infer.guide_draws`` or ``sample_guide``).

Dims are named by one rule (``inference_dims``), from the shapes of the sites and the model's
size keywords, so that ``idata.posterior["locs"].sel(component=1, coord="lat")`` reads as what
it is instead of ``locs_dim_0``. With the observation of shape (N, *event) and one draw of a
latent of shape s:

- the observation's leading dim is "point" (coords 0..N-1), in observed_data and, for the
  log-likelihood of each point, in log_likelihood;
- when the observations are points in the plane, (N, 2), their last dim is "coord" with coords
  ["lon", "lat"];
- a latent's leading dim is "component" when its size is the model's ``num_components``
  (coords 0..K-1): a mixture's "weights" (K,), "locs" and "scales" (K, 2);
- a latent's last dim is "class" when its size is the model's ``num_classes`` (a classifier's
  "bias" (C,) and "coef" (F, C));
- each remaining dim of the points' size 2 is "coord", and a second one in the same variable
  "coord_bis" (a Cholesky factor over (lon, lat) is (2, 2));
- any other dim keeps ArviZ's default name, ``<name>_dim_<i>``.

The order of the rules settles the one ambiguity: a mixture with K = 2 has "weights" of shape
(2,), read as per component, never as (lon, lat). ``dims`` and ``coords`` passed to
``to_inference_data`` replace the rule's for the variables and dims they name (e.g. land-mass
names as the coords of "class").
"""

import warnings
from collections.abc import Callable, Mapping

import pyro
import torch
from pyro import poutine
from pyro.infer import MCMC
from pyro.poutine.util import site_is_subsample

from gdl_pyro._arviz import az

__all__ = ["POINT_COORDS", "inference_dims", "pointwise_log_likelihood", "to_inference_data"]

# The coords of a point's two values: the map's longitude and latitude, in degrees.
POINT_COORDS = ("lon", "lat")


def pointwise_log_likelihood(
    model: Callable, draws: dict, *args, site: str = "obs", **kwargs
) -> torch.Tensor:
    """log p(x_i | theta_s) of each observation under each draw, shape (S, N).

    One vectorised trace for all draws at once: the model runs inside a plate over the draws,
    conditioned on all of them. (Pyro's ``Predictive(parallel=True)`` does the same but counts a
    vector site's event dimension as a batch dimension, which misplaces 2-D sites.) The model
    must broadcast over a leading draw dimension, as every model in this package does.

    Parameters
    ----------
    model : callable
        A model taking ``*args, **kwargs``, with no discrete latents.
    draws : dict of str to torch.Tensor
        Values of its latent sites, each with a leading draw dimension S.
    site : str
        The observed site whose log-likelihood is wanted.

    Returns
    -------
    torch.Tensor
        Shape (S, N).
    """
    num_draws = len(next(iter(draws.values())))
    with torch.no_grad():
        one = {name: value[0] for name, value in draws.items()}
        plain = poutine.trace(poutine.condition(model, data=one)).get_trace(*args, **kwargs)
        sites = [
            node
            for node in plain.nodes.values()
            if node["type"] == "sample" and not site_is_subsample(node)
        ]
        nesting = max(len(node["fn"].batch_shape) for node in sites)
        reshaped = {}
        for name, value in draws.items():
            batch = plain.nodes[name]["fn"].batch_shape
            event = value.shape[1 + len(batch) :]
            reshaped[name] = value.reshape(
                (num_draws,) + (1,) * (nesting - len(batch)) + tuple(batch) + tuple(event)
            )

        def vectorized(*args, **kwargs):
            with pyro.plate("_draws", num_draws, dim=-nesting - 1):
                return poutine.condition(model, data=reshaped)(*args, **kwargs)

        node = poutine.trace(vectorized).get_trace(*args, **kwargs).nodes[site]
        log_prob = node["fn"].log_prob(node["value"])
    return log_prob.reshape(num_draws, -1)


def inference_dims(
    shapes: Mapping[str, tuple[int, ...]],
    observed: tuple[str, tuple[int, ...]],
    *,
    num_components: int | None = None,
    num_classes: int | None = None,
) -> tuple[dict[str, list[str | None]], dict[str, list]]:
    """The dims and coords of every variable by the module's rule (see the module docstring).

    Parameters
    ----------
    shapes : mapping of str to tuple of int
        The shape of one draw of each latent variable.
    observed : (str, tuple of int)
        The observed site's name and the shape of its value, (N, *event).
    num_components, num_classes : int, optional
        The model's number of mixture components or of classes, if it has one.

    Returns
    -------
    (dims, coords) : dict of str to list, as ``az.from_dict(dims=..., coords=...)`` takes them;
        None in a list of dims stands for ArviZ's default name.
    """
    site, observed_shape = observed
    points_2d = len(observed_shape) == 2 and observed_shape[-1] == len(POINT_COORDS)
    sizes = {"point": observed_shape[0]}

    def named(shape: tuple[int, ...], latent: bool = True) -> list[str | None]:
        dims: list[str | None] = [None] * len(shape)
        if latent and num_components is not None and shape and shape[0] == num_components:
            dims[0], sizes["component"] = "component", num_components
        if latent and num_classes is not None and shape and shape[-1] == num_classes:
            if dims[-1] is None:
                dims[-1], sizes["class"] = "class", num_classes
        if points_2d:
            free = [i for i, size in enumerate(shape) if dims[i] is None and size == 2]
            for i, name in zip(free, ("coord", "coord_bis"), strict=False):
                dims[i] = name
        return dims

    dims = {name: named(tuple(shape)) for name, shape in shapes.items()}
    dims[site] = ["point"] + named(tuple(observed_shape[1:]), latent=False)
    coords = {name: list(range(size)) for name, size in sizes.items()}
    if points_2d:
        coords["coord"] = coords["coord_bis"] = list(POINT_COORDS)
    used = {dim for names in dims.values() for dim in names}
    return dims, {name: values for name, values in coords.items() if name in used}


def to_inference_data(
    fit,
    model: Callable,
    *args,
    draws: dict | None = None,
    relabel: Callable[[dict], dict] | None = None,
    dims: Mapping[str, list] | None = None,
    coords: Mapping[str, list] | None = None,
    site: str = "obs",
    **model_kwargs,
) -> az.InferenceData:
    """InferenceData with posterior, log_likelihood and observed_data for an MCMC or a VI fit.

    Dims are named by ``inference_dims``' rule: "point", "coord" (lon, lat), "component",
    "class"; the log-likelihood's dim is "point".

    Parameters
    ----------
    fit : pyro.infer.MCMC or None
        An MCMC run; for a VI fit pass None and the guide's ``draws`` (from
        ``gdl_pyro.infer.guide_draws`` or ``sample_guide``).
    model : callable
        The model form whose ``site`` gives the log-likelihood (no discrete latents).
    *args
        The model's data, e.g. the training points ``x``.
    draws : dict of str to torch.Tensor, optional
        A VI fit's draws, each with a leading draw dimension.
    relabel : callable, optional
        Applied to an MCMC run's draws (chain and draw dims) before anything else.
    dims, coords : mapping, optional
        Replace the rule's dims of the variables named, and the rule's coords of the dims named.
    site : str
        The observed site.
    **model_kwargs
        The model's keywords; ``num_components`` and ``num_classes`` also name dims.

    Returns
    -------
    az.InferenceData
        Groups posterior, log_likelihood and observed_data (and sample_stats for MCMC).
    """
    if isinstance(fit, MCMC):
        grouped = {k: v.cpu() for k, v in fit.get_samples(group_by_chain=True).items()}
        if relabel is not None:  # e.g. a mixture's components in one order in every chain
            grouped = relabel(grouped)
    elif draws is None:
        raise ValueError(
            "draws is required for a VI fit (pass fit=None and draws from guide_draws)"
        )
    else:  # one chain
        grouped = {name: value.cpu().unsqueeze(0) for name, value in draws.items()}
    chains, per_chain = next(iter(grouped.values())).shape[:2]
    flat = {
        name: value.reshape(chains * per_chain, *value.shape[2:]) for name, value in grouped.items()
    }
    loglik, observed = _log_likelihood(model, flat, args, model_kwargs, site)
    shapes = {name: tuple(value.shape[2:]) for name, value in grouped.items()}
    named, named_coords = inference_dims(
        shapes,
        (site, tuple(observed.shape)),
        num_components=model_kwargs.get("num_components"),
        num_classes=model_kwargs.get("num_classes"),
    )
    named.update(dims or {})
    named_coords.update(coords or {})
    posterior = {name: value.numpy() for name, value in grouped.items()}
    if isinstance(fit, MCMC):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            idata = az.from_pyro(fit, log_likelihood=False, dims=named, coords=named_coords)
        if relabel is not None:
            idata.posterior = az.from_dict(
                posterior=posterior, dims=named, coords=named_coords
            ).posterior
    else:
        idata = az.from_dict(
            posterior=posterior,
            observed_data={site: observed.numpy()},
            dims=named,
            coords=named_coords,
        )
    idata.add_groups(
        log_likelihood={site: loglik.reshape(chains, per_chain, -1).numpy()},
        dims={site: ["point"]},
        coords={"point": named_coords["point"]},
    )
    return idata


def _log_likelihood(model, flat: dict, args, kwargs, site: str):
    """(S, N) log-likelihood of each point under each draw, and the observed site's value."""
    loglik = pointwise_log_likelihood(model, flat, *args, site=site, **kwargs).cpu()
    one = {name: value[0] for name, value in flat.items()}
    with torch.no_grad():
        trace = poutine.trace(poutine.condition(model, data=one)).get_trace(*args, **kwargs)
    return loglik, trace.nodes[site]["value"].detach().cpu()
