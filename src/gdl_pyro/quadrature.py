r"""log p(x) of a model with a 2-D latent z ~ N(0, I), by quadrature on a grid over z.

.. math:: \log p(x) = \log \int p(x \mid z)\, p(z)\, dz
          \approx \operatorname{logsumexp}_c \big[\log p(x \mid z_c) + \log p(z_c) + \log |c|\big]

over the cells c of a grid, z_c each cell's midpoint and |c| its area (the midpoint rule). A
VAE's marginal has no closed form, but with two latent dimensions this sum is cheap and exact up
to the grid's error, so it checks the ELBO and IWAE bounds, which must not beat it. Both of the
chapter's VAEs have a 2-D latent: the points on the map (``models.vae_points``, s09) and the
tin images (``models.vae``, s07).

The error of the midpoint rule on a smooth integrand falls fast once the step is below the width
of the posterior p(z | x). A point on the map has a broad posterior, and one grid over the prior
serves every point. An image of 1024 pixels pins z down to a few hundredths, so ``refine``
follows the grid over the prior with a grid of each image's own, over the box where its
posterior has its mass.
"""

import math
from collections.abc import Callable

import torch

__all__ = ["latent_grid", "log_marginal"]

# Grid cells evaluated at once, times data points: bounds the memory of one (points, cells) block.
_BLOCK = 2**22


def latent_grid(half_width: float, step: float) -> tuple[torch.Tensor, float]:
    """Midpoints of square cells of side ``step`` over [-half_width, half_width]^2, and log |c|.

    Returns the midpoints, shape (cells, 2), and the log of one cell's area.
    """
    if not (half_width > 0 and 0 < step <= 2 * half_width):
        raise ValueError(
            f"need half_width > 0 and 0 < step <= 2 half_width; got {half_width} and {step}"
        )
    axis = torch.arange(-half_width + step / 2, half_width, step)
    return torch.cartesian_prod(axis, axis), 2 * math.log(step)


def log_marginal(
    log_likelihood: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    half_width: float = 5.0,
    step: float = 0.05,
    refine: int | None = None,
    threshold: float = 30.0,
) -> torch.Tensor:
    """log p(x_i) = log of the integral of p(x_i | z) N(z; 0, I_2) over z, by the midpoint rule.

    Parameters
    ----------
    log_likelihood : callable
        ``log_likelihood(x, z)`` gives log p(x_i | z_c) for data x (n, ...) and latent points
        z (cells, 2), shape (n, cells).
    x : torch.Tensor
        The data, one item per row.
    half_width, step : float
        The grid over the prior: cells of side ``step`` over [-half_width, half_width]^2. N(0, I)
        puts 6e-7 of its mass outside +-5.
    refine : int, optional
        If given, a second grid for each item, of ``refine`` x ``refine`` cells, over the box of
        the first grid's cells whose log p(x_i | z) p(z) is within ``threshold`` nats of their
        largest, widened by one step on every side (the box may reach past ``half_width``).
        The cells outside it hold under e^-threshold of the largest cell's mass each. This
        resolves posteriors down to about a tenth of ``step`` wide (a linear-Gaussian model's
        exact marginal, in the tests); narrower ones need a smaller ``step``.
    threshold : float
        See ``refine``.

    Returns
    -------
    torch.Tensor
        Shape (n,): log p(x_i) of each item, in nats, in the likelihood's dtype.
    """
    z, log_cell = latent_grid(half_width, step)
    if x.shape[0] == 0:
        return torch.empty(0)
    if refine is None:
        return _sum_over_grid(log_likelihood, x, z, log_cell)
    if refine < 2:
        raise ValueError(f"refine must be at least 2 cells per side; got {refine}")
    rows = []
    for part in x.split(max(1, _BLOCK // len(z))):  # the coarse grid's log joint, (part, cells)
        log_joint = log_likelihood(part, z) + _log_prior(z)
        for item, joint in zip(part.split(1), log_joint, strict=True):
            inside = z[joint >= joint.max() - threshold]
            low, high = inside.min(0).values - step, inside.max(0).values + step
            cell = (high - low) / refine
            axes = [low[d] + cell[d] * (torch.arange(refine) + 0.5) for d in range(2)]
            fine = torch.cartesian_prod(*axes)
            rows.append(_sum_over_grid(log_likelihood, item, fine, cell.log().sum().item()))
    return torch.cat(rows)


def _log_prior(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I_2) of each row."""
    return -0.5 * z.pow(2).sum(-1) - math.log(2 * math.pi)


def _sum_over_grid(log_likelihood, x, z, log_cell: float) -> torch.Tensor:
    """logsumexp over the cells z of log p(x | z) + log p(z) + log_cell, in blocks of cells."""
    weight = _log_prior(z) + log_cell
    rows = []
    for part in x.split(max(1, _BLOCK // len(z))):
        cells = max(1, _BLOCK // len(part))
        blocks = [
            torch.logsumexp(log_likelihood(part, z_block) + w_block, dim=-1)
            for z_block, w_block in zip(z.split(cells), weight.split(cells), strict=True)
        ]
        rows.append(torch.logsumexp(torch.stack(blocks, -1), dim=-1))
    return torch.cat(rows)
