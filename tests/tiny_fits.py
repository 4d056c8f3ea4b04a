"""Tiny fits of every family, each a function of the seed: what the protocol tests share.

Every public ``fit`` of the library is here, with sizes that take a second or less, so that the
tests of the fit protocol (``test_fitting``) and of sealing (``test_sealed``) cover them all.
"""

import pytest

from gdl_pyro.data import world
from gdl_pyro.data.tins import make_tins
from gdl_pyro.models import (
    autoregressive,
    box,
    diffusion,
    energy,
    flow,
    gan,
    gaussian,
    kde,
    mixture,
    ppca,
    vae,
    vae_points,
)
from gdl_pyro.models.classify import fit_class_conditional, fit_logistic

X = world.sample_land(300, seed=0)
PROBE = world.sample_land(40, seed=1)
IMAGES = make_tins(60, size=8, seed=0)[0].reshape(60, -1)
LABELLED = world.sample_land_labelled(300, seed=2)
NUTS = {"num_samples": 10, "warmup_steps": 10}

# name -> fit of data: every public fit with tiny sizes, taking the data and the common options.
FITTERS = {
    "box mle": lambda x, **common: box.fit(x, num_steps=20, **common),
    "box nuts": lambda x, **common: box.fit(x, method="nuts", **NUTS, **common),
    "gaussian mle": lambda x, **common: gaussian.fit(x, **common),
    "gaussian nuts": lambda x, **common: gaussian.fit(x, method="nuts", **NUTS, **common),
    "gaussian vi": lambda x, **common: gaussian.fit(
        x, method="vi", num_steps=5, num_draws=10, **common
    ),
    "mixture vi": lambda x, **common: mixture.fit(
        x, num_components=3, num_steps=5, num_draws=10, **common
    ),
    "mixture nuts": lambda x, **common: mixture.fit(
        x, num_components=2, method="nuts", **NUTS, **common
    ),
    "mixture em": lambda x, **common: mixture.fit_em(
        x, num_components=3, max_iter=20, **_no_quiet(common)
    ),
    "kde": lambda x, **common: kde.fit(x, bandwidths=[2.0, 4.0], **common),
    "flow": lambda x, **common: flow.fit(x, num_layers=1, num_steps=5, **common),
    "autoregressive": lambda x, **common: autoregressive.fit(
        x, num_components=3, hidden_dim=8, num_steps=5, **common
    ),
    "point vae": lambda x, **common: vae_points.fit(x, hidden_dim=8, num_steps=5, **common),
    "energy": lambda x, **common: energy.fit(
        x, hidden_dim=8, num_steps=5, quadrature_steps=(2.0,), **common
    ),
    "diffusion": lambda x, **common: diffusion.fit(
        x, hidden_dim=8, chain_steps=10, num_steps=5, **common
    ),
    "gan": lambda x, **common: gan.fit(x, hidden_dim=8, num_steps=5, **common),
    "ppca mle": lambda x, **common: ppca.fit(x, **common),
    "ppca svi": lambda x, **common: ppca.fit(x, method="svi", num_steps=5, **common),
    "vae": lambda x, **common: vae.fit(x, hidden_dim=8, num_steps=5, **common),
    "logistic": lambda x, **common: fit_logistic(
        x, _labels_for(x), num_classes=5, num_steps=5, **common
    ),
    "class conditional": lambda x, **common: fit_class_conditional(
        x, _labels_for(x), num_classes=5, num_components=2, num_steps=2, **common
    ),
}


def _labels_for(points):
    """The labels of ``LABELLED``'s first points, one per point (all of them for odd input)."""
    return LABELLED[1][: len(points)] if hasattr(points, "__len__") else LABELLED[1]


def _no_quiet(common: dict) -> dict:
    """The common options less ``quiet``, for fits that show no progress (closed forms, EM)."""
    return {key: value for key, value in common.items() if key != "quiet"}


def training_data(name: str):
    """The data ``FITS[name]`` trains on: images, labelled points or points."""
    if name in IMAGE_FITS:
        return IMAGES
    return LABELLED[0] if name in ("logistic", "class conditional") else X


# name -> seed -> fit. Families on points first, then images, then classifiers.
FITS = {
    name: (lambda seed, name=name: FITTERS[name](training_data(name), seed=seed, quiet=True))
    for name in FITTERS
}
IMAGE_FITS = {"ppca mle", "ppca svi", "vae"}


def data_of(name: str):
    """The data a fit of ``name`` takes: images or points."""
    return IMAGES if name in IMAGE_FITS else PROBE


# NUTS runs its chains' warmup: seconds per fit, where every other fit here takes a fraction of
# one. Tests over every fit mark these slow, so `make test-fast` never makes them.
SLOW_FITS = ("box nuts", "gaussian nuts", "mixture nuts")
# The energy is fitted in a blink, but its sample() runs NUTS on the potential: tests that draw
# from every fit pass it as ``also``.
SAMPLES_BY_NUTS = ("energy",)


def marked_slow(names, also=()) -> list:
    """Fit names as test parameters, those in ``SLOW_FITS`` (and ``also``) marked slow."""
    slow = {*SLOW_FITS, *also}
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


class _Fitted(dict):
    """``FITS[name](seed=0)``, made the first time a test asks for it and kept."""

    def __missing__(self, name):
        self[name] = FITS[name](seed=0)
        return self[name]


# The seed-0 fits the protocol, sealing and fuzz tests share: a fit is a value (nothing a test
# does through its methods changes it), so each is made once per process, and only if selected.
FITTED = _Fitted()
