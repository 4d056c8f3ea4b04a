"""s09's exercises: wrong answers, each failing with the message that names its mistake."""

import math

import numpy as np
import pyro
import torch

from gdl_pyro.data import world
from gdl_pyro.distributions import PiecewiseUniform
from gdl_pyro.exercises.solutions.s09 import wrapped_lon_log_prob
from gdl_pyro.models import kde


def _lon_first(land_grid, *, uniform_lon=False, whole_column=False, lat_first=False, plate=True):
    """A lon-first model built from ``land_grid`` with one of a learner's mistakes."""

    def model(x=None, *, num_data=None):
        land = land_grid()
        n = len(x) if x is not None else num_data
        obs_lon = None if x is None else x[:, 0]
        obs_lat = None if x is None else x[:, 1]
        with pyro.plate("data", n) if plate else _no_plate():
            if lat_first:  # the section's order, with histograms
                lat = pyro.sample(
                    "lat", PiecewiseUniform(-90.0, 90.0, land.sum(0).log()).expand([n]), obs=obs_lat
                )
                row = ((lat + 90.0) / 0.25).floor().clamp(0, 719).long()
                pyro.sample(
                    "lon", PiecewiseUniform(-180.0, 180.0, land[:, row].T.log()), obs=obs_lon
                )
                return
            lon_logits = torch.zeros(1440) if uniform_lon else land.sum(1).log()
            p_lon = PiecewiseUniform(-180.0, 180.0, lon_logits).expand([n])
            lon = pyro.sample("lon", p_lon, obs=obs_lon)
            column = ((lon + 180.0) / 0.25).floor().clamp(0, 1439).long()
            logits = torch.zeros(n, 720) if whole_column else land[column].log()
            pyro.sample("lat", PiecewiseUniform(-90.0, 90.0, logits), obs=obs_lat)

    return model


class _no_plate:
    def __enter__(self):
        return None

    def __exit__(self, *args):
        return False


def _south_up():
    return world.land_mask().flip(0).T.float()


def _north_up():  # the mask's rows as they are: row 0 is the north
    return world.land_mask().T.float()


def _independent(x=None, *, num_data=None):
    """p(lon) p(lat): the latitude's marginal in place of its conditional."""
    land = _south_up()
    n = len(x) if x is not None else num_data
    with pyro.plate("data", n):
        pyro.sample(
            "lon",
            PiecewiseUniform(-180.0, 180.0, land.sum(1).log()).expand([n]),
            obs=None if x is None else x[:, 0],
        )
        pyro.sample(
            "lat",
            PiecewiseUniform(-90.0, 90.0, land.sum(0).log()).expand([n]),
            obs=None if x is None else x[:, 1],
        )


def _plain(lon, centres, bandwidth):
    kernels = torch.distributions.Normal(centres, bandwidth).log_prob(lon[:, None])
    return kernels.logsumexp(-1) - math.log(len(centres))


def _mirror(lon, centres, bandwidth):  # reflected at +-180, as latitude is at the poles
    images = torch.cat([centres, 360.0 - centres, -360.0 - centres])
    kernels = torch.distributions.Normal(images, bandwidth).log_prob(lon[:, None])
    return kernels.logsumexp(-1) - math.log(len(centres))


def _over_3n(lon, centres, bandwidth):
    return wrapped_lon_log_prob(lon, centres, bandwidth) - math.log(3)


def _east_only(lon, centres, bandwidth):
    images = torch.cat([centres, centres + 360.0])
    kernels = torch.distributions.Normal(images, bandwidth).log_prob(lon[:, None])
    return kernels.logsumexp(-1) - math.log(len(centres))


def _as_variance(lon, centres, bandwidth):
    return wrapped_lon_log_prob(lon, centres, bandwidth**0.5)


CANDIDATES = np.geomspace(1.0, 20.0, 15)


def _on_training_points(x_train, x_valid):
    scores = [kde.MapKDE(x_train, h).log_prob(x_train).mean().item() for h in CANDIDATES]
    return float(CANDIDATES[np.argmax(scores)])


def _scott(x_train, x_valid):
    return float(x_train.std(0).mean() * len(x_train) ** (-1 / 6))


WRONG = {
    "s09.1": [
        (_lon_first(_south_up, lat_first=True), 'samples "lat" first'),
        (_lon_first(_north_up), "upside down"),
        (_lon_first(_south_up, uniform_lon=True), "your p(lon) is uniform"),
        (_lon_first(_south_up, whole_column=True), "sea included"),
        (_lon_first(_south_up, plate=False), "not inside a plate"),
        (_independent, "ranges from"),
        (
            lambda x=None, *, num_data=None: pyro.sample(
                "obs", world.LandUniform().expand([len(x)]).to_event(1), obs=x
            ),
            "one site per coordinate",
        ),
    ],
    "s09.2": [
        (_plain, "lost off the map"),
        (_east_only, "lost off the map"),
        (_mirror, "jumps at the seam"),
        (_over_3n, "divided by the 3N kernels"),
        (_as_variance, "standard deviation in degrees"),
        (lambda lon, centres, h: wrapped_lon_log_prob(lon, centres, h).exp(), "density itself"),
    ],
    "s09.3": [
        (_on_training_points, "If you scored x_train itself"),
        (_scott, "too wide"),
        (lambda x_train, x_valid: 1.5, "The section's 1.5 degrees suits 20,000 points"),
        (lambda x_train, x_valid: 10.0, "too wide"),
        (lambda x_train, x_valid: -2.0, "> 0"),
    ],
}

SLOW = {"s09.3"}
