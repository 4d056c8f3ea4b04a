r"""A normalizing flow on the map: the strongest explicit-density model of the chapter.

.. math:: u \sim \mathcal N(0, I_2), \qquad x = D \, g_L \circ \dots \circ g_1(u), \qquad
          \log p(x) = \log \mathcal N(u) - \sum_l \log |\det J_{g_l}| - \log |\det D|

Each g_l is a rational-quadratic spline coupling layer (Durkan et al., 2019) from
``pyro.distributions.transforms``, with the two coordinates swapped between layers; D scales map
units to degrees (180, 90). The flow has no latent variable to infer: it is fitted by maximum
likelihood, SVI with an empty guide on the Pyro model below.

References
----------
Durkan, C., Bekasov, A., Murray, I. and Papamakarios, G. (2019). Neural spline flows. NeurIPS.
"""

import pyro
import pyro.distributions as dist
import pyro.distributions.transforms as T
import torch
from torch import nn

from gdl_pyro._validation import as_count, as_points
from gdl_pyro.infer import SVIResult, fit_svi
from gdl_pyro.models.gaussian import HALF_EXTENT

__all__ = ["Flow", "fit", "model"]


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

    def __init__(self, num_layers: int = 8, count_bins: int = 16, hidden_dim: int = 64):
        super().__init__()
        num_layers = as_count(num_layers, "num_layers", minimum=1)
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

    def transforms(self) -> list:
        """The bijections from the base to the map, in order of application."""
        steps = []
        for layer in self.layers:
            steps += [layer, T.Permute(self.swap)]
        return [*steps, T.AffineTransform(torch.zeros(2), HALF_EXTENT, event_dim=1)]

    def distribution(self) -> dist.TransformedDistribution:
        """p_model(x) in degrees: a Pyro distribution with sample and log_prob."""
        base = dist.Normal(torch.zeros(2), torch.ones(2)).to_event(1)
        return dist.TransformedDistribution(base, self.transforms())

    def log_prob(self, points) -> torch.Tensor:
        with torch.no_grad():
            return self.distribution().log_prob(as_points(points))

    def sample(self, num_samples: int) -> torch.Tensor:
        with torch.no_grad():
            return self.distribution().sample((as_count(num_samples, "num_samples"),))


def model(x=None, *, flow: Flow, num_data=None, batch_size=None):
    """The flow as a Pyro model: its modules registered with pyro.module, obs ~ the flow."""
    pyro.module("flow", flow)
    num_data = x.shape[0] if x is not None else as_count(num_data, "num_data", minimum=1)
    with pyro.plate("data", num_data, subsample_size=batch_size) as index:
        return pyro.sample("obs", flow.distribution(), obs=None if x is None else x[index])


def fit(
    x,
    flow: Flow | None = None,
    *,
    num_steps: int = 2000,
    batch_size: int = 2048,
    lr: float = 5e-3,
    lr_decay: float = 0.1,
    quiet: bool = False,
) -> tuple[Flow, SVIResult]:
    """Maximum likelihood by SVI with an empty guide, on minibatches; losses are NLL per point."""
    x = as_points(x)
    flow = flow or Flow()
    batch_size = min(as_count(batch_size, "batch_size", minimum=1), x.shape[0])

    def scaled_model(x):
        with pyro.poutine.scale(scale=1.0 / x.shape[0]):
            model(x, flow=flow, batch_size=batch_size)

    def empty_guide(x):
        with pyro.plate("data", x.shape[0], subsample_size=batch_size):
            pass

    optim = pyro.optim.ClippedAdam({"lr": lr, "clip_norm": 5.0, "lrd": lr_decay ** (1 / num_steps)})
    result = fit_svi(
        scaled_model, empty_guide, x, num_steps=num_steps, optim=optim, quiet=quiet, desc="flow"
    )
    return flow, result
