"""The tin generator: labels match the pixels, shapes and ranges hold, seeds reproduce; bits per
dimension against closed forms."""

import math

import pytest
import torch

from gdl_pyro.data.tins import BODY_DARK, bits_per_dim, make_tins, measure_tins, render_tins

# How far a measured extent (in pixels) can be from its label, and its mean error, in closed form.
# Hard edges: a pixel counts when the edge passes its centre, so each edge is within half a pixel:
# errors in [-1, 1], no bias. Anti-aliased with 4 x 4 samples, coverage comes in quarters: along
# the middle row a pixel counts from 2 covered sub-columns (true coverage >= 3/8), so each width
# edge errs by -3/8 to +5/8, +1/8 on average: width errors in [-3/4, 5/4], bias +1/4. Height's top
# edge (the lid, brightness 1) rounds the same way; its bottom (the body, 0.85) needs 3 of 4
# sub-rows (coverage >= 5/8), -1/8 on average: height errors in [-1, 1], bias 0.
EXTENT_ERROR_RANGE = {  # antialias -> ((low, high) for height, (low, high) for width), pixels
    1: ((-1.0, 1.0), (-1.0, 1.0)),
    4: ((-1.0, 1.0), (-0.75, 1.25)),
}
EXTENT_BIAS = {1: (0.0, 0.0), 4: (0.0, 0.25)}
# Float rounding of labels and pixel centres: a hundredth of a pixel.
EDGE_SLACK = 0.01
# Standard error of a mean over 2000 tins is 0.58 / sqrt(2000) = 0.013 pixels: four of them.
BIAS_TOL = 0.05


@pytest.mark.parametrize("antialias", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_labels_match_the_pixels(antialias):
    images, labels = make_tins(2000, antialias=antialias, seed=0)
    errors = (measure_tins(images) - labels) * 32  # in pixels
    for column, (low, high) in enumerate(EXTENT_ERROR_RANGE[antialias]):
        assert errors[:, column].min() >= low - EDGE_SLACK
        assert errors[:, column].max() <= high + EDGE_SLACK
    assert torch.allclose(errors.mean(0), torch.tensor(EXTENT_BIAS[antialias]), atol=BIAS_TOL), (
        errors.mean(0)
    )


def test_antialiased_edges_follow_sub_pixel_changes():
    # Hard edges change only when an edge crosses a pixel centre; anti-aliased ones change with
    # any shift of at least a quarter pixel, and the total brightness grows with the width.
    widths = 0.5 + torch.arange(5) * 0.25 / 32  # five widths within one pixel
    height = torch.full((5,), 0.6)
    hard = render_tins(height, widths, antialias=1)
    soft = render_tins(height, widths, antialias=4)
    assert torch.equal(hard[0] > 0, hard[1] > 0)  # the same silhouette (only the shading moves)
    assert (soft.sum((1, 2)).diff() > 0).all()
    assert soft.min() >= 0 and soft.max() <= 1


def test_shapes_ranges_and_background():
    images, labels = make_tins(50, size=24, height_range=(0.4, 0.6), width_range=(0.5, 0.7), seed=1)
    assert images.shape == (50, 24, 24) and labels.shape == (50, 2)
    assert images.min() >= 0 and images.max() <= 1
    assert ((labels[:, 0] >= 0.4) & (labels[:, 0] <= 0.6)).all()
    assert ((labels[:, 1] >= 0.5) & (labels[:, 1] <= 0.7)).all()
    assert (images[:, 0, :] == 0).all() and (images[:, :, 0] == 0).all()  # black border


def test_tin_is_a_shaded_cylinder_centred_with_a_bright_lid():
    soft = render_tins(torch.tensor([0.8]), torch.tensor([0.6]))[0]
    assert torch.allclose(soft[16], soft[16].flip(0), atol=1e-6)  # centred, symmetric
    image = render_tins(torch.tensor([0.8]), torch.tensor([0.6]), antialias=1)[0]  # no edge blend
    middle_row = image[16]
    assert torch.equal(middle_row, middle_row.flip(0))
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
    _, labels = make_tins(
        100_000, size=8, height_range=(0.4, 0.8), width_range=(0.3, 0.5), antialias=1, seed=5
    )
    u = (labels - torch.tensor([0.4, 0.3])) / torch.tensor([0.4, 0.2])
    assert torch.allclose(u.mean(0), torch.tensor([0.5, 0.5]), atol=0.005)
    assert torch.allclose(u.var(0), torch.tensor([1 / 20, 1 / 20]), atol=0.002)  # Beta(2, 2)
    _, labels = make_tins(100_000, size=8, concentration=1, antialias=1, seed=5)
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
    with pytest.raises(ValueError, match="antialias"):
        make_tins(5, antialias=0)


@pytest.mark.parametrize(
    ("height", "width", "match"),
    [
        ([0.5], [0.5, 0.6], "same length"),
        ([[0.5]], [[0.5]], "height must be 1-D"),
        ([0.5], [float("nan")], "width must hold fractions"),
        ([1.5], [0.5], "height must hold fractions"),
        ([0.5], [0.0], "width must hold fractions"),
    ],
)
def test_render_rejects_bad_extents(height, width, match):
    with pytest.raises(ValueError, match=match):
        render_tins(torch.tensor(height), torch.tensor(width))


def test_eight_bit_levels_and_dequantisation():
    from gdl_pyro.data.tins import LEVELS, dequantize, to_levels

    images, _ = make_tins(20, size=8, seed=0)
    levels = to_levels(images)
    assert levels.dtype == torch.int64 and levels.min() >= 0 and levels.max() <= LEVELS - 1
    assert torch.allclose(levels / (LEVELS - 1), images, atol=0.5 / (LEVELS - 1))
    x = dequantize(levels, seed=1)
    assert ((x >= levels / LEVELS) & (x < (levels + 1) / LEVELS)).all()  # inside its own cell
    assert torch.equal(x, dequantize(levels, seed=1))  # same seed, same noise
    with pytest.raises(ValueError, match="levels"):
        dequantize(torch.tensor([0, 256]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_levels(torch.tensor([1.5]))


def test_eight_bit_images_are_levels_in_numpy_and_torch():
    from gdl_pyro.data.tins import dequantize, to_levels

    levels = torch.tensor([[0, 1, 128, 255]], dtype=torch.uint8)
    for stored in (levels, levels.numpy()):
        assert torch.equal(to_levels(stored), levels.long())
        x = dequantize(stored, seed=0)
        assert torch.equal(x, dequantize(levels.long(), seed=0))  # the same levels, as int64
        assert ((x >= levels / 256) & (x < (levels + 1.0) / 256)).all()
    with pytest.raises(ValueError, match="levels must be integers"):
        dequantize(torch.tensor([True]))
    with pytest.raises(ValueError, match="levels must be integers"):
        dequantize(torch.tensor([0.5]))


def test_bits_per_dimension_against_closed_forms():
    # A model uniform on [0, 1] in every pixel: log p = 0 everywhere, exactly 8 bits per pixel.
    assert bits_per_dim(torch.zeros(3), num_dims=1024).tolist() == pytest.approx([8.0] * 3)
    # A model uniform on the true level's cell, [k/256, (k+1)/256) per pixel, has density 256^D
    # there: it puts probability 1 on the data, 0 bits.
    log_density = torch.tensor(10 * math.log(256), dtype=torch.float64)
    assert bits_per_dim(log_density, num_dims=10).item() == pytest.approx(0.0, abs=1e-12)
    # Two levels (1 bit): a uniform model scores 1.
    assert bits_per_dim(torch.tensor(0.0), num_dims=4, levels=2).item() == pytest.approx(1)
