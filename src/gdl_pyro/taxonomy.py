"""The chapter's taxonomy of generative models (the book's Figure 1-10), on one scale.

Families are sorted by how they treat the density p(x):

- explicit and tractable: autoregressive models and normalizing flows;
- explicit and approximate: VAEs, energy-based models and diffusion models;
- implicit: GANs (they only sample).

``family_table`` scores fits of any family on the same held-out points from p_data, and
``plot_tree``, ``plot_density_maps`` and ``plot_table`` draw the section's figures.
"""

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdl_pyro import plots
from gdl_pyro.data._grid import CELL_DEG
from gdl_pyro.data.world import LandUniform, framework_table, land_mask, sample_land

__all__ = [
    "FAMILIES",
    "ROW_KINDS",
    "TREE",
    "branch_of",
    "family_table",
    "plot_density_maps",
    "plot_table",
    "plot_tree",
]

# Figure 1-10: branch -> sub-branch -> families, in the book's order.
TREE = {
    "explicit density": {
        "tractable": ("autoregressive", "flow"),
        "approximate": ("vae", "energy", "diffusion"),
    },
    "implicit density": {"": ("gan",)},
}
FAMILIES = (*(f for branch in TREE.values() for leaf in branch.values() for f in leaf), "baseline")
# What a table's NLL is: exact, an upper bound (a variational bound), or, for a fit with no
# density at all, the exact NLL of a KDE fitted to its samples: a number about the samples, with
# the KDE's own error in it, not an estimate of the fit's NLL. Rows are ranked within a kind only.
ROW_KINDS = ("exact", "upper_bound", "kde_of_samples")
_TITLES = {
    "autoregressive": "autoregressive",
    "flow": "normalizing flow",
    "vae": "VAE",
    "energy": "energy-based",
    "diffusion": "diffusion",
    "gan": "GAN",
}


def branch_of(family: str) -> str:
    """The leaf of Figure 1-10 a family sits at, or "baseline" for the peers (box, KDE, ...)."""
    return family if family in FAMILIES else "baseline"


def _kl(row: dict, kind: str) -> float | None:
    """KL(p_data || p_model) where the row knows it: the gap of an exact NLL that misses no
    held-out point, infinity when it misses any (density 0 where p_data has mass), else None."""
    if kind != "exact":
        return None
    return math.inf if row["heldout_missed"] else row["gap_nats"]


def family_table(
    fits: Sequence,
    x_test,
    *,
    num_samples: int,
    seed: int | None = None,
    bound_options: Mapping[str, Mapping] | None = None,
    kde_bandwidths=None,
) -> list[dict]:
    """One row per fit: the framework's measures on one scale, each NLL under its kind.

    Every fit says itself how it is scored (``gdl_pyro.fitting``'s protocol): ``nll_kind``
    "exact" by ``log_prob``; "upper_bound" by ``log_prob_lower_bound(x, seed=seed, **options)``;
    "none" (a GAN) by a KDE fitted to ``num_samples`` of its samples (``kde_of_samples``).

    Parameters
    ----------
    fits : sequence of fits
        Fits of ``gdl_pyro.fitting``'s protocol, with distinct names.
    x_test : torch.Tensor of shape (N, 2)
        Held-out points from p_data.
    num_samples : int
        Samples per fit for accuracy, land-mass shares and speed (and for a KDE of samples).
    seed : int, optional
        The seed of every bound and of the samples a KDE is fitted to.
    bound_options : mapping of str to mapping, optional
        Per fit name, options of its ``log_prob_lower_bound`` (e.g. ``num_particles``).
    kde_bandwidths : array-like, optional
        Candidate bandwidths of a KDE of samples (``gdl_pyro.models.kde.fit``).

    Returns
    -------
    list of dict
        Keys ``name``, ``family``, ``branch`` (its leaf of Figure 1-10, or "baseline"), ``nll``,
        ``nll_kind``, ``gap_nats`` (nll minus the entropy of p_data), ``heldout_missed``
        (held-out points given density 0, left out of ``nll``), ``kl_nats`` (KL(p_data ||
        p_model): the gap for an exact NLL that misses no point, infinite when it misses any,
        None where the NLL is not exact), ``kde_bandwidth`` and ``kde_of_p_data_gap`` (for a
        KDE of samples: its bandwidth, and the gap the same procedure reports for p_data's own
        samples, which a perfect model would score: the estimator's own bias; None elsewhere),
        ``accuracy``, ``coverage``, ``land_mass_tv``, ``samples_per_second`` and
        ``fit_seconds``. Exact NLLs come first, best first (those with an infinite KL after the
        rest), then upper bounds, then KDEs of samples: numbers of different kinds are not
        ranked against each other.
    """
    from gdl_pyro.models import kde  # the baseline's module, needed only for a GAN's row

    names = [fitted.name for fitted in fits]
    if len(set(names)) != len(names):
        raise ValueError(f"fits must have distinct names; got {names}")
    bound_options = bound_options or {}
    scores, kinds, bandwidths, baselines = {}, {}, {}, {}
    entropy = LandUniform().entropy().item()
    for fitted in fits:
        if fitted.nll_kind == "none":
            density = kde.fit(fitted.sample(num_samples, seed=seed), bandwidths=kde_bandwidths)
            scores[fitted.name] = density.log_prob(x_test)
            kinds[fitted.name], bandwidths[fitted.name] = "kde_of_samples", density.bandwidth
            # The same procedure on p_data's own samples: what it reports for a perfect model.
            own = kde.fit(sample_land(num_samples, seed=seed), bandwidths=kde_bandwidths)
            baselines[fitted.name] = -own.log_prob(x_test).mean().item() - entropy
        else:
            options = bound_options.get(fitted.name, {})
            scores[fitted.name] = fitted.log_score(x_test, seed=seed, **options)
            kinds[fitted.name] = fitted.nll_kind
        if kinds[fitted.name] not in ROW_KINDS:
            raise ValueError(f"{fitted.name}'s NLL kind {kinds[fitted.name]!r} has no column")
    rows = framework_table(fits, x_test, num_samples=num_samples, log_scores=scores)
    for row, fitted in zip(rows, fits, strict=True):
        row["nll"] = row.pop("heldout_nll")
        row.update(
            family=fitted.family,
            branch=branch_of(fitted.family),
            nll_kind=kinds[fitted.name],
            kl_nats=_kl(row, kinds[fitted.name]),
            kde_bandwidth=bandwidths.get(fitted.name),
            kde_of_p_data_gap=baselines.get(fitted.name),
        )
    # A row that misses held-out points has an infinite KL whatever its gap over the rest (a
    # small box's can even be below 0): it ranks after every exact row that misses none.
    return sorted(
        rows,
        key=lambda row: (
            ROW_KINDS.index(row["nll_kind"]),
            row["kl_nats"] == math.inf,
            row["gap_nats"],
        ),
    )


def plot_tree(samples: Mapping[str, torch.Tensor | None], *, title: str) -> Figure:
    """Figure 1-10 as a tree, each family's samples on a small map at its leaf.

    ``samples`` maps a family (a key of ``TREE``'s leaves) to its points, or to None for a
    family that is not implemented yet: its leaf says so.
    """
    fig = plt.figure(figsize=(13, 5.2))
    leaves = [(b, sub, f) for b, subs in TREE.items() for sub, fs in subs.items() for f in fs]
    width, gap, left = 0.15, 0.012, 0.03
    centres = [left + width / 2 + i * (width + gap) for i in range(len(leaves))]
    # A 2:1 map fills the leaf's width: its height in figure units follows from the figure's.
    leaf_height = width * fig.get_figwidth() / 2 / fig.get_figheight()
    leaf_bottom = 0.04
    leaf_top = leaf_bottom + leaf_height + 0.07  # above the leaf's title
    level = {"root": 0.92, "branch": 0.74, "sub": 0.53, "leaf": leaf_top}

    def node(x, y, text):
        box = {"boxstyle": "round", "facecolor": "white", "edgecolor": "gray"}
        fig.text(x, y, text, ha="center", va="center", fontsize=11, bbox=box)

    def edge(x0, y0, x1, y1):
        fig.add_artist(Line2D([x0, x1], [y0, y1], color="gray", lw=1, transform=fig.transFigure))

    sub_x = {}
    for (branch, sub, _), x in zip(leaves, centres, strict=True):
        sub_x.setdefault((branch, sub), []).append(x)
    branch_x = {}
    for (branch, _), xs in sub_x.items():
        branch_x.setdefault(branch, []).append(float(np.mean(xs)))
    root_x = 0.5
    node(root_x, level["root"], "generative models")
    for branch, xs in branch_x.items():
        bx = float(np.mean(xs))
        edge(root_x, level["root"] - 0.035, bx, level["branch"] + 0.035)
        node(bx, level["branch"], branch)
        for (b, sub), leaf_xs in sub_x.items():
            if b != branch:
                continue
            sx, y = float(np.mean(leaf_xs)), level["branch"]
            if sub:  # an implicit-density leaf hangs from its branch directly
                y = level["sub"]
                edge(bx, level["branch"] - 0.035, sx, y + 0.035)
                node(sx, y, sub)
            for x in leaf_xs:
                edge(sx, y - 0.035, x, level["leaf"])
    for (_, _, family), x in zip(leaves, centres, strict=True):
        ax = fig.add_axes((x - width / 2, leaf_bottom, width, leaf_height))
        points = samples.get(family)
        plots.map_axes(ax, muted=points is None)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_xlabel(""), ax.set_ylabel("")
        if points is None:
            ax.text(0, 0, "not implemented\nyet", ha="center", va="center", fontsize=10)
            ax.set_title(_TITLES[family], fontsize=11, color="gray")
        else:
            plots.add_points(ax, points, color=plots.MODEL_COLOR, size=1)
            ax.set_title(_TITLES[family], fontsize=11)
    fig.suptitle(title, y=0.995, fontsize=12)
    return fig


def plot_density_maps(log_densities: Mapping[str, torch.Tensor], *, title: str) -> Figure:
    """Each model's density on the map, on one colour scale relative to p_data's density.

    ``log_densities`` maps a name to log p_model on a north-up grid (rows from 90 to -90,
    columns from -180 to 180), such as ``log_prob`` on 1-degree cell centres. Colour is
    log10 of p_model / p_data on land (0: exactly p_data's density), from -3 to +1, and black
    below (density 0 included); the coastline is drawn over it.
    """
    names = list(log_densities)
    columns = min(2 if len(names) <= 4 else 3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(5.2 * columns, 2.9 * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    log_p_data = -LandUniform().entropy().item()
    mask = land_mask().numpy().astype(float)  # north-up, quarter-degree cells
    lon = -180 + CELL_DEG * (np.arange(mask.shape[1]) + 0.5)
    lat = 90 - CELL_DEG * (np.arange(mask.shape[0]) + 0.5)
    image = None
    for ax, name in zip(axes.flat, names, strict=False):
        # Density 0 (log -inf) is drawn in the colour below the scale, not left blank.
        ratio = ((log_densities[name] - log_p_data) / math.log(10)).clamp(min=-10.0)
        image = ax.imshow(
            ratio.numpy(),
            extent=(-180, 180, -90, 90),
            origin="upper",
            cmap=plt.get_cmap("viridis").with_extremes(under="black"),
            vmin=-3,
            vmax=1,
            interpolation="nearest",
        )
        ax.contour(lon, lat, mask, levels=[0.5], colors="white", linewidths=0.4)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(-180, 181, 90)), ax.set_yticks(range(-90, 91, 45))
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    fig.colorbar(
        image, ax=axes, shrink=0.8, extend="min", label="log10 p_model / p_data (black: below -3)"
    )
    fig.suptitle(title)
    return fig


def plot_table(rows: Sequence[Mapping], columns: Sequence[str], *, title: str) -> Figure:
    """The table as a figure: one row per fit, numbers to three decimals (large ones whole)."""

    def cell(value):
        if value is None:  # a number the row does not have, e.g. the KL of a bound
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 1.0, 0.36 * len(rows) + 0.9))
    ax.axis("off")
    table = ax.table(
        cellText=[[cell(row[c]) for c in columns] for row in rows],
        colLabels=[c.replace("_", " ") for c in columns],
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.auto_set_column_width(list(range(len(columns))))
    table.scale(1, 1.35)
    ax.set_title(title, fontsize=11)
    return fig
