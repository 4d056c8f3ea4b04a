"""Argument checks shared by the library: bad input fails early with a ValueError that names it."""

import numbers

import numpy as np
import torch


def as_points(x, name: str = "x", *, allow_empty: bool = False) -> torch.Tensor:
    """Return ``x`` as a float tensor of shape (N, 2) with finite values, or raise ValueError."""
    if isinstance(x, torch.Tensor):
        points = x if x.is_floating_point() else x.to(torch.get_default_dtype())
    else:
        try:
            points = torch.as_tensor(
                np.asarray(x, dtype=np.float64), dtype=torch.get_default_dtype()
            )
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{name} must be an array of shape (N, 2); got {type(x).__name__}"
            ) from error
    if points.dim() != 2 or points.shape[-1] != 2:
        raise ValueError(
            f"{name} must have shape (N, 2) (longitude, latitude); got {tuple(points.shape)}"
        )
    if points.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must hold at least one point; got an empty array")
    if not torch.isfinite(points).all():
        raise ValueError(f"{name} must hold finite coordinates; got NaN or infinite values")
    return points


def as_count(n, name: str, *, minimum: int = 0) -> int:
    """Return ``n`` as an int of at least ``minimum``, or raise ValueError."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {n!r}")
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {n}")
    return int(n)


def generator(seed) -> torch.Generator | None:
    """A torch.Generator seeded with ``seed``, or None to use the global RNG (pyro.set_rng_seed)."""
    if seed is None:
        return None
    return torch.Generator().manual_seed(as_count(seed, "seed"))


def num_data(x, num_data) -> int:
    """How many points a model handles: those of ``x``, or ``num_data`` to simulate without x."""
    if x is not None:
        return as_points(x).shape[0]
    if num_data is None:
        raise ValueError("num_data is required when x is None (how many points to simulate)")
    return as_count(num_data, "num_data", minimum=1)
