"""The chapter's "biscuit tin" images: grayscale tins fully described by height and width.

Each image is a tin seen from the front and a little above: a shaded cylindrical body (bright in
the middle, darker towards the sides, as a lit cylinder is) with an elliptical lid on top and the
curved bottom edge of the cylinder, centred on a black background. Height and width are the
silhouette's extent as fractions of the image side, drawn independently from the given ranges, and
are returned beside each image: the 2-D latent truth a representation-learning model should find.

Within its range each factor follows a Beta(c, c) distribution, c = ``concentration``: c = 1 is
uniform; the default c = 2 makes middling tins common and extreme ones rare. That default is a
choice about the lesson, not only the look: a VAE's N(0, I) prior squeezes a uniform square of
factors into a Gaussian blob, so even a perfect latent space is a curved image of the square; the
best linear R^2 from a Gaussianised uniform factor back to the factor is
corr(U, Phi^{-1}(U))^2 = 0.955. Bell-shaped factors need far less bending, and the linear read-out
of height and width from the latent space measures what was learned rather than that warp.

Edges are anti-aliased: each pixel is the mean of ``antialias`` x ``antialias`` samples inside it
(a box filter), so a pixel on the tin's edge is as bright as the share of it the tin covers. With
one sample per pixel (``antialias=1``, hard edges) the image changes only when an edge crosses a
pixel centre: width is visible in whole pixels, about 16 steps over its range, and a VAE learns it
as 16 separate bands in its latent space (a linear read-out of width then reached R^2 0.92-0.94).
Anti-aliased, a change of width of a quarter pixel changes the image, as it does in a photograph.
"""

import math

import torch

from gdl_pyro._validation import as_count, generator

__all__ = [
    "LEVELS",
    "LID_RATIO",
    "bits_per_dim",
    "dequantize",
    "make_tins",
    "measure_tins",
    "render_tins",
    "to_levels",
]

# The lid ellipse's vertical semi-axis as a share of the image side: a view from slightly above.
# It is the same for every tin so that width changes only the horizontal extent (a lid that grew
# with width would tie the two factors together and bend the latent space a model learns).
LID_RATIO = 0.05
BODY_DARK, BODY_BRIGHT, LID_BRIGHTNESS = 0.35, 0.85, 1.0
_CHUNK_SAMPLES = 2**24  # point samples rendered at once when anti-aliasing (64 MB in float32)


def _check_range(values, name: str) -> tuple[float, float]:
    """A (low, high) pair inside (0, 1] with low <= high."""
    low, high = (float(v) for v in values)
    if not 0 < low <= high <= 1:
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high <= 1; got {values}")
    return low, high


def _as_extent(values, name: str) -> torch.Tensor:
    """A 1-D float tensor of extents in (0, 1], or a ValueError naming the argument."""
    values = torch.as_tensor(values, dtype=torch.get_default_dtype())
    if values.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one value per tin); got shape {tuple(values.shape)}")
    if not ((values > 0) & (values <= 1)).all():  # also catches NaN
        raise ValueError(f"{name} must hold fractions of the side in (0, 1]; got {values}")
    return values


def _beta(concentration: int, shape: tuple[int, int], rng: torch.Generator | None) -> torch.Tensor:
    """Beta(c, c) draws for integer c from a seeded generator: the c-th smallest of 2c - 1 uniforms.

    (torch's Beta sampler takes no generator, so it could not honour ``seed``.)
    """
    uniforms = torch.rand(
        *shape, 2 * concentration - 1, generator=rng, dtype=torch.get_default_dtype()
    )
    return uniforms.sort(-1).values[..., concentration - 1]


def render_tins(
    height: torch.Tensor, width: torch.Tensor, size: int = 32, antialias: int = 4
) -> torch.Tensor:
    """Draw tins of given heights and widths (fractions of the side) as (N, size, size) images.

    ``height`` and ``width`` are 1-D and of one length, with values in (0, 1]. Each pixel
    averages ``antialias`` x ``antialias`` point samples; 1 draws hard edges.
    """
    height, width = _as_extent(height, "height"), _as_extent(width, "width")
    if height.shape != width.shape:
        raise ValueError(
            f"height and width must have the same length; got {len(height)} and {len(width)}"
        )
    size = as_count(size, "size", minimum=8)
    antialias = as_count(antialias, "antialias", minimum=1)
    if antialias == 1:
        return _render_points(height, width, size)
    fine = size * antialias
    chunk = max(1, _CHUNK_SAMPLES // fine**2)  # bounds the memory of the fine images
    return torch.cat(
        [
            _render_points(h, w, fine).reshape(-1, size, antialias, size, antialias).mean((2, 4))
            for h, w in zip(height.split(chunk), width.split(chunk), strict=True)
        ]
    )


def _render_points(height: torch.Tensor, width: torch.Tensor, size: int) -> torch.Tensor:
    """The tins sampled at the centre of each of size x size pixels (hard edges)."""
    centres = (torch.arange(size, dtype=torch.get_default_dtype()) + 0.5) / size
    y, x = centres[None, :, None], centres[None, None, :]  # row = y going down, column = x
    h, w = height[:, None, None], width[:, None, None]
    half_w, lid = w / 2, LID_RATIO
    top, bottom = 0.5 - h / 2, 0.5 + h / 2
    u = (x - 0.5) / half_w  # -1 at the left edge of the tin, +1 at the right
    across = (1 - u**2).clamp(min=0)
    in_lid = across - ((y - (top + lid)) / lid) ** 2 >= 0
    in_body = (u.abs() <= 1) & (y >= top + lid) & (y <= bottom - lid)
    in_bottom = (across - ((y - (bottom - lid)) / lid) ** 2 >= 0) & (y >= bottom - lid)
    shade = BODY_DARK + (BODY_BRIGHT - BODY_DARK) * across.sqrt()
    image = torch.where(in_body | in_bottom, shade, torch.zeros(()))
    return torch.where(in_lid, torch.full((), LID_BRIGHTNESS), image)


def make_tins(
    num_images: int,
    *,
    size: int = 32,
    height_range=(0.35, 0.9),
    width_range=(0.3, 0.8),
    concentration: int = 2,
    antialias: int = 4,
    seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate biscuit-tin images and their true (height, width).

    Parameters
    ----------
    num_images : int
        Number of images, >= 0.
    size : int
        Side of the square image in pixels, >= 8.
    height_range, width_range : (float, float)
        Ranges of height and width, as fractions of the side, inside (0, 1].
    concentration : int
        c of the Beta(c, c) draw within each range, >= 1; 1 is uniform.
    antialias : int
        Point samples per pixel along each axis, >= 1; 1 draws hard edges (see the module notes).
    seed : int, optional
        Seed of a private generator; None uses torch's global RNG.

    Returns
    -------
    images : torch.Tensor
        Shape (num_images, size, size), values in [0, 1], background 0.
    labels : torch.Tensor
        Shape (num_images, 2): the true (height, width) of each tin.
    """
    num_images = as_count(num_images, "num_images")
    size = as_count(size, "size", minimum=8)
    h_low, h_high = _check_range(height_range, "height_range")
    w_low, w_high = _check_range(width_range, "width_range")
    concentration = as_count(concentration, "concentration", minimum=1)
    rng = generator(seed)
    u = _beta(concentration, (num_images, 2), rng)
    labels = torch.stack(
        [h_low + (h_high - h_low) * u[:, 0], w_low + (w_high - w_low) * u[:, 1]], -1
    )
    return render_tins(labels[:, 0], labels[:, 1], size, antialias), labels


def measure_tins(images: torch.Tensor) -> torch.Tensor:
    """Measure (height, width) back from pixels, to within about a pixel.

    Works on generated and on decoded images (N, size, size); returns fractions of the side,
    shape (N, 2). Tins are centred, so width is the count of pixels along the middle row brighter
    than half the body's dark edge, and height the count along the middle column brighter than
    half the body's bright centre: an anti-aliased edge pixel counts when the tin covers about
    half of it. (Counting every row that holds any bright pixel would count the lid's rim, at
    full brightness, from a sliver of coverage, and overstate both extents.)
    """
    if images.dim() != 3 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must have shape (N, size, size); got {tuple(images.shape)}")
    size = images.shape[-1]
    middle = size // 2
    width = (images[:, middle, :] > 0.5 * BODY_DARK).sum(-1) / size
    height = (images[:, :, middle] > 0.5 * BODY_BRIGHT).sum(-1) / size
    return torch.stack([height, width], -1).to(torch.get_default_dtype())


# 8-bit images: 256 levels per pixel.
LEVELS = 256


def to_levels(images) -> torch.Tensor:
    """Images with values in [0, 1] as 8-bit levels 0..255 (integers), as files store them.

    8-bit images (uint8, NumPy or torch) are levels already: they come back as they are, as
    integers of the same type as the levels made from floating-point images.
    """
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        return images.long()
    if not images.is_floating_point() or not torch.isfinite(images).all():
        raise ValueError("images must be finite floating-point values in [0, 1]")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must hold values in [0, 1]")
    return (images * (LEVELS - 1)).round().long()


def dequantize(levels, *, seed: int | None = None) -> torch.Tensor:
    """Uniform dequantisation: (k + u) / 256 with u ~ U(0, 1), a continuous point in level k's cell.

    A continuous density p on [0, 1]^D then bounds the discrete probability of the levels,
    log P(k) >= E_u[log p((k + u) / 256)] - D log 256 (Theis, van den Oord and Bethge, 2016), so
    continuous models of 8-bit data are scored on one honest scale (bits per dimension).
    """
    levels = torch.as_tensor(levels)
    if levels.is_floating_point() or levels.is_complex() or levels.dtype == torch.bool:
        raise ValueError(f"levels must be integers in 0..{LEVELS - 1}; got dtype {levels.dtype}")
    # As int64: a uint8 tensor (8-bit images as stored) cannot hold 256, and torch compares it
    # with 256 wrapped round to 0, which refused every uint8 tensor.
    levels = levels.long()
    if levels.numel() and (levels.min() < 0 or levels.max() >= LEVELS):
        raise ValueError(f"levels must be integers in 0..{LEVELS - 1}")
    noise = torch.rand(levels.shape, generator=generator(seed))
    return (levels + noise) / LEVELS


def bits_per_dim(log_density, num_dims: int, levels: int = LEVELS) -> torch.Tensor:
    """Bits per dimension of discrete data from a continuous density of its dequantised version.

    With x = (k + u) / levels, u ~ U[0, 1)^D (``dequantize``), Jensen's inequality gives
    log P(k) >= E_u[log p((k + u) / levels)] - D log(levels): the bound holds in expectation over
    the dequantisation noise u, not for each draw of it. So the mean over items of
    bpd = (D log(levels) - log p(x)) / (D log 2) estimates an upper bound on the discrete model's
    bits per dimension, and is >= 0 in expectation for any proper density on [0, 1]^D; one
    item's value, at one u, can lie below its discrete counterpart, even below 0. A model uniform
    on [0, 1]^D scores exactly log2(levels), 8 for 8-bit images (Theis, van den Oord and Bethge,
    "A note on the evaluation of generative models", 2016).

    Parameters
    ----------
    log_density : torch.Tensor
        log p(x_i) of each dequantised item (or a lower bound on it, such as an ELBO).
    num_dims : int
        D, the values per item (pixels per image).
    levels : int
        Levels per value before dequantisation.
    """
    num_dims = as_count(num_dims, "num_dims", minimum=1)
    levels = as_count(levels, "levels", minimum=2)
    log_density = torch.as_tensor(log_density, dtype=torch.float64)
    return (num_dims * math.log(levels) - log_density) / (num_dims * math.log(2))
