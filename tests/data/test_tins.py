"""The tin generator: labels match the pixels, shapes and ranges hold, seeds reproduce."""

import pytest
import torch

from gdl_pyro.data.tins import BODY_DARK, make_tins, measure_tins, render_tins

# Pixels are sampled at their centres, so a measured extent is within one pixel of the label,
# plus a little where the lid's ellipse tapers to a point between two pixel centres: 1.25 pixels.
MEASURE_TOL = 1.25 / 32


def test_labels_match_the_pixels():
    images, labels = make_tins(2000, seed=0)
    measured = measure_tins(images)
    assert (measured - labels).abs().max().item() <= MEASURE_TOL
    # And no bias: the mean error is a small fraction of a pixel.
    assert (measured - labels).mean(0).abs().max().item() < 0.25 / 32


def test_shapes_ranges_and_background():
    images, labels = make_tins(50, size=24, height_range=(0.4, 0.6), width_range=(0.5, 0.7), seed=1)
    assert images.shape == (50, 24, 24) and labels.shape == (50, 2)
    assert images.min() >= 0 and images.max() <= 1
    assert ((labels[:, 0] >= 0.4) & (labels[:, 0] <= 0.6)).all()
    assert ((labels[:, 1] >= 0.5) & (labels[:, 1] <= 0.7)).all()
    assert (images[:, 0, :] == 0).all() and (images[:, :, 0] == 0).all()  # black border


def test_tin_is_a_shaded_cylinder_centred_with_a_bright_lid():
    image = render_tins(torch.tensor([0.8]), torch.tensor([0.6]))[0]
    middle_row = image[16]
    assert torch.equal(middle_row, middle_row.flip(0))  # centred, symmetric
    body = middle_row[middle_row > 0]
    assert body.max() > body[0] + 0.2  # brighter in the middle than at the sides
    assert body.min() >= BODY_DARK - 1e-6
    assert image.max() == 1.0  # the lid
    assert image[:, 16].argmax() < 16  # ... is on top


def test_taller_tins_are_taller_in_pixels():
    images = render_tins(torch.linspace(0.4, 0.9, 6), torch.full((6,), 0.5))
    measured = measure_tins(images)
    assert (measured[1:, 0] > measured[:-1, 0]).all()
    assert (measured[:, 1] == measured[0, 1]).all()  # width held


def test_factor_distribution_is_beta_on_the_range():
    _, labels = make_tins(100_000, height_range=(0.4, 0.8), width_range=(0.3, 0.5), seed=5)
    u = (labels - torch.tensor([0.4, 0.3])) / torch.tensor([0.4, 0.2])
    assert torch.allclose(u.mean(0), torch.tensor([0.5, 0.5]), atol=0.005)
    assert torch.allclose(u.var(0), torch.tensor([1 / 20, 1 / 20]), atol=0.002)  # Beta(2, 2)
    _, labels = make_tins(100_000, concentration=1, seed=5)
    u = (labels[:, 0] - 0.35) / 0.55
    assert u.var().item() == pytest.approx(1 / 12, abs=0.002)  # uniform
    assert torch.corrcoef(labels.T)[0, 1].abs().item() < 0.02  # independent factors


def test_deterministic_under_a_seed():
    first = make_tins(10, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, make_tins(10, seed=3), strict=True))
    assert not torch.equal(first[1], make_tins(10, seed=4)[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_images": -1}, "num_images"),
        ({"num_images": 5, "size": 4}, "size"),
        ({"num_images": 5, "height_range": (0.6, 0.4)}, "height_range"),
        ({"num_images": 5, "width_range": (0.0, 0.5)}, "width_range"),
        ({"num_images": 5, "width_range": (0.5, 1.5)}, "width_range"),
        ({"num_images": 5, "concentration": 0}, "concentration"),
        ({"num_images": 5, "concentration": 1.5}, "concentration"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_tins(**kwargs)
    with pytest.raises(ValueError, match="images"):
        measure_tins(torch.zeros(3, 32, 16))
