r"""A normalizing flow on the map: the strongest explicit-density model of the chapter.

.. math:: u \sim \mathcal N(0, I_2), \qquad x = D \, g_L \circ \dots \circ g_1(u), \qquad
          \log p(x) = \log \mathcal N(u) - \sum_l \log |\det J_{g_l}| - \log |\det D|

Each g_l is a rational-quadratic spline coupling layer (Durkan et al., 2019) from
``pyro.distributions.transforms``, with the two coordinates swapped between layers; D scales map
units to degrees (180, 90). The flow has no latent variable to infer: it is fitted by maximum
likelihood, SVI with an empty guide on the Pyro model below; ``fit`` returns a ``FlowFit`` with
the interface of every family (``gdl_pyro.fitting``).

References
----------
Durkan, C., Bekasov, A., Murray, I. and Papamakarios, G. (2019). Neural spline flows. NeurIPS.
"""

import itertools

import pyro
import pyro.distributions as dist
import pyro.distributions.transforms as T
import torch
from torch import nn

from gdl_pyro._state import as_device, on_device, seeded
from gdl_pyro._validation import as_count, as_points
from gdl_pyro._validation import num_data as checked_num_data
from gdl_pyro.fitting import PointFit
from gdl_pyro.infer import fit_svi
from gdl_pyro.models.gaussian import HALF_EXTENT

__all__ = ["Flow", "FlowFit", "fit", "model"]

# Each flow's default name, for its pyro.module registration: flow0, flow1, ...
_INSTANCES = itertools.count()


class Flow(nn.Module):
    """A stack of spline coupling layers over the plane; ``distribution()`` is p_model.

    Parameters
    ----------
    num_layers : int
        Coupling layers; the coordinates are swapped between them so that each is transformed.
    count_bins : int
        Spline segments per layer: more bins, sharper coastlines.
    hidden_dim : int
        Width of the conditioner networks.
    """

    def __init__(
        self,
        num_layers: int = 8,
        count_bins: int = 16,
        hidden_dim: int = 64,
        name: str | None = None,
    ):
        super().__init__()
        # Its own name for pyro.module: two flows never share weights, even in one param store.
        self.name = name or f"flow{next(_INSTANCES)}"
        num_layers = as_count(num_layers, "num_layers", minimum=1)
        count_bins = as_count(count_bins, "count_bins", minimum=1)
        hidden_dim = as_count(hidden_dim, "hidden_dim", minimum=1)
        self.layers = nn.ModuleList(
            T.spline_coupling(
                2,
                split_dim=1,
                hidden_dims=[hidden_dim, hidden_dim],
                count_bins=count_bins,
                bound=3.0,
            )
            for _ in range(num_layers)
        )
        self.register_buffer("swap", torch.tensor([1, 0]))
        self.register_buffer("half_extent", HALF_EXTENT.clone())

    def transforms(self) -> list:
        """The bijections from the base to the map, in order of application."""
        steps = []
        for layer in self.layers:
            steps += [layer, T.Permute(self.swap)]
        scale = T.AffineTransform(torch.zeros_like(self.half_extent), self.half_extent, event_dim=1)
        return [*steps, scale]

    def distribution(self) -> dist.TransformedDistribution:
        """p_model(x) in degrees: a Pyro distribution with sample and log_prob."""
        zeros = torch.zeros_like(self.half_extent)
        base = dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)
        return dist.TransformedDistribution(base, self.transforms())

    def log_prob(self, points) -> torch.Tensor:
        with torch.no_grad():
            return self.distribution().log_prob(as_points(points, "points"))

    def sample(self, num_samples: int) -> torch.Tensor:
        with torch.no_grad():
            return self.distribution().sample((as_count(num_samples, "num_samples"),))


class FlowFit(PointFit):
    """A flow fitted by maximum likelihood: ``flow`` is the trained module, frozen, on the CPU."""

    def __init__(self, flow: Flow, losses, seconds):
        self.flow = flow.cpu().requires_grad_(False).eval()
        super().__init__("flow (MLE)", self.flow.distribution, losses, seconds)


def model(x=None, *, flow: Flow, num_data=None, batch_size=None):
    """The flow as a Pyro model: its modules registered with pyro.module, obs ~ the flow.

    Without ``x`` it simulates ``num_data`` points. The module is registered under the flow's
    own ``name`` ("flow3"), so two flows never share weights in the caller's own SVI either.
    """
    num_data = checked_num_data(x, num_data)
    if x is not None:
        x = as_points(x)
    pyro.module(flow.name, flow)
    with pyro.plate("data", num_data, subsample_size=batch_size) as index:
        return pyro.sample("obs", flow.distribution(), obs=None if x is None else x[index])


def fit(
    x,
    *,
    seed: int | None = None,
    quiet: bool = False,
    device=None,
    num_layers: int = 8,
    count_bins: int = 16,
    hidden_dim: int = 64,
    num_steps: int = 2000,
    batch_size: int = 2048,
    lr: float = 5e-3,
    lr_decay: float = 0.1,
) -> FlowFit:
    """Maximum likelihood by SVI with an empty guide, on minibatches: the fit interface.

    Parameters
    ----------
    x : array-like of shape (N, 2)
    seed, quiet, device
        As for every fit (the network's initial weights come from ``seed`` too).
    num_layers, count_bins, hidden_dim : int
        The architecture (see ``Flow``).
    num_steps, batch_size, lr, lr_decay : int, int, float, float
        ClippedAdam steps, points per minibatch, learning rate, and the factor by which the
        learning rate shrinks over the run. Losses are the NLL per point of each minibatch.
    """
    x = as_points(x)
    device = as_device(device, x)
    batch_size = min(as_count(batch_size, "batch_size", minimum=1), x.shape[0])
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1]; got {lr_decay}")
    with seeded(seed, device) as fit_seed:
        flow = Flow(num_layers, count_bins, hidden_dim).to(device)

    def scaled_model(x):
        with pyro.poutine.scale(scale=1.0 / x.shape[0]):
            model(x, flow=flow, batch_size=batch_size)

    def empty_guide(x):
        with pyro.plate("data", x.shape[0], subsample_size=batch_size):
            pass

    optim = pyro.optim.ClippedAdam({"lr": lr, "clip_norm": 5.0, "lrd": lr_decay ** (1 / num_steps)})
    with on_device(device):
        result = fit_svi(
            scaled_model,
            empty_guide,
            x.to(device),
            num_steps=num_steps,
            optim=optim,
            seed=fit_seed,
            quiet=quiet,
            desc="flow",
        )
    return FlowFit(flow, result.losses, result.seconds)
