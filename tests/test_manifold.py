"""Figure 1-9: the tins' principal components, and both panels drawn with their labels."""

import pytest
import torch

from gdl_pyro.data.tins import make_tins
from gdl_pyro.manifold import pixel_pca, plot_manifold

# Height and width bend the tins' sheet through many pixel directions, but its first three
# principal components still hold most of the pixel variance: 0.744 on 2,000 tins of 32 x 32
# (0.39, 0.23 and 0.12), 0.74 on the 300 below.
MOST_OF_THE_VARIANCE = 0.5


def test_three_components_explain_most_of_the_tins_pixel_variance():
    images, _ = make_tins(300, size=32, seed=0)
    pca = pixel_pca(images)
    assert pca.scores.shape == (300, 3)
    assert pca.explained.sum() > MOST_OF_THE_VARIANCE
    assert (pca.explained[:-1] >= pca.explained[1:]).all()  # in decreasing order
    # The scores are the centred pixels' coordinates: their variances are the components'.
    pixels = images.reshape(300, -1).double()
    total = (pixels - pixels.mean(0)).pow(2).sum()
    explained = pca.scores.double().pow(2).sum(0) / total
    assert torch.allclose(explained, pca.explained.double(), atol=1e-5)


def test_figure_draws_pixel_space_beside_the_latent_space():
    images, labels = make_tins(100, size=16, seed=0)
    pca = pixel_pca(images)
    latent = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    fig = plot_manifold(pca.scores, latent, labels, explained=pca.explained, title="Figure 1-9")
    assert fig._suptitle.get_text() == "Figure 1-9"
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    pixel_panels = [ax for ax in panels if ax.name == "3d"]
    latent_panels = [ax for ax in panels if ax.name != "3d"]
    assert len(pixel_panels) == len(latent_panels) == 2  # one row per factor
    for ax, name in zip(pixel_panels, ["height", "width"], strict=True):
        assert ax.get_xlabel().startswith("PC1 (") and ax.get_zlabel().startswith("PC3 (")
        assert name in ax.get_title() and len(ax.collections[0].get_offsets()) == 100
    for ax, name in zip(latent_panels, ["height", "width"], strict=True):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("z1", "z2") and name in ax.get_title()
        assert len(ax.collections[0].get_offsets()) == 100
    colorbars = [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert colorbars == ["true height", "true width"]


def test_bad_shapes_are_refused():
    images, labels = make_tins(10, size=16, seed=0)
    with pytest.raises(ValueError, match="num_components"):
        pixel_pca(images, num_components=11)
    scores = pixel_pca(images).scores
    with pytest.raises(ValueError, match="latent_points"):
        plot_manifold(scores, torch.zeros(10, 3), labels)
    with pytest.raises(ValueError, match="factor_names"):
        plot_manifold(scores, torch.zeros(10, 2), labels, factor_names=["height"])
