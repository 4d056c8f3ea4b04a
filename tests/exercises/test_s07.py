"""s07's exercises: wrong answers, each failing with the message that names its mistake."""

import pyro.distributions as dist
import torch

from gdl_pyro.exercises.solutions.s07 import exact_posterior, wider_direction


def _readout(z, labels):
    design = torch.cat([z, torch.ones(len(z), 1)], 1)
    return torch.linalg.lstsq(design, labels).solution[:-1]


def taller(z, labels):
    return torch.linalg.solve(_readout(z, labels).T, torch.tensor([1.0, 0.0]))


def unit_length(z, labels):
    step = wider_direction(z, labels)
    return step / step.norm()


def readout_column(z, labels):
    return _readout(z, labels)[:, 1]


def _parts(x, W, mu, sigma):
    M = W.T @ W + sigma**2 * torch.eye(W.shape[1])
    return M, torch.linalg.inv(M)


def least_squares_mean(x, W, mu, sigma):
    _, M_inv = _parts(x, W, mu, sigma)
    loc = (x - mu) @ W @ torch.linalg.inv(W.T @ W)
    return dist.MultivariateNormal(loc, covariance_matrix=sigma**2 * M_inv)


def covariance_without_sigma(x, W, mu, sigma):
    _, M_inv = _parts(x, W, mu, sigma)
    return dist.MultivariateNormal((x - mu) @ W @ M_inv, covariance_matrix=M_inv)


def mean_field(x, W, mu, sigma):
    _, M_inv = _parts(x, W, mu, sigma)
    scale = (sigma**2 * M_inv.diagonal()).sqrt()
    return dist.Normal((x - mu) @ W @ M_inv, scale).to_event(1)


def mu_not_subtracted(x, W, mu, sigma):
    _, M_inv = _parts(x, W, mu, sigma)
    return dist.MultivariateNormal(x @ W @ M_inv, covariance_matrix=sigma**2 * M_inv)


def divides_by_the_diagonal(x, W, mu, sigma):
    M, M_inv = _parts(x, W, mu, sigma)
    return dist.MultivariateNormal((x - mu) @ W / M.diagonal(), covariance_matrix=sigma**2 * M_inv)


def two_dimensions_only(x, W, mu, sigma):
    M_inv = torch.linalg.inv(W.T @ W + sigma**2 * torch.eye(2))
    return dist.MultivariateNormal((x - mu) @ W @ M_inv, covariance_matrix=sigma**2 * M_inv)


def as_a_tuple(x, W, mu, sigma):
    posterior = exact_posterior(x, W, mu, sigma)
    return posterior.loc, posterior.covariance_matrix


WRONG = {
    "s07.1": [
        (taller, "makes the tin taller"),
        (unit_length, "the direction is right"),
        (readout_column, "the read-out's width column"),
        (lambda z, labels: torch.tensor([0.0, 1.0]), "a step in (height, width), not in z"),
        (lambda z, labels: -wider_direction(z, labels), "narrower"),
        (lambda z, labels: torch.ones(1024), "must have shape (2,)"),
    ],
    "s07.2": [
        (least_squares_mean, "least-squares projection"),
        (covariance_without_sigma, "your covariance is M^{-1}; it is sigma^2 M^{-1}"),
        (mean_field, "your covariance is diagonal"),
        (mu_not_subtracted, "subtract mu"),
        (divides_by_the_diagonal, "divided by M's diagonal"),
        (two_dimensions_only, "3-D latent raised RuntimeError"),
        (as_a_tuple, "return the posterior as a distribution"),
    ],
}

# Its check takes most of a second (PPCA of 1,000 tins, 21 decoded tins measured): slow loop only.
SLOW = {"s07.1"}
