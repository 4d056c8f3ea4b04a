"""Reference solutions of s07's exercises."""

import pyro.distributions as dist
import torch


def wider_direction(z, labels):
    """s07.1: fit (height, width) = z B + c by least squares, then solve B^T dz = (0, 1)."""
    design = torch.cat([z, torch.ones(len(z), 1)], 1)
    B = torch.linalg.lstsq(design, labels).solution[:-1]
    return torch.linalg.solve(B.T, B.new_tensor([0.0, 1.0]))


def exact_posterior(x, W, mu, sigma):
    """s07.2: p(z | x) = N(M^-1 W^T (x - mu), sigma^2 M^-1), where M = W^T W + sigma^2 I."""
    M = W.T @ W + sigma**2 * torch.eye(W.shape[1])
    M_inv = torch.linalg.inv(M)
    return dist.MultivariateNormal((x - mu) @ W @ M_inv, covariance_matrix=sigma**2 * M_inv)
