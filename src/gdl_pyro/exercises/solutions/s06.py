"""Reference solutions of s06's exercises."""

import math

import torch

from gdl_pyro.data import world


def loo_point(loglik, log_weights):
    """s06.1: p(y_i | y_-i) = 1 / E[1 / p(y_i | theta)], the draws weighted by w_s, in logs."""
    return torch.logsumexp(log_weights, 0) - torch.logsumexp(log_weights - loglik, 0)


def heldout_kl(log_q, num_points):
    """s06.2: the mean NLL of fresh points of p_data minus its entropy; sd / sqrt(n)."""
    nll = -log_q(world.sample_land(num_points))
    return nll.mean() - math.log(world.land_area()), nll.std() / math.sqrt(num_points)


def better_by(log_q_a, log_q_b, num_points):
    """s06.3: both fits score the same points; the mean and error of the paired differences."""
    x = world.sample_land(num_points)
    difference = log_q_a(x) - log_q_b(x)
    return difference.mean(), difference.std() / math.sqrt(num_points)
