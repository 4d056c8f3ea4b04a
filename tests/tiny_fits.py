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
NUTS = {"num_samples": 10, "warmup_steps": 10, "quiet": True}

# name -> seed -> fit. Families on points first, then images, then classifiers.
FITS = {
    "box mle": lambda seed: box.fit(X, num_steps=20, quiet=True, seed=seed),
    "box nuts": lambda seed: box.fit(X, method="nuts", seed=seed, **NUTS),
    "gaussian mle": lambda seed: gaussian.fit(X, seed=seed),
    "gaussian nuts": lambda seed: gaussian.fit(X, method="nuts", seed=seed, **NUTS),
    "gaussian vi": lambda seed: gaussian.fit(
        X, method="vi", num_steps=20, num_draws=10, quiet=True, seed=seed
    ),
    "mixture vi": lambda seed: mixture.fit(
        X, num_components=3, num_steps=20, num_draws=10, quiet=True, seed=seed
    ),
    "mixture nuts": lambda seed: mixture.fit(X, num_components=2, method="nuts", seed=seed, **NUTS),
    "mixture em": lambda seed: mixture.fit_em(X, num_components=3, max_iter=20, seed=seed),
    "kde": lambda seed: kde.fit(X, bandwidths=[2.0, 4.0], seed=seed),
    "flow": lambda seed: flow.fit(X, num_layers=1, num_steps=5, quiet=True, seed=seed),
    "autoregressive": lambda seed: autoregressive.fit(
        X, num_components=3, hidden_dim=8, num_steps=5, quiet=True, seed=seed
    ),
    "point vae": lambda seed: vae_points.fit(X, hidden_dim=8, num_steps=5, quiet=True, seed=seed),
    "energy": lambda seed: energy.fit(
        X, hidden_dim=8, num_steps=5, quadrature_steps=(2.0,), quiet=True, seed=seed
    ),
    "diffusion": lambda seed: diffusion.fit(
        X, hidden_dim=8, chain_steps=10, num_steps=5, quiet=True, seed=seed
    ),
    "gan": lambda seed: gan.fit(X, hidden_dim=8, num_steps=5, quiet=True, seed=seed),
    "ppca mle": lambda seed: ppca.fit(IMAGES, seed=seed),
    "ppca svi": lambda seed: ppca.fit(IMAGES, method="svi", num_steps=5, quiet=True, seed=seed),
    "vae": lambda seed: vae.fit(IMAGES, hidden_dim=8, num_steps=5, quiet=True, seed=seed),
    "logistic": lambda seed: fit_logistic(
        *LABELLED, num_classes=5, num_steps=5, quiet=True, seed=seed
    ),
    "class conditional": lambda seed: fit_class_conditional(
        *LABELLED, num_classes=5, num_components=2, num_steps=5, quiet=True, seed=seed
    ),
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
