"""Fitting a network's density on the map by noise-regularised maximum likelihood (private).

The flow and the autoregressive model share it: the fit interface's checks, the network built
under the fit's seed, and SVI with an empty guide on freshly jittered minibatches.
"""

from collections.abc import Callable

from torch import nn

from gdl_pyro._validation import as_count
from gdl_pyro.data.world import as_noise, jitter
from gdl_pyro.distributions import in_sample_space
from gdl_pyro.fitting import preamble
from gdl_pyro.infer import SVIResult, fit_mle_minibatch


def fit_network(
    make_module: Callable[[], nn.Module],
    model: Callable,
    x,
    *,
    seed,
    quiet: bool,
    device,
    noise: float,
    num_steps: int,
    batch_size: int,
    lr: float,
    desc: str,
) -> tuple[nn.Module, SVIResult]:
    """Build ``make_module()`` under the fit's seed and fit ``model(x, module, batch_size)``."""
    num_steps = as_count(num_steps, "num_steps", minimum=1)
    noise = as_noise(noise)
    with preamble(x, seed=seed, device=device) as setup:
        if not in_sample_space(setup.x).all():  # these densities live on the map
            raise ValueError("x must lie on the map [-180, 180] x [-90, 90] (longitude, latitude)")
        batch_size = min(as_count(batch_size, "batch_size", minimum=1), setup.x.shape[0])
        module = make_module().to(setup.device)

        def noisy_model(x, batch_size):
            model(jitter(x, noise), module, batch_size)

        result = fit_mle_minibatch(
            noisy_model,
            setup.x,
            batch_size=batch_size,
            num_steps=num_steps,
            lr=lr,
            seed=setup.seed,
            quiet=quiet,
            desc=desc,
        )
    return module, result
