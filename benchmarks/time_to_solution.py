"""Time to solution: the mixture by VI (Pyro) against scikit-learn's EM at the same K.

EM is what a user would pick for a maximum-likelihood mixture. The question is how long the
Pyro fit takes to reach EM's held-out NLL within 0.01 nats, if it does: VI fits with more and
more steps (each its own cosine schedule) are scored on the same held-out points, and the first
that reaches the target is reported with its wall time. EM fits full covariances; the Pyro
mixture's components are axis-aligned, so it may settle above EM's NLL, and then the table
says so.
"""

import time

import torch

from gdl_pyro.data import world
from gdl_pyro.models import mixture

TOLERANCE = 0.01  # nats per point


def heldout_nll(fitted, x_test) -> float:
    return -fitted.log_prob(x_test).mean().item()


def main(num_data: int = 3000, num_heldout: int = 10_000, k: int = 30) -> None:
    x = world.sample_land(num_data, seed=0)
    x_test = world.sample_land(num_heldout, seed=1)
    start = time.perf_counter()
    em = mixture.fit_em(x, num_components=k, seed=0)
    em_seconds = time.perf_counter() - start
    target = heldout_nll(em, x_test) + TOLERANCE
    print(f"time to solution, mixture K={k}, N={num_data:,}, held-out {num_heldout:,}:")
    label = "scikit-learn EM (full covariances)"
    print(f"  {label:<38}{em_seconds:7.2f} s  NLL {target - TOLERANCE:.4f}")
    reached = None
    for steps in (100, 200, 400, 750, 1500):
        start = time.perf_counter()
        vi = mixture.fit(x, num_components=k, num_steps=steps, num_draws=100, quiet=True, seed=0)
        seconds = time.perf_counter() - start
        nll = heldout_nll(vi, x_test)
        print(f"  {f'Pyro VI, {steps} steps':<38}{seconds:7.2f} s  NLL {nll:.4f}")
        if nll <= target:
            reached = (steps, seconds)
            break
    if reached:
        steps, seconds = reached
        ratio = seconds / em_seconds
        print(f"  VI reached EM's NLL + {TOLERANCE} in {seconds:.2f} s ({ratio:.0f}x EM's time)")
    else:
        print(f"  VI did not reach EM's NLL + {TOLERANCE} within 1,500 steps")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
