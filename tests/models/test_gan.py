"""The GAN: it samples (both modes of a two-mode toy), and says clearly that it has no density."""

import pyro
import pytest
import torch

from gdl_pyro.fitting import NoDensityError
from gdl_pyro.models import gan

# Two well-separated modes of equal weight: a GAN that reaches both puts a clear share of its
# samples near each. Mode dropping would leave one near 0; 0.3 allows for uneven weights.
MIN_SHARE = 0.3
MODES = torch.tensor([[-60.0, 20.0], [80.0, -30.0]])


@pytest.mark.slow
def test_samples_reach_both_modes_of_a_two_mode_toy():
    g = torch.Generator().manual_seed(0)
    pick = torch.randint(2, (4000,), generator=g)
    x = MODES[pick] + 5.0 * torch.randn(4000, 2, generator=g)
    fitted = gan.fit(x, hidden_dim=64, num_steps=1500, quiet=True, seed=0)
    samples = fitted.sample(4000, seed=1)
    nearest = torch.cdist(samples, MODES).argmin(-1)
    near = torch.cdist(samples, MODES).min(-1).values < 20.0  # within four sd of a mode
    assert near.double().mean() > 0.8
    for k in range(2):
        assert ((nearest == k) & near).double().mean() > MIN_SHARE


def test_no_density_is_a_clear_error():
    fitted = gan.fit(torch.randn(50, 2) * 10, hidden_dim=8, num_steps=2, quiet=True, seed=0)
    for ask in (lambda: fitted.log_prob(torch.zeros(3, 2)), fitted.distribution):
        with pytest.raises(NoDensityError, match="a GAN has no density"):
            ask()
    assert issubclass(NoDensityError, NotImplementedError)  # code that caught that still works


def test_generator_is_a_pyro_model_on_the_map():
    module = gan.GAN(hidden_dim=8)
    trace = pyro.poutine.trace(gan.model).get_trace(5, gan=module)
    assert trace.nodes["z"]["type"] == "sample" and trace.nodes["x"]["value"].shape == (5, 2)
    with torch.no_grad():
        far = module.generate(1e3 * torch.randn(100, 2))
    assert (far[:, 0].abs() <= 180).all() and (far[:, 1].abs() <= 90).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        gan.fit(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="num_data"):
        gan.model(0, gan=gan.GAN(hidden_dim=4))
