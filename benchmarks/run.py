"""Benchmarks for `make bench`: prints numbers, asserts nothing (speed is not a test)."""

import time

import density_networks
import mixture_svi
import pyro
import time_to_solution
import torch
import vae_loop

from gdl_pyro.data import world
from gdl_pyro.data.tins import make_tins
from gdl_pyro.distributions import UniformBox
from gdl_pyro.models import box, vae


def best_of(repeats: int, fn) -> float:
    """The fastest of a few runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, count: int, seconds: float, unit: str) -> None:
    """One aligned line of output."""
    print(f"{label:<28} {count:>9,}  {seconds * 1e3:9.1f} ms  {count / seconds:14,.0f} {unit}/s")


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, pyro {pyro.__version__}, 1 thread; best of 5")
    n = 1_000_000
    seconds = best_of(5, lambda: world.sample_land(n, seed=0))
    row("sample_land", n, seconds, "points")
    x = world.sample_land(n, seed=0)
    seconds = best_of(5, lambda: world.is_land(x))
    row("is_land", n, seconds, "points")
    p_data = world.LandUniform()
    seconds = best_of(5, lambda: p_data.log_prob(x))
    row("LandUniform.log_prob", n, seconds, "points")
    p_model = UniformBox(*box.mle(x))
    seconds = best_of(5, lambda: p_model.sample((n,)))
    row("UniformBox.sample", n, seconds, "points")
    data = world.sample_land(1000, seed=0)
    # The first optimiser of a process imports torch._dynamo (about 1.4 s, once): not a step.
    box.fit(data, num_steps=1, quiet=True, seed=0)
    fitted = box.fit(data, num_steps=500, quiet=True, seed=0)
    row("box.fit (SVI steps, N=1000)", 500, fitted.seconds, "steps")
    for antialias in (1, 4):
        seconds = best_of(3, lambda a=antialias: make_tins(10_000, antialias=a, seed=0))
        row(f"make_tins (antialias={antialias})", 10_000, seconds, "images")
    images, _ = make_tins(2000, seed=0)
    # s07's default size and batch.
    fitted = vae.fit(
        images.reshape(2000, -1), hidden_dim=256, num_steps=200, batch_size=128, quiet=True, seed=0
    )
    row("VAE fit (SVI steps, B=128)", 200, fitted.seconds, "steps")
    mixture_svi.main()
    mixture_svi.main(num_data=5000, k=30)  # s05's largest fit
    density_networks.main()
    vae_loop.main()
    time_to_solution.main()


if __name__ == "__main__":
    main()
