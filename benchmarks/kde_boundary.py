"""The KDE peer with and without the map's edges, beside scikit-learn's own search.

For each training set: the plain KDE (``boundary="none"``), the map-respecting KDE (wrapped in
longitude, reflected at the poles) and scikit-learn's ``KernelDensity`` with the bandwidth of its
``GridSearchCV`` (the same grid, 5 contiguous folds, rtol = 1e-4: the search this package ran
before). Each row: the chosen bandwidth, the held-out gap (NLL - entropy of p_data =
KL(p_data || p_model)), the mass the density keeps on the map, and the fit's seconds. The gap of
the map KDE minus the plain one is paired over the held-out points (its standard error beside it)
and repeated over training seeds (their spread beside it). Slow (a few minutes): run on its own,
``python benchmarks/kde_boundary.py`` (``--quick`` for a small run).
"""

import argparse
import math

import numpy as np
import torch

from gdl_pyro import seed_runs
from gdl_pyro.data import world
from gdl_pyro.models import kde


def box_mass(centres: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """The mass each N(c, h^2 I) puts on the map [-180, 180] x [-90, 90], in closed form."""
    normal = torch.distributions.Normal(0.0, 1.0)
    high, low = torch.tensor([180.0, 90.0]), torch.tensor([-180.0, -90.0])
    centres = centres.double()
    per_axis = normal.cdf((high - centres) / bandwidth) - normal.cdf((low - centres) / bandwidth)
    return per_axis.prod(-1)


def mass_on_map(fitted) -> float:
    """The KDE's mass on the map: each kernel's (and, for the map, each image's) box mass."""
    density = fitted.distribution()
    return box_mass(density.centres, fitted.bandwidth).sum().item() / len(fitted.points)


def row(label: str, bandwidth: float, gap: float, mass: float, seconds: float) -> None:
    print(f"  {label:<38} h = {bandwidth:6.3f}  gap {gap:7.4f}  mass {mass:.6f}  {seconds:6.1f} s")


def compare(num_data: int, seed: int, x_test: torch.Tensor, entropy: float) -> float:
    """Fit the three KDEs to ``num_data`` points of seed ``seed``; print; return the paired gap."""
    x = world.sample_land(num_data, seed=seed)
    print(f"N = {num_data:,}, seed {seed}")
    scores = {}
    for boundary in ("none", "map"):
        fitted = kde.fit(x, boundary=boundary)
        scores[boundary] = fitted.log_prob(x_test).double()
        gap = -scores[boundary].mean().item() - entropy
        row(fitted.name, fitted.bandwidth, gap, mass_on_map(fitted), fitted.seconds)
    own, bandwidth, seconds = seed_runs.sklearn_kde(x, x_test)
    own = own.numpy()
    mass = box_mass(x, bandwidth).mean().item()
    row("scikit-learn (GridSearchCV)", bandwidth, -own.mean() - entropy, mass, seconds)
    exact = kde.GaussianKDE(x.double(), bandwidth).log_prob(x_test.double())
    print(f"  {'':<38} its gap scored exactly: {-exact.mean().item() - entropy:.4f}")
    difference = scores["map"] - scores["none"]
    error = difference.std().item() / math.sqrt(len(difference))
    print(f"  map - plain gap: {-difference.mean().item():+.4f} +- {error:.4f} (paired SE)")
    return -difference.mean().item()


def main(sizes=(3000, 20000), seeds=(range(5), range(1)), num_test: int = 20_000) -> None:
    """Print the comparison for each size (with its seeds); held-out points from seed 100."""
    torch.set_num_threads(2)
    x_test = world.sample_land(num_test, seed=100)
    entropy = world.LandUniform().entropy().item()
    print(f"held-out: {num_test:,} points (seed 100); entropy of p_data {entropy:.4f} nats")
    for num_data, size_seeds in zip(sizes, seeds, strict=True):
        differences = [compare(num_data, seed, x_test, entropy) for seed in size_seeds]
        if len(differences) > 1:
            print(
                f"N = {num_data:,}: map - plain gap over {len(differences)} seeds: "
                f"mean {np.mean(differences):+.4f}, sd {np.std(differences, ddof=1):.4f}, "
                f"range [{min(differences):+.4f}, {max(differences):+.4f}]"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000, two seeds")
    args = parser.parse_args()
    if args.quick:
        main(sizes=(1000,), seeds=(range(2),), num_test=5000)
    else:
        main()
