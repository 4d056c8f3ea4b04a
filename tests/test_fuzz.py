"""Every public fit, log_prob and sample on odd input: a correct result or a clear ValueError.

Each call gets either the right answer (the same numbers as for a plain float32 tensor, with the
caller's input untouched and no gradient written into it) or a ValueError whose message names the
argument. Never a traceback from inside torch or NumPy, never a NaN.
"""

import numpy as np
import pytest
import torch

from tests.tiny_fits import (
    FITS,
    FITTED,
    FITTERS,
    IMAGE_FITS,
    PROBE,
    SAMPLES_BY_NUTS,
    data_of,
    marked_slow,
    training_data,
)

CLASSIFIERS = {"logistic", "class conditional"}


def argument_of(name: str) -> str:
    """The name of a fitter's data argument, as its error messages say it."""
    return "points" if name in CLASSIFIERS else "x"


def bad_inputs(data: torch.Tensor) -> dict:
    """Inputs that must be refused: (input, what the message says)."""
    with_nan, with_inf = data.clone(), data.clone()
    with_nan[0, 0], with_inf[1, 1] = float("nan"), float("inf")
    return {
        "nan": (with_nan, "finite"),
        "inf": (with_inf, "finite"),
        "one column": (data[:, :1], "shape"),
        "flat": (data[:, 0], "shape"),
        "three dims": (data.unsqueeze(-1), "shape"),
        "string": ("points", ""),
        "None": (None, ""),
    }


def good_inputs(data: torch.Tensor) -> dict:
    """Inputs that must give the plain tensor's numbers: converted, never changed."""
    return {
        "float64": data.double(),
        "numpy": data.numpy().copy(),
        "numpy float64": data.double().numpy().copy(),
        "list": data.tolist(),
        "requires_grad": data.clone().requires_grad_(True),
        "non-contiguous": data.T.contiguous().T,
    }


def same_data(given, data) -> bool:
    """The caller's input, compared with what it held before the call."""
    as_tensor = torch.as_tensor(np.asarray(given.detach() if torch.is_tensor(given) else given))
    return torch.equal(as_tensor.to(data.dtype), data)


# --- fitters ---------------------------------------------------------------------------------


# Images of one pixel are images: (N, 1) is a valid shape for the image fitters.
REFUSED = [
    (name, case)
    for name in FITTERS
    for case in [*bad_inputs(PROBE), "empty"]
    if not (case == "one column" and name in IMAGE_FITS)
]


@pytest.mark.parametrize("name, case", REFUSED)
def test_fitters_refuse_bad_data_by_name(name, case):
    data = training_data(name)
    given, says = bad_inputs(data).get(case, (data[:0], "at least one|N >= "))
    with pytest.raises(ValueError, match=f"^{argument_of(name)} (must|.*{says})"):
        FITTERS[name](given, seed=0, quiet=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", FITTERS)
def test_fitters_convert_what_they_can_and_leave_it_untouched(name):
    data = training_data(name)
    plain = FITS[name](seed=0)
    probe = data_of(name)[:7]
    for case, given in good_inputs(data).items():
        fitted = FITTERS[name](given, seed=0, quiet=True)
        assert same_data(given, data), f"{case}: the caller's data changed"
        if torch.is_tensor(given):
            assert given.grad is None, f"{case}: a gradient was written into the caller's data"
        if plain.nll_kind == "exact":
            assert torch.equal(fitted.log_prob(probe), plain.log_prob(probe)), case
        elif name != "logistic":
            assert torch.equal(fitted.sample(5, seed=1), plain.sample(5, seed=1)), case


# Devices and seeds are checked by the one preamble (fitting.preamble) that every fitter calls
# first. The unit loop asks a closed form, an SVI fit, the KDE, EM, the GAN's own loop and a
# classifier; the slow loop asks every fitter, in case one stops calling the preamble first.
PREAMBLE_FAST = ("box mle", "gaussian mle", "flow", "kde", "mixture em", "gan", "logistic")
PREAMBLE_CASES = marked_slow(FITTERS, also=[name for name in FITTERS if name not in PREAMBLE_FAST])


@pytest.mark.parametrize("name", PREAMBLE_CASES)
@pytest.mark.parametrize("device", ["mps", "meta", "gpu", 3, "cuda:7"])
def test_fitters_refuse_devices_torch_cannot_run_here(name, device):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(ValueError, match="^device"):
        FITTERS[name](training_data(name), seed=0, quiet=True, device=device)


@pytest.mark.parametrize("name", PREAMBLE_CASES)
@pytest.mark.parametrize("seed", [-1, 2**40, 1.5, "a", True])
def test_fitters_refuse_seeds_numpy_cannot_take(name, seed):
    with pytest.raises(ValueError, match="^seed"):
        FITTERS[name](training_data(name), seed=seed, quiet=True)


# --- log_prob, log_score and sample of fitted models -----------------------------------------


@pytest.fixture(scope="module")
def fits():
    return FITTED


SCORED = [name for name in FITS if name not in ("gan", "logistic")]


@pytest.mark.parametrize("name", marked_slow(SCORED))
def test_scores_of_odd_input(fits, name):
    fitted, data = fits[name], data_of(name)[:6]
    plain = fitted.log_score(data, seed=0)
    assert torch.isfinite(plain).all() or name == "box mle"  # the box gives -inf off itself
    for case, given in good_inputs(data).items():
        assert torch.equal(fitted.log_score(given, seed=0), plain), case
        assert same_data(given, data), case
    for given, says in bad_inputs(data).values():
        with pytest.raises(ValueError, match=f"^x (must|.*{says})"):
            fitted.log_score(given, seed=0)
    assert fitted.log_score(data[:0], seed=0).shape == (0,)


@pytest.mark.parametrize("name", marked_slow([n for n in SCORED if n not in IMAGE_FITS]))
def test_points_off_the_map_score_minus_infinity_or_a_number(fits, name):
    fitted = fits[name]
    far = torch.tensor([[500.0, 0.0], [0.0, 90.5], [180.0001, 10.0], [-1e6, -1e6]])
    score = fitted.log_score(far, seed=0)
    assert score.shape == (4,) and not torch.isnan(score).any()
    # Densities on the map: the map-respecting KDE (tiny_fits' default boundary) included.
    if fitted.family in ("autoregressive", "flow", "energy", "box", "kde"):
        assert (score == -torch.inf).all()


@pytest.mark.parametrize(
    "name", marked_slow([n for n in FITS if n != "logistic"], also=SAMPLES_BY_NUTS)
)
def test_sample_sizes_and_seeds(fits, name):
    fitted = fits[name]
    assert fitted.sample(0).shape == (0, *fitted.event_shape)
    assert fitted.sample(np.int64(3), seed=np.int64(2)).shape == (3, *fitted.event_shape)
    for bad in (-1, 1.5, "3", True, None):
        with pytest.raises(ValueError, match="^num_samples"):
            fitted.sample(bad)
    for bad in (-1, 2**40, 0.5):
        with pytest.raises(ValueError, match="^seed"):
            fitted.sample(2, seed=bad)


# Fits with a density on points (the point VAE and the diffusion model only bound theirs).
EXACT_ON_POINTS = [n for n in SCORED if n not in IMAGE_FITS | {"point vae", "diffusion"}]


@pytest.mark.parametrize("name", marked_slow(EXACT_ON_POINTS))
def test_distributions_observe_float64_as_a_users_model_would(fits, name):
    # NumPy-made observations are float64; the networks' weights are float32.
    fitted = fits[name]
    assert fitted.nll_kind == "exact"
    data = data_of(name)[:6]
    assert torch.allclose(fitted.distribution().log_prob(data.double()), fitted.log_prob(data))
