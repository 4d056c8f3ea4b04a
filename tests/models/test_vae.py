"""The VAE: site shapes under trace, a quick fit finds height and width, generation in range."""

import pyro
import pytest
import torch

from gdl_pyro.data.tins import make_tins
from gdl_pyro.models.vae import VAE, VAEFit, fit, latent_direction, linear_readout

SIZE = 16
# A 600-step fit on 800 small images: chance is R^2 = 0; a latent space that has found the two
# features gives well above 0.6 on both (the chapter's full run reaches 0.97 to 0.99).
QUICK_R2 = 0.6
# Quadrature at the default grids against a prior grid of half the step and a refined grid of
# twice the cells: the float32 decoder's log density wobbles at about this size.
QUADRATURE_GRID_TOL = 0.05
# The IWAE estimate at K = 1000 is a bound only in expectation: its mean over 20 images may sit
# above the exact marginal by its Monte Carlo noise, which is below this.
IWAE_NOISE = 0.1
# ... and below it by at most this much: the 300-step fit's encoder leaves it 1.3 nats short.
IWAE_GAP = 2.5


def data(num, seed):
    images, labels = make_tins(num, size=SIZE, seed=seed)
    return images.reshape(num, -1), labels


def test_model_and_guide_sites_have_the_expected_shapes():
    vae = VAE(data_dim=SIZE * SIZE, hidden_dim=32)
    x, _ = data(20, 0)
    guide_trace = pyro.poutine.trace(vae.guide).get_trace(x, batch_size=8)
    model_trace = pyro.poutine.trace(pyro.poutine.replay(vae.model, trace=guide_trace)).get_trace(
        x, batch_size=8
    )
    assert guide_trace.nodes["z"]["value"].shape == (8, 2)
    assert model_trace.nodes["obs"]["value"].shape == (8, SIZE * SIZE)
    assert model_trace.nodes["obs"]["fn"].event_shape == (SIZE * SIZE,)
    assert torch.equal(model_trace.nodes["z"]["value"], guide_trace.nodes["z"]["value"])
    # Modules are registered with pyro.module under this VAE's own name.
    assert any(name.startswith(f"{vae.name}.decoder$$$") for name in model_trace.param_nodes)
    assert any(name.startswith(f"{vae.name}.encoder$$$") for name in guide_trace.param_nodes)
    assert VAE(data_dim=SIZE * SIZE, hidden_dim=32).name != vae.name  # a second VAE: its own


@pytest.mark.slow
def test_quick_fit_finds_height_and_width():
    x, _ = data(800, 0)
    x_test, labels_test = data(300, 1)
    fitted = fit(x, hidden_dim=128, num_steps=600, batch_size=100, lr=3e-3, quiet=True, seed=0)
    assert fitted.losses[-1] < fitted.losses[0]
    _, scores = linear_readout(fitted.encode(x_test), labels_test)
    assert (scores > QUICK_R2).all(), scores
    # The IWAE bound tightens with K: on average K = 20 is above the ELBO (K = 1).
    elbo = fitted.log_prob_lower_bound(x_test, num_particles=1, seed=0).mean()
    iwae = fitted.log_prob_lower_bound(x_test, num_particles=20, seed=0).mean()
    assert iwae > elbo
    # Evaluating it left nothing in the caller's param store.
    assert len(pyro.get_param_store()) == 0


def test_generation_returns_images_in_range():
    vae = VAE(data_dim=SIZE * SIZE, hidden_dim=32)
    images = vae.generate(10)
    assert images.shape == (10, SIZE * SIZE)
    assert (images >= 0).all() and (images <= 1).all()
    simulated = vae.model(num_data=4)
    assert simulated.shape == (4, SIZE * SIZE) and (simulated >= 0).all() and (simulated <= 1).all()


def test_bad_input():
    vae = VAE(data_dim=SIZE * SIZE, hidden_dim=8)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 256\)"):
        vae.encode(torch.zeros(3, 100))
    with pytest.raises(ValueError, match="num_data"):
        vae.model()
    with pytest.raises(ValueError, match="kl_warmup"):
        fit(torch.zeros(5, SIZE * SIZE), num_steps=1, kl_warmup=1.0)
    nan_images = torch.zeros(5, SIZE * SIZE)
    nan_images[2, 7] = float("nan")
    with pytest.raises(ValueError, match="x must hold finite pixel values"):
        fit(nan_images, num_steps=1, quiet=True)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        fit(torch.full((5, SIZE * SIZE), 2.0), num_steps=1, quiet=True)
    with pytest.raises(ValueError, match="z must be finite"):
        vae.decode(torch.zeros(3, 5))


def test_eight_bit_levels_and_arrays_are_refused_by_name():
    """The VAE scores intensities in [0, 1]: uint8 levels (here all 0 or 1, so in range) are
    refused with what it expects, not a dtype error inside the encoder."""
    vae = VAE(data_dim=SIZE * SIZE, hidden_dim=8)
    levels = torch.randint(0, 2, (3, SIZE * SIZE), dtype=torch.uint8)
    with pytest.raises(ValueError, match="x must hold floating-point .*dequantize"):
        vae.encode(levels)
    with pytest.raises(ValueError, match="x must hold floating-point"):
        pyro.poutine.trace(vae.model).get_trace(levels)
    # NumPy intensities are converted, as every input of the library is.
    assert torch.equal(vae.encode(levels.float().numpy()), vae.encode(levels.float()))


def test_readout_and_direction_recover_a_known_linear_latent_space():
    # Latents made from the labels by a known affine map: the read-out is exact (R^2 = 1) and the
    # "taller" step moves height by exactly 1 and width by exactly 0.
    labels = torch.rand(200, 2, generator=torch.Generator().manual_seed(0))
    mixing = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    z = labels @ mixing + torch.tensor([0.3, -0.7])
    coef, r2 = linear_readout(z, labels)
    assert torch.allclose(r2, torch.ones(2, dtype=torch.float64), atol=1e-9)
    step = latent_direction(coef, target=0)
    # z = labels M + c, so one unit of height is the latent step M[0] (and width stays put).
    assert torch.allclose(step, mixing[0], atol=1e-4)
    with pytest.raises(ValueError, match="as many latents as targets"):
        latent_direction(torch.zeros(4, 2), target=0)


def test_encode_converts_float64_and_lists():
    images, _ = data(4, 0)
    vae = VAE(images.shape[1])
    codes = vae.encode(images)
    assert torch.equal(vae.encode(images.double()), codes)
    assert torch.equal(vae.encode(images.tolist()), codes)


def test_quadrature_likelihood_is_the_models_log_density():
    # The matrix-product form x . f(z) + c(f(z)) must equal the continuous Bernoulli's own log
    # density of every image at every latent point, as the model's obs site scores it.
    vae = VAE(data_dim=SIZE * SIZE, hidden_dim=32)
    fitted = VAEFit(vae, [0.0], 0.0)
    x, _ = data(3, 0)
    x = x.clamp(0.01, 0.99)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        direct = pyro.distributions.ContinuousBernoulli(logits=vae.decoder(z)).to_event(1)
        direct = direct.log_prob(x.unsqueeze(1)).double()
    assert torch.allclose(fitted._log_likelihood(x, z), direct, atol=1e-3)
    with pytest.raises(ValueError, match="2-D latent"):
        VAEFit(
            VAE(data_dim=SIZE * SIZE, latent_dim=3, hidden_dim=8), [0.0], 0.0
        ).log_prob_quadrature(x)


@pytest.mark.slow
def test_quadrature_is_the_marginal_the_iwae_bound_approaches():
    # A short fit: the bounds of a trained encoder, against log p(x) by quadrature over z.
    x, _ = data(800, 0)
    x_test, _ = data(20, 1)
    fitted = fit(x, hidden_dim=64, num_steps=300, batch_size=100, lr=3e-3, quiet=True, seed=0)
    exact = fitted.log_prob_quadrature(x_test)
    # The grid converges: a finer refined grid and a finer prior grid change nothing that matters.
    finer = fitted.log_prob_quadrature(x_test, step=0.05, refine=80)
    assert torch.allclose(exact, finer, atol=QUADRATURE_GRID_TOL)
    elbo = fitted.log_prob_lower_bound(x_test, num_particles=1, seed=0).double()
    iwae = fitted.log_prob_lower_bound(x_test, num_particles=1000, seed=0).double()
    # Bounds in expectation: on average over 20 images neither beats log p(x) beyond the IWAE
    # estimate's Monte Carlo noise, and more particles tighten the bound. This short fit's
    # encoder leaves the ELBO 2.4 nats and IWAE 1.3 nats below log p(x) on average.
    assert iwae.mean() <= exact.mean() + IWAE_NOISE
    assert elbo.mean() < iwae.mean()
    assert iwae.mean() > exact.mean() - IWAE_GAP
