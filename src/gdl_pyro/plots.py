"""Figures: functions that take results and return a matplotlib Figure (never plt.show()).

The library never chooses a matplotlib backend: a notebook keeps its inline figures. Figures are
saved and closed, never shown, so a script works with whatever backend matplotlib picks.
"""

from collections.abc import Mapping, Sequence

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gdl_pyro._arviz import az
from gdl_pyro.data.world import land_mask

__all__ = [
    "BOX_COLOR",
    "DATA_COLOR",
    "MODEL_COLOR",
    "add_box",
    "add_points",
    "plot_arviz",
    "plot_heldout",
    "plot_loo",
    "label_points",
    "map_legend",
    "map_axes",
    "plot_image_grid",
    "plot_loglik_surface",
    "plot_loss_trace",
    "plot_world",
    "save",
]

DATA_COLOR = "black"  # samples from p_data, as in the book's figures
MODEL_COLOR = "tab:blue"  # samples from p_model
BOX_COLOR = "tab:orange"  # the box p_model, as in the book's Figure 1-5
LAND_COLOR = "#9ccc8c"
SEA_COLOR = "#e8f1f8"
MUTED_LAND_COLOR = "#dddddd"


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def map_axes(
    ax: Axes | None = None,
    *,
    show_land: bool = True,
    title: str | None = None,
    muted: bool = False,
) -> Axes:
    """Axes over the sample space, longitude across and latitude up, land drawn if asked.

    ``muted=True`` draws grey land on white sea, for points coloured by a categorical colormap
    whose greens and blues would vanish into the default land and sea.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    if show_land:
        palette = ["white", MUTED_LAND_COLOR] if muted else [SEA_COLOR, LAND_COLOR]
        colors = matplotlib.colors.ListedColormap(palette)
        # Row 0 of the mask is the north: origin="upper" keeps the map north-up.
        ax.imshow(
            land_mask().numpy(),
            extent=(-180, 180, -90, 90),
            origin="upper",
            cmap=colors,
            interpolation="nearest",
            zorder=0,
        )
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xticks(range(-180, 181, 60))
    ax.set_yticks(range(-90, 91, 30))
    ax.set_xlabel("longitude (degrees)")
    ax.set_ylabel("latitude (degrees)")
    if title:
        ax.set_title(title)
    return ax


def add_points(
    ax: Axes,
    points,
    *,
    label: str | None = None,
    color: str = DATA_COLOR,
    size: float = 9,
    marker: str = "o",
) -> Axes:
    """Scatter (longitude, latitude) points."""
    points = _numpy(points)
    # Filled markers need no edge; line-only markers (x, +) are nothing but edge.
    line_only = marker in ("x", "+", "1", "2", "3", "4", "|", "_")
    ax.scatter(
        points[:, 0],
        points[:, 1],
        s=size,
        c=color,
        marker=marker,
        label=label,
        linewidths=1.5 if line_only else 0,
        zorder=3,
    )
    return ax


def add_box(
    ax: Axes,
    low,
    high,
    *,
    label: str | None = "p_model (box)",
    color: str = BOX_COLOR,
    filled: bool = True,
) -> Axes:
    """Draw the box [low, high] as a rectangle."""
    low, high = _numpy(low), _numpy(high)
    width, height = high - low
    if filled:
        ax.add_patch(Rectangle(low, width, height, facecolor=color, alpha=0.15, zorder=1))
    ax.add_patch(
        Rectangle(low, width, height, fill=False, edgecolor=color, lw=2, label=label, zorder=2)
    )
    return ax


def label_points(
    ax: Axes, labelled: Mapping[str, Sequence[float]], *, color: str = "crimson"
) -> Axes:
    """Mark and letter a few points, e.g. the framework's A, B and C."""
    for text, (lon, lat) in labelled.items():
        ax.plot(lon, lat, marker="o", ms=9, mfc="none", mec=color, mew=2, zorder=4)
        ax.annotate(
            text,
            (lon, lat),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=14,
            fontweight="bold",
            color=color,
            zorder=4,
        )
    return ax


def plot_world(
    points=None,
    *,
    low=None,
    high=None,
    show_land: bool = True,
    title: str | None = None,
    point_label: str | None = None,
    point_color: str = DATA_COLOR,
) -> Figure:
    """One map with optional points and an optional box; returns the Figure."""
    ax = map_axes(show_land=show_land, title=title)
    if low is not None and high is not None:
        add_box(ax, low, high)
    if points is not None:
        add_points(ax, points, label=point_label, color=point_color)
    if point_label or low is not None:
        map_legend(ax)
    return ax.figure


def map_legend(ax: Axes, *, ncol: int = 4, markerscale: float = 2) -> Axes:
    """A legend under the map, where it hides no land and no points."""
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=ncol,
        fontsize=9,
        markerscale=markerscale,
        frameon=False,
    )
    return ax


def plot_loglik_surface(
    a_values,
    b_values,
    loglik,
    *,
    a_label: str,
    b_label: str,
    best: Sequence[float],
    title: str | None = None,
) -> Figure:
    """Log-likelihood over a grid of two parameters, -inf cells grey, the best point marked.

    ``loglik`` has shape (len(b_values), len(a_values)): rows follow b, columns follow a.
    """
    a_values, b_values, loglik = _numpy(a_values), _numpy(b_values), _numpy(loglik)
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    finite = np.where(np.isfinite(loglik), loglik, np.nan)
    ax.set_facecolor("0.75")  # where the log-likelihood is -inf (likelihood 0)
    mesh = ax.pcolormesh(a_values, b_values, finite, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log-likelihood (nats)")
    ax.plot(*best, marker="*", ms=16, color="red", mec="white", label="maximum likelihood")
    ax.set_xlabel(a_label)
    ax.set_ylabel(b_label)
    ax.legend(loc="upper right", fontsize=9, title="grey: likelihood 0", title_fontsize=9)
    if title:
        ax.set_title(title)
    return fig


def plot_loss_trace(
    losses,
    *,
    ylabel: str = "loss",
    target: float | None = None,
    target_label: str = "closed form",
    title: str | None = None,
    zoom_after: int | None = None,
    smooth: int | None = None,
) -> Figure:
    """A loss trace against step, with an optional horizontal target.

    ``zoom_after`` limits the y-axis to the losses from that step on (the early drop runs off the
    top), so that a slow late descent is not drawn as a flat line under a tall first spike.
    ``smooth`` draws the running mean over that many steps on top of the (faded) per-step losses:
    minibatch losses are noisy, and the trend is what a reader wants to see.
    """
    losses = np.asarray(losses, dtype=float)
    steps = np.arange(1, len(losses) + 1)
    if zoom_after is not None and not 0 <= zoom_after < len(losses):
        raise ValueError(f"zoom_after must be in [0, {len(losses)}); got {zoom_after}")
    if smooth is not None and not 1 <= smooth <= len(losses):
        raise ValueError(f"smooth must be in [1, {len(losses)}]; got {smooth}")
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    if smooth is None:
        ax.plot(steps, losses, label="Pyro fit")
    else:
        ax.plot(steps, losses, color="C0", alpha=0.3, lw=0.8, label="Pyro fit, per step")
        mean = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
        ax.plot(steps[smooth - 1 :], mean, color="C0", label=f"mean of the last {smooth} steps")
    if target is not None:
        ax.axhline(target, color="red", ls="--", label=target_label)
    if zoom_after is not None:
        tail = losses[zoom_after:]
        low, high = tail.min(), tail.max()
        if target is not None:
            low, high = min(low, target), max(high, target)
        pad = 0.05 * (high - low) or 1.0
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_image_grid(
    images, *, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 1.1
) -> Figure:
    """Grayscale images (N, H, W) with values in [0, 1] in a grid, with optional titles."""
    images = _numpy(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ncols * size, nrows * size + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < len(images):
            ax.imshow(images[index], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[index], fontsize=7)
    return fig


def plot_loo(table, reasons: Mapping[str, str], *, title: str) -> Figure:
    """elpd_loo of every fit with its standard error, best at the top; unreliable ones hollow.

    ``table`` has columns ``elpd_loo`` and ``se``, one row a fit; ``reasons`` maps the fits whose
    LOO cannot be trusted to why (written under their name). Nothing is left out, so the figure
    never goes empty when no fit is reliable.
    """
    table = table.sort_values("elpd_loo", ascending=False)
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(table) + 1.6), layout="constrained")
    rows = np.arange(len(table))[::-1]
    for row, (name, entry) in zip(rows, table.iterrows(), strict=True):
        trusted = name not in reasons
        ax.errorbar(
            entry["elpd_loo"],
            row,
            xerr=entry["se"],
            fmt="o",
            color=DATA_COLOR,
            markerfacecolor=DATA_COLOR if trusted else "white",
        )
    labels = [
        name if name not in reasons else f"{name}\n(not ranked: {reasons[name]})"
        for name in table.index
    ]
    ax.set_yticks(rows, labels, fontsize=9)
    ax.set_xlabel("elpd_loo (nats; higher is better)")
    ax.set_title(title, fontsize=11)
    ax.tick_params(axis="x", labelrotation=20)
    ax.margins(x=0.1)
    return fig


def plot_heldout(table, *, title: str, num_leaders: int = 5) -> Figure:
    """Held-out log predictive density of each fit (``compare.compare_heldout``'s table).

    Left: one row a fit, best at the top, the sum over held-out points with its standard error
    and a dotted line at the best; higher is better. Right: the ``num_leaders`` best fits'
    difference from the best (``lpd_diff``) with its paired standard error (``dse``), on a
    scale where they can be told apart: on the left, gaps of a hundred nats between the leaders
    vanish beside gaps of ten thousand to the worst fits.
    """
    height = 0.55 * len(table) + 1.6
    fig, (ax, zoom) = plt.subplots(
        1, 2, figsize=(13, height), layout="constrained", width_ratios=(3, 2)
    )
    rows = np.arange(len(table))[::-1]
    ax.errorbar(table["heldout_lpd"], rows, xerr=table["se"], fmt="o", color=DATA_COLOR)
    ax.axvline(table["heldout_lpd"].iloc[0], color="gray", ls=":", lw=1)
    ax.set_yticks(rows, table.index)
    ax.set_xlabel("sum of held-out log p(x) (nats; higher is better)")
    ax.set_title(title, fontsize=11)
    ax.tick_params(axis="x", labelrotation=20)
    leaders = table.iloc[:num_leaders]
    if "lpd_diff" in leaders:
        lead_rows = np.arange(len(leaders))[::-1]
        zoom.errorbar(
            -leaders["lpd_diff"], lead_rows, xerr=leaders["dse"], fmt="o", color=DATA_COLOR
        )
        zoom.axvline(0, color="gray", ls=":", lw=1)
        zoom.set_yticks(lead_rows, leaders.index)
        zoom.set_xlabel("minus the best (nats), ± paired se")
        zoom.set_title(f"The {len(leaders)} best, told apart", fontsize=11)
        zoom.margins(x=0.15)
    else:
        zoom.set_visible(False)
    return fig


def plot_arviz(function: str, *args, title: str | None = None, **kwargs) -> Figure:
    """Call an ArviZ plot by name (``"plot_compare"``, ``"plot_trace"``...) and return its Figure.

    ArviZ returns axes, not figures; this keeps every figure function in this module alike.
    """
    axes = getattr(az, function)(*args, **kwargs)
    fig = np.ravel(axes)[0].figure
    if title:
        fig.suptitle(title)
    return fig


def save(fig: Figure, path) -> Figure:
    """Write the figure as PNG, close it, and return it: a notebook cell ending here shows it.

    Closing keeps pyplot from showing it a second time (inline backends show open figures).
    """
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig
