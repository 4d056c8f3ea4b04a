"""The book's Figure 1-9: images lie on a curved sheet in pixel space, flat in a latent space.

A tin image is a point in 1024-D pixel space, but tins vary in only two ways (height and width),
so all of them lie on a 2-D surface there. The surface is curved: a tin twice as wide is not the
average of two tins, so the sheet bends through many pixel directions. ``pixel_pca`` projects
the images onto their first principal components, the 3-D view of pixel space that keeps most
of the spread; ``plot_manifold`` draws that view beside a model's 2-D latent space, where the
same images lie on a flat plane, coloured by each factor.

(Beside ``plots``, not in it, as one figure with its own projection: ``plots`` is long enough.)
"""

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gdl_pyro.plots import _numpy

__all__ = ["PixelPCA", "pixel_pca", "plot_manifold"]


@dataclass
class PixelPCA:
    """Images projected onto their leading principal components.

    ``scores`` (N, k) are the coordinates along the components, ``explained`` (k,) the share of
    the total pixel variance that each component explains (their sum: the share of the view).
    """

    scores: torch.Tensor
    explained: torch.Tensor


def pixel_pca(images, num_components: int = 3) -> PixelPCA:
    """Principal components of images, by the SVD of the centred pixels.

    Parameters
    ----------
    images : torch.Tensor of shape (N, ...)
        N images; each is flattened to one row of pixels.
    num_components : int
        How many leading components to keep (3 for a 3-D view), at most min(N, pixels).

    Returns
    -------
    PixelPCA
        The scores (N, num_components) and each component's share of the pixel variance.
    """
    pixels = torch.as_tensor(images).reshape(len(images), -1).double()
    if not 1 <= num_components <= min(pixels.shape):
        raise ValueError(
            f"num_components must be in 1..{min(pixels.shape)} for {tuple(pixels.shape)} pixels; "
            f"got {num_components}"
        )
    centred = pixels - pixels.mean(0)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    variance = s**2
    scores = u[:, :num_components] * s[:num_components]
    # SVD fixes each component only up to its sign: make the largest score of each positive, so
    # the picture does not flip between runs or platforms.
    signs = torch.sign(scores.gather(0, scores.abs().argmax(0, keepdim=True)))
    return PixelPCA(
        scores=(scores * signs).to(torch.get_default_dtype()),
        explained=(variance[:num_components] / variance.sum()).to(torch.get_default_dtype()),
    )


def plot_manifold(
    pixel_points,
    latent_points,
    factors,
    *,
    factor_names: Sequence[str] = ("height", "width"),
    explained=None,
    title: str | None = None,
    view: tuple[float, float] = (20, -60),
) -> Figure:
    """Pixel space in 3-D beside a 2-D latent space, one row per factor that colours the points.

    Parameters
    ----------
    pixel_points : array-like of shape (N, 3)
        Each image's coordinates in a 3-D view of pixel space (e.g. ``pixel_pca(x).scores``).
    latent_points : array-like of shape (N, 2)
        The same images' latent points (e.g. a VAE's latent means).
    factors : array-like of shape (N, F)
        The true factors of each image, one colour scale each (one row of panels each).
    factor_names : sequence of str
        The factors' names, for the colour bars and titles.
    explained : array-like of shape (3,), optional
        Each principal component's share of the pixel variance, shown on its axis.
    title : str, optional
        The figure's caption.
    view : (float, float)
        Elevation and azimuth of the 3-D panels, in degrees.
    """
    pixel_points, latent_points = _numpy(pixel_points), _numpy(latent_points)
    factors = _numpy(factors)
    if pixel_points.ndim != 2 or pixel_points.shape[1] != 3:
        raise ValueError(f"pixel_points must have shape (N, 3); got {pixel_points.shape}")
    if latent_points.shape != (len(pixel_points), 2):
        raise ValueError(
            f"latent_points must have shape ({len(pixel_points)}, 2); got {latent_points.shape}"
        )
    if factors.ndim != 2 or len(factors) != len(pixel_points):
        raise ValueError(f"factors must have shape ({len(pixel_points)}, F); got {factors.shape}")
    if len(factor_names) != factors.shape[1]:
        raise ValueError(f"need {factors.shape[1]} factor_names; got {len(factor_names)}")
    axis_labels = [f"PC{i + 1}" for i in range(3)]
    if explained is not None:
        shares = _numpy(explained)
        axis_labels = [
            f"{label} ({share:.0%})" for label, share in zip(axis_labels, shares, strict=True)
        ]
    rows = factors.shape[1]
    fig = plt.figure(figsize=(12, 4.6 * rows), layout="constrained")
    # Constrained layout does not see a 3-D panel's z label: leave a gap for it.
    fig.get_layout_engine().set(wspace=0.12)
    for row, (values, name) in enumerate(zip(factors.T, factor_names, strict=True)):
        colour = {"c": values, "cmap": "viridis", "s": 6}
        pixel_ax = fig.add_subplot(rows, 2, 2 * row + 1, projection="3d")
        pixel_ax.scatter(*pixel_points.T, depthshade=False, **colour)
        pixel_ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], zlabel=axis_labels[2])
        for axis in (pixel_ax.xaxis, pixel_ax.yaxis, pixel_ax.zaxis):
            axis.set_major_locator(MaxNLocator(4))  # the default crowds the foreshortened axes
        pixel_ax.set_title(f"pixel space, first 3 principal components: by {name}")
        pixel_ax.view_init(*view)
        # Shrunk inside its box, so the z label stays clear of the latent panel beside it.
        pixel_ax.set_box_aspect(None, zoom=0.85)
        latent_ax = fig.add_subplot(rows, 2, 2 * row + 2)
        points = latent_ax.scatter(*latent_points.T, **colour)
        latent_ax.set(xlabel="z1", ylabel="z2", title=f"latent space (latent means): by {name}")
        fig.colorbar(points, ax=[pixel_ax, latent_ax], label=f"true {name}", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
