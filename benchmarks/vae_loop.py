"""s07's VAE: a Pyro SVI step against a plain-PyTorch step on the same objective.

Both loops train the same encoder and decoder (``gdl_pyro.models.vae``) on minibatches of 128
tin images: one reparameterised draw z ~ q(z | x) per image, and the loss
-(log p(x | z) + log p(z) - log q(z | x)) per image, which is what Pyro's ``Trace_ELBO``
estimates, with Adam at a constant learning rate and each gradient element clipped at 10
(``ClippedAdam``'s clip). Pyro's loop is the library's own ``vae.fit``; the ratio of steps per
second is what Pyro's tracing costs per step.
"""

import time

import torch
import torch.distributions as tdist

from gdl_pyro.data.tins import make_tins
from gdl_pyro.models import vae

NUM_STEPS, BATCH, HIDDEN, LR = 300, 128, 256, 2e-3


def torch_seconds(module: vae.VAE, x: torch.Tensor) -> float:
    """NUM_STEPS of the negative ELBO per image in plain PyTorch, in seconds."""
    optim = torch.optim.Adam(module.parameters(), lr=LR)
    prior = tdist.Normal(torch.zeros(module.latent_dim), 1.0)
    start = time.perf_counter()
    for _ in range(NUM_STEPS):
        batch = x[torch.randperm(len(x))[:BATCH]]
        loc, scale = module.encoder(batch)
        q = tdist.Normal(loc, scale)
        z = q.rsample()
        log_lik = tdist.ContinuousBernoulli(logits=module.decoder(z)).log_prob(batch).sum(-1)
        loss = -(log_lik + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)).mean()
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(module.parameters(), 10.0)
        optim.step()
    return time.perf_counter() - start


def main() -> None:
    images, _ = make_tins(2000, seed=0)
    x = images.reshape(len(images), -1)
    print(f"\ns07's VAE, {NUM_STEPS} steps of {BATCH} images, {HIDDEN} wide (steps per second)")
    print(f"{'model':<18}{'Pyro fit':>10}{'PyTorch':>10}{'ratio':>8}")
    torch.manual_seed(0)
    pyro_fit = vae.fit(
        x, hidden_dim=HIDDEN, num_steps=NUM_STEPS, batch_size=BATCH, lr=LR, quiet=True, seed=0
    )
    plain = torch_seconds(vae.VAE(x.shape[1], hidden_dim=HIDDEN), x)
    pyro_rate, torch_rate = NUM_STEPS / pyro_fit.seconds, NUM_STEPS / plain
    print(f"{'VAE':<18}{pyro_rate:10.1f}{torch_rate:10.1f}{torch_rate / pyro_rate:8.2f}x")


if __name__ == "__main__":
    main()
