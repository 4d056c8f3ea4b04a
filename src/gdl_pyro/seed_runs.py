"""Verdicts over training seeds: s06's and s09's contenders, trained again on seeds 0 to 4.

One training seed decides little: a second seed moves both fits of a comparison, and by as much
as the difference itself (the held-out standard error of one run covers the held-out points'
noise only). ``make seeds`` runs ``python -m gdl_pyro.seed_runs``: for each section and each
seed it draws the training and held-out points as the section does (``pyro.set_rng_seed(seed)``,
then ``world.sample_land`` twice), fits the section's contenders with the section's settings,
and stores every fit's held-out gap, fit time and paired difference to the KDE peer in
``RUNS_FILE``. Seed 0 is the section's own default run.

The sections read the stored runs with ``verdict(section)``, which computes the statistics
(``compare.seed_verdict``) from them every time: nothing in the text is typed in.

scikit-learn's ``KernelDensity`` (bandwidth by ``GridSearchCV`` on the same grid) runs on the
same points as the yardstick a user would pick; it knows nothing of the map's edges.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyro
import torch

from gdl_pyro._state import seeded
from gdl_pyro.compare import paired_difference, seed_verdict
from gdl_pyro.data import world
from gdl_pyro.models import autoregressive, energy, flow, kde

RUNS_FILE = Path(__file__).parent / "data" / "seed_runs.json"
SEEDS = (0, 1, 2, 3, 4)
PEER = "kde"

# section -> training and held-out sizes, and its contenders: label -> (family's fit, keywords).
# The keywords are the sections' defaults in their fit cells (tests/test_seed_runs.py reads the
# sections and holds the two equal); the peer is the KDE. Each fit also gets seed and quiet.
SECTIONS: dict[str, dict] = {
    "s06": {
        "num_data": 3000,
        "num_heldout": 10_000,
        "fits": {
            "flow": (flow.fit, {"num_layers": 3, "num_steps": 1500, "noise": 2.0}),
            "autoregressive": (
                autoregressive.fit,
                {"num_steps": 1500, "noise": 2.0, "num_frequencies": 4, "num_lat_bins": 180},
            ),
            "energy": (energy.fit, {"num_steps": 2000, "noise": 2.0, "num_frequencies": 8}),
            PEER: (kde.fit, {}),
        },
    },
    "s09": {
        "num_data": 20_000,
        "num_heldout": 20_000,
        "fits": {
            "energy": (energy.fit, {"num_steps": 2000}),
            "autoregressive": (autoregressive.fit, {"num_steps": 4000, "batch_size": 512}),
            "flow": (flow.fit, {"num_steps": 1500}),
            PEER: (kde.fit, {"bandwidths": kde.BANDWIDTHS[kde.BANDWIDTHS < 8].tolist()}),
        },
    },
}


def settings(section: str) -> dict:
    """The section's sizes and each contender's call, as stored beside its runs."""
    spec = SECTIONS[section]
    calls = {
        label: f"{fit.__module__}.{fit.__name__}(x, **{keywords!r})"
        for label, (fit, keywords) in spec["fits"].items()
    }
    return {"num_data": spec["num_data"], "num_heldout": spec["num_heldout"], "fits": calls}


def sklearn_kde(x: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """scikit-learn's KernelDensity, bandwidth by GridSearchCV: (held-out log p, h, seconds)."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KernelDensity

    start = time.perf_counter()
    search = GridSearchCV(
        KernelDensity(rtol=1e-4), {"bandwidth": kde.BANDWIDTHS}, cv=5, n_jobs=-1
    ).fit(x.double().numpy())
    seconds = time.perf_counter() - start
    scores = torch.from_numpy(search.best_estimator_.score_samples(x_test.double().numpy()))
    return scores, float(search.best_params_["bandwidth"]), seconds


def run_seed(section: str, seed: int, quiet: bool = True) -> dict:
    """One seed of one section: every contender's gap and time, and each one's paired
    difference to the peer (positive: the contender is closer to p_data)."""
    spec = SECTIONS[section]
    # The section's own draws (pyro.set_rng_seed(seed), then x and the held-out points), on an
    # RNG of their own: the caller's torch, NumPy and Python states are left as they were.
    with seeded(seed):
        x = world.sample_land(spec["num_data"])
        x_test = world.sample_land(spec["num_heldout"])
    entropy = world.LandUniform().entropy().item()
    scores, fits = {}, {}
    fitters: dict[str, tuple[Callable, dict]] = spec["fits"]
    for label, (fit, keywords) in fitters.items():
        fitted = fit(x, seed=seed, quiet=quiet, **keywords)
        scores[label] = fitted.log_prob(x_test).double()
        fits[label] = {
            "name": fitted.name,
            "gap_nats": -scores[label].mean().item() - entropy,
            "fit_seconds": fitted.seconds,
        }
    sk_scores, bandwidth, seconds = sklearn_kde(x, x_test)
    fits["sklearn"] = {
        "name": f"scikit-learn KernelDensity (h = {bandwidth:g} by GridSearchCV)",
        "gap_nats": -sk_scores.mean().item() - entropy,
        "fit_seconds": seconds,
    }
    versus = {
        label: paired_difference(scores[label], scores[PEER]) for label in fitters if label != PEER
    }
    return {"seed": seed, "fits": fits, "versus_peer": versus}


def load(path: Path = RUNS_FILE) -> dict:
    """The stored runs: ``{"meta": ..., "sections": {section: [run per seed]}}``."""
    if not path.exists():
        raise FileNotFoundError(f"no stored seed runs at {path}: run `make seeds` first")
    return json.loads(path.read_text())


def verdict(section: str, stored: dict | None = None) -> dict:
    """The section's "who wins" over the stored seeds, computed from the runs.

    The contender is the one with the smallest mean gap over seeds, and the claim is against the
    KDE peer: ``compare.seed_verdict`` of its per-seed paired differences (mean difference,
    spread between seeds, mean held-out error, wins, whether the winner changes), plus every
    contender's gap on each seed and their mean fit seconds, scikit-learn's KDE included.
    """
    stored = load() if stored is None else stored
    if section not in stored["sections"]:
        raise ValueError(f"section must be one of {sorted(stored['sections'])}; got {section!r}")
    made_with = stored.get("settings", {}).get(section)
    if section in SECTIONS and made_with != settings(section):
        raise ValueError(
            f"the stored runs of {section} were made with other settings than SECTIONS[{section!r}]"
            f" holds now ({made_with} against {settings(section)}): run `make seeds` again"
        )
    runs = stored["sections"][section]
    labels = list(runs[0]["fits"])
    gaps = {label: [run["fits"][label]["gap_nats"] for run in runs] for label in labels}
    seconds = {label: [run["fits"][label]["fit_seconds"] for run in runs] for label in labels}
    pyro_labels = list(runs[0]["versus_peer"])
    mean_gap = {label: sum(values) / len(values) for label, values in gaps.items()}
    best = min(pyro_labels, key=mean_gap.__getitem__)
    versus = {
        label: seed_verdict([run["versus_peer"][label] for run in runs]) for label in pyro_labels
    }
    return {
        "made": stored["meta"].get("date"),
        "seeds": [run["seed"] for run in runs],
        "contender": best,
        "peer": PEER,
        "names": {label: runs[0]["fits"][label]["name"] for label in labels},
        "gaps_by_seed": gaps,
        "mean_gap": mean_gap,
        "mean_fit_seconds": {label: sum(s) / len(s) for label, s in seconds.items()},
        "versus_peer": versus,
        "beats_peer_every_seed": versus[best]["wins"] == versus[best]["num_seeds"],
    }


def sentence(result: dict) -> str:
    """The verdict in words, from ``verdict``'s numbers."""
    best, peer = result["contender"], result["peer"]
    claim = result["versus_peer"][best]
    seeds = claim["num_seeds"]
    if claim["wins"] == seeds:
        outcome = f"beats the KDE on all {seeds} seeds"
    elif claim["wins"] == 0:
        outcome = f"loses to the KDE on all {seeds} seeds"
    else:
        outcome = (
            f"beats the KDE on {claim['wins']} of {seeds} seeds: the winner changes with the seed"
        )
    others = [label for label in result["versus_peer"] if label != best]
    sklearn = result["mean_gap"]["sklearn"]
    return (
        f"Stored runs (make seeds, {result['made']}, this section's default settings), training "
        f"seeds {result['seeds'][0]}-{result['seeds'][-1]}: of the Pyro contenders ({best}, "
        f"{', '.join(others)}), the best, {result['names'][best]} (mean gap "
        f"{result['mean_gap'][best]:.3f} nats), {outcome}: mean difference "
        f"{claim['mean_diff_nats']:+.3f} nats (standard error of the mean over seeds "
        f"{claim['se_of_mean_nats']:.3f}), spread between seeds (sd) "
        f"{claim['sd_between_seeds_nats']:.3f}, held-out paired error of one seed "
        f"{claim['mean_heldout_se_nats']:.3f}. The KDE's mean gap: "
        f"{result['mean_gap'][peer]:.3f} nats; scikit-learn's KernelDensity on the same points "
        f"(no boundary correction): {sklearn:.3f}. The stored fit times (`mean_fit_seconds`) "
        f"were taken beside other jobs: compare them as ratios; this run's own are in its table."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=sorted(SECTIONS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--out", type=Path, default=RUNS_FILE)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: safe beside other jobs)"
    )
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least 2 seeds to measure their spread")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1; got {args.threads}")
    torch.set_num_threads(args.threads)
    stored = load(args.out) if args.out.exists() else {"sections": {}}
    stored["meta"] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "cores": os.cpu_count(),
        "timing": "fit seconds as measured on this machine, possibly beside other jobs: "
        "compare them in ratios within one run. torch fits on the torch threads above; "
        "scikit-learn's GridSearchCV on every core (n_jobs=-1), as a user would run it",
        "torch": torch.__version__,
        "pyro": pyro.__version__,
    }
    for section in args.sections:
        runs = []
        for seed in args.seeds:
            start = time.perf_counter()
            runs.append(run_seed(section, seed, quiet=args.quiet))
            gaps = ", ".join(
                f"{label} {fit['gap_nats']:.4f}" for label, fit in runs[-1]["fits"].items()
            )
            took = time.perf_counter() - start
            print(f"{section} seed {seed} ({took:.0f} s): {gaps}", flush=True)
        stored["sections"][section] = runs
        stored.setdefault("settings", {})[section] = settings(section)
        args.out.write_text(json.dumps(stored, indent=1) + "\n")
        print(sentence(verdict(section, stored)), flush=True)


if __name__ == "__main__":
    main()
