"""Reference solutions of s05's exercises."""

import pyro
import pyro.distributions as dist
import torch

from gdl_pyro.distributions import UniformBox


def fixed_mixture_model(x=None, *, weights, locs, scales, num_data=None):
    """s05.1: z per point inside the plate, summed out by enumeration; the point given z."""
    num_data = len(x) if x is not None else num_data
    with pyro.plate("data", num_data):
        z = pyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        return pyro.sample("obs", dist.Normal(locs[z], scales[z]).to_event(1), obs=x)


def fit_boxes(x, *, cell=10.0, pseudo_count=0.5):
    """s05.2: a box per map cell, weighted by its share of the points plus a pseudo-count."""
    lon = torch.arange(-180.0, 180.0, cell)
    lat = torch.arange(-90.0, 90.0, cell)
    low = torch.cartesian_prod(lon, lat)  # (K, 2) bottom-left corners
    column = ((x[:, 0] + 180) // cell).clamp(0, len(lon) - 1)
    row = ((x[:, 1] + 90) // cell).clamp(0, len(lat) - 1)
    counts = torch.bincount((column * len(lat) + row).long(), minlength=len(low))
    weights = (counts + pseudo_count) / (len(x) + pseudo_count * len(low))
    return dist.MixtureSameFamily(dist.Categorical(weights), UniformBox(low, low + cell))


def responsibilities(x, weights, locs, scales):
    """s05.3: Bayes' rule in logs, log w_k + log N(x | locs_k, scales_k), softmax over k."""
    components = dist.Normal(locs, scales).to_event(1)
    return torch.softmax(weights.log() + components.log_prob(x.unsqueeze(-2)), dim=-1)
