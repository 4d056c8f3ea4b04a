"""The flow and the autoregressive model: a Pyro SVI step against a plain-PyTorch step.

Both loops minimise the same objective on the same network: the mean NLL of a minibatch of
1024 jittered points, with Adam on a cosine schedule and gradients clipped. Pyro's loop is the
library's own (``fit`` with its empty guide and plate subsampling); the PyTorch loop calls the
network's ``log_prob`` directly. The ratio of steps per second is Pyro's per-step overhead.
"""

import time

import torch

from gdl_pyro.data import world
from gdl_pyro.models import autoregressive, flow

NUM_STEPS, BATCH = 200, 1024


def torch_seconds(module, log_prob, x, noise: float) -> float:
    """NUM_STEPS of the same objective in plain PyTorch, in seconds."""
    optim = torch.optim.Adam(module.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, NUM_STEPS)
    start = time.perf_counter()
    for _ in range(NUM_STEPS):
        batch = world.jitter(x[torch.randint(len(x), (BATCH,))], noise)
        loss = -log_prob(batch).mean()
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
        optim.step()
        schedule.step()
    return time.perf_counter() - start


def main() -> None:
    x = world.sample_land(20_000, seed=0)
    print(f"\nDensity networks on the map, {NUM_STEPS} steps of {BATCH} points (steps per second)")
    print(f"{'model':<18}{'Pyro fit':>10}{'PyTorch':>10}{'ratio':>8}")
    cases = [
        ("flow", flow.fit, lambda: flow.Flow(), lambda m: m.distribution().log_prob, 0.5),
        (
            "autoregressive",
            autoregressive.fit,
            lambda: autoregressive.Autoregressive(),
            lambda m: m.distribution().log_prob,
            0.6,
        ),
    ]
    for name, fit, make, log_prob, noise in cases:
        torch.manual_seed(0)
        pyro_fit = fit(x, num_steps=NUM_STEPS, quiet=True, seed=0, noise=noise)
        module = make()
        plain = torch_seconds(module, log_prob(module), x, noise)
        pyro_rate, torch_rate = NUM_STEPS / pyro_fit.seconds, NUM_STEPS / plain
        print(f"{name:<18}{pyro_rate:10.1f}{torch_rate:10.1f}{torch_rate / pyro_rate:8.2f}x")


if __name__ == "__main__":
    main()
