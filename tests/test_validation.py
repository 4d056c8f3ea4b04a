"""The shared argument checks: inputs converted where they can be, refused with a named error."""

import math

import numpy as np
import pyro
import pytest
import torch

from gdl_pyro._state import as_device, seeded
from gdl_pyro._validation import as_points, as_positive, as_seed, generator
from gdl_pyro.infer import cosine_adam, fit_svi

POINTS = [[10.0, 20.0], [-30.0, 40.0], [170.0, -80.0]]


def test_as_points_converts_float64_to_the_default_dtype():
    points = as_points(torch.tensor(POINTS, dtype=torch.float64))
    assert points.dtype == torch.get_default_dtype()
    assert torch.equal(points, torch.tensor(POINTS))


def test_as_points_accepts_lists_and_numpy_arrays():
    for x in (POINTS, np.array(POINTS), np.array(POINTS, dtype=np.float32), np.array([[1, 2]])):
        points = as_points(x)
        assert points.dtype == torch.get_default_dtype() and points.shape[1] == 2


def test_as_points_detaches_and_never_writes_to_the_callers_tensor():
    x = torch.tensor(POINTS, requires_grad=True)
    points = as_points(x)
    assert not points.requires_grad
    points.sum()  # a graph-free result: nothing can reach x.grad through it
    assert x.grad is None
    assert torch.equal(x.detach(), torch.tensor(POINTS))


def test_as_points_makes_a_non_contiguous_input_contiguous():
    x = torch.tensor(POINTS).t().contiguous().t()  # (3, 2) with strides of a transpose
    assert not x.is_contiguous()
    points = as_points(x)
    assert points.is_contiguous() and torch.equal(points, torch.tensor(POINTS))
    assert points.view(-1).shape == (6,)  # view needs contiguous memory


def test_as_points_empty_only_where_allowed():
    assert as_points(torch.empty(0, 2), allow_empty=True).shape == (0, 2)
    assert as_points(np.empty((0, 2)), allow_empty=True).shape == (0, 2)
    with pytest.raises(ValueError, match="^x must hold at least one point"):
        as_points(torch.empty(0, 2))


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([[1.0, 2.0, 3.0]], "shape"),
        ([[math.nan, 0.0]], "finite"),
        ("points", "array"),
        (torch.tensor([[1 + 1j, 2.0]]), "real"),
    ],
)
def test_as_points_refuses_with_the_arguments_name(x, match):
    with pytest.raises(ValueError, match=f"^where .*{match}"):
        as_points(x, "where")


@pytest.mark.parametrize("device", ["meta", "xla", "mps", "cuda:0", "not a device"])
def test_as_device_refuses_devices_torch_cannot_run_here(device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="^device"):
        as_device(device, torch.zeros(1, 2))


def test_as_device_accepts_the_cpu_and_present_gpus_only(monkeypatch):
    x = torch.zeros(1, 2)
    assert as_device(None, x) == x.device
    assert as_device("cpu", x) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert as_device("cuda", x) == torch.device("cuda")
    assert as_device("cuda:0", x) == torch.device("cuda:0")
    with pytest.raises(ValueError, match="^device is cuda:1, but torch sees 1 CUDA"):
        as_device("cuda:1", x)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert as_device("mps", x) == torch.device("mps")


@pytest.mark.parametrize("seed", [2**40, 2**32, -1, True, 1.5, "0"])
def test_seeds_outside_numpys_range_are_refused_by_name(seed):
    with pytest.raises(ValueError, match="^seed must be an integer"):
        as_seed(seed)
    with pytest.raises(ValueError, match="^seed must be an integer"):
        generator(seed)
    with pytest.raises(ValueError, match="^seed must be an integer"), seeded(seed):
        pass


def test_seeds_at_the_ends_of_the_range_work():
    for seed in (0, 2**32 - 1, np.int64(7)):
        with seeded(seed) as used:
            assert used == int(seed)
        assert generator(seed).initial_seed() == int(seed)
    assert generator(None) is None


@pytest.mark.parametrize("lr", [0, 0.0, -1e-3, math.inf, math.nan, True, "0.01", None])
def test_as_positive_refuses_zero_negative_non_finite_and_non_numbers(lr):
    with pytest.raises(ValueError, match="^lr must be a finite number > 0"):
        as_positive(lr, "lr")


def test_as_positive_returns_a_float():
    assert as_positive(3e-3, "lr") == 3e-3
    assert as_positive(np.float32(0.5), "lr") == 0.5
    assert isinstance(as_positive(2, "lr"), float)


@pytest.mark.parametrize("lr", [0.0, math.inf, math.nan])
def test_fit_svi_and_cosine_adam_check_lr(lr):
    def model():
        pyro.param("loc", torch.zeros(()))

    with pytest.raises(ValueError, match="^lr must be a finite number > 0"):
        fit_svi(model, lambda: None, num_steps=1, lr=lr, quiet=True)
    with pytest.raises(ValueError, match="^lr must be a finite number > 0"):
        cosine_adam(lr, 10)
