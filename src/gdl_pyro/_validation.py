"""Argument checks shared by the library: bad input fails early with a ValueError that names it."""

import math
import numbers

import numpy as np
import torch


def as_points(x, name: str = "x", *, allow_empty: bool = False) -> torch.Tensor:
    """Return ``x`` as a tensor of shape (N, 2) with finite values, or raise ValueError.

    Tensors, NumPy arrays and nested lists are accepted. The result has torch's default dtype,
    is contiguous and carries no gradient (``detach``), so a float64 array, a transposed view or a
    tensor that requires grad all work, and the caller's tensor is never written to. It may be
    ``x`` itself when nothing needed converting: callers must not modify it in place.
    ``allow_empty`` admits (0, 2), for paths that return one value per point.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise ValueError(f"{name} must hold real coordinates; got dtype {x.dtype}")
        points = x.detach().to(torch.get_default_dtype())
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
    return points.contiguous()


def as_count(n, name: str, *, minimum: int = 0) -> int:
    """Return ``n`` as an int of at least ``minimum``, or raise ValueError."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {n!r}")
    if n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {n}")
    return int(n)


def as_positive(value, name: str) -> float:
    """Return ``value`` as a finite float > 0 (a learning rate, a scale), or raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


# Seeds are what every RNG here takes: NumPy's (which Pyro seeds too) needs 0 <= seed < 2**32.
SEED_LIMIT = 2**32


def as_seed(seed) -> int:
    """Return ``seed`` as an int in [0, 2**32) (NumPy's range), or raise ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer in [0, 2**32) or None; got {seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**32) or None; got {seed}")
    return int(seed)


def generator(seed) -> torch.Generator | None:
    """A torch.Generator seeded with ``seed``, or None to use the global RNG (pyro.set_rng_seed)."""
    if seed is None:
        return None
    return torch.Generator().manual_seed(as_seed(seed))


def num_data(x, num_data) -> int:
    """How many points a model handles: those of ``x``, or ``num_data`` to simulate without x."""
    if x is not None:
        return as_points(x).shape[0]
    if num_data is None:
        raise ValueError("num_data is required when x is None (how many points to simulate)")
    return as_count(num_data, "num_data", minimum=1)
