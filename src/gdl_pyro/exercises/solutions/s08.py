"""Reference solutions of s08's exercises."""

import torch

from gdl_pyro.data import world


def class_posterior(log_prior, log_likelihood):
    """s08.1: p(y | x) = p(y) p(x | y) / p(x), normalised in logs (softmax over y)."""
    return torch.softmax(log_prior + log_likelihood, dim=-1)


def log_evidence(log_prior, log_likelihood):
    """s08.2: log p(x) = log sum_y p(y) p(x | y), summed in logs."""
    return torch.logsumexp(log_prior + log_likelihood, dim=-1)


def sample_given(land_mass, num_samples):
    """s08.3: rejection from p_data(x, y): points from p_data, kept when on the land mass."""
    kept, count = [], 0
    draws = int(num_samples / world.land_mass_prior()[land_mass]) + 100  # about enough at once
    while count < num_samples:
        x = world.sample_land(draws)
        kept.append(x[world.land_mass_of(x) == land_mass])
        count += len(kept[-1])
    return torch.cat(kept)[:num_samples]
