r"""The one interface of every fitted density model, and the state that each fit owns.

Every 2-D density family (``models.box``, ``models.gaussian``, ``models.mixture``,
``models.flow``) has a ``fit`` that answers the same questions the same way::

    fitted = family.fit(x, *, seed=None, quiet=False, device=None, **options)
    fitted.distribution()         # a Pyro distribution with event_shape (2,)
    fitted.log_prob(x)            # (N,) log density per point; -inf outside the support
    fitted.sample(n, seed=None)   # (n, 2)
    fitted.losses, fitted.seconds

``distribution()`` can go straight into a learner's own Pyro model: observed under a plate,
sampled, or used as a component or a prior. For a point fit (maximum likelihood) it is p_model
at the fitted parameters; for a Bayesian fit (NUTS or VI) it is the posterior predictive, and the
fit also holds its ``draws`` and gives its ArviZ ``inference_data()``.

Why a fit is a value and not a state
------------------------------------
Pyro keeps parameters in one global param store, under names such as ``AutoNormal.locs.locs``.
Two fits that share it share those names: a K = 5 mixture fails on K = 3's shapes, and a second
flow trains the first one's tensors. So each fit trains inside a param store of its own, Pyro's
``ParamStoreDict.scope`` (``gdl_pyro._state.ParamState``): the caller's store is set aside for
the fit and put back, tensor for tensor, when it ends; the fit keeps its own state and re-enters
it whenever its guide is evaluated later. Nothing in this package clears the caller's
param store.

Randomness works the same way (``gdl_pyro._state.seeded``): a fit runs on an RNG of its own,
seeded by ``seed``, and leaves the caller's torch, NumPy and Python RNG states as they were. With
``seed=None`` the fit's seed is one draw from torch's global RNG, so ``pyro.set_rng_seed`` at the
top of a notebook still makes everything after it reproducible.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyro
import torch
from pyro import poutine

from gdl_pyro._arviz import az
from gdl_pyro._state import Timer, on_device, seeded
from gdl_pyro._validation import as_count, as_points
from gdl_pyro.compare import vi_loo
from gdl_pyro.convert import to_inference_data
from gdl_pyro.diagnostics import vi_khat
from gdl_pyro.distributions import EqualWeightMixture
from gdl_pyro.infer import fit_mcmc, fit_svi, guide_draws, sample_guide

__all__ = ["DensityFit", "NUTSFit", "PointFit", "PosteriorFit", "VIFit", "nuts_fit", "vi_fit"]


class DensityFit:
    """What every fitted 2-D density model answers. Subclasses define ``distribution``.

    Attributes
    ----------
    name : str
        A short label for tables and legends.
    losses : list of float
        The training loss at each step (empty for a closed form).
    seconds : float
        Wall-clock time of the fit.
    """

    def __init__(self, name: str, losses: list[float], seconds: float):
        self.name, self.losses, self.seconds = name, list(losses), float(seconds)

    def distribution(self) -> pyro.distributions.Distribution:
        raise NotImplementedError

    def log_prob(self, x) -> torch.Tensor:
        """log p(x_i) of each point under ``distribution()``: shape (N,); -inf off the support."""
        x = as_points(x, allow_empty=True)
        with torch.no_grad():
            return self.distribution().log_prob(x)

    def sample(self, num_samples: int, seed: int | None = None) -> torch.Tensor:
        """``num_samples`` points from ``distribution()``, shape (n, 2); see ``seeded`` for seed."""
        num_samples = as_count(num_samples, "num_samples")
        with seeded(seed), torch.no_grad():
            return self.distribution().sample((num_samples,))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, steps={len(self.losses)}, "
            f"seconds={self.seconds:.2f})"
        )


class PointFit(DensityFit):
    """A fit with one parameter value (maximum likelihood): ``distribution()`` is p_model there."""

    def __init__(
        self, name: str, make: Callable[[], torch.distributions.Distribution], losses, seconds
    ):
        super().__init__(name, losses, seconds)
        self._make = make

    def distribution(self):
        return self._make()


class PosteriorFit(DensityFit):
    """A Bayesian fit: draws of the parameters, and the posterior predictive as its distribution.

    Parameters
    ----------
    make : callable
        ``make(**draws)`` -> the distribution of a point given each draw, batch shape (S,).
    draws : dict of str to torch.Tensor
        Posterior (NUTS) or guide (VI) draws, each with a leading draw dimension S.
    inference_data : callable
        () -> az.InferenceData, built on first use and kept.
    """

    def __init__(self, name, make, draws, losses, seconds, inference_data: Callable):
        super().__init__(name, losses, seconds)
        self._make, self.draws = make, {k: v.detach().cpu() for k, v in draws.items()}
        self._inference_data, self._idata = inference_data, None

    @property
    def num_draws(self) -> int:
        return len(next(iter(self.draws.values())))

    def distribution(self) -> EqualWeightMixture:
        """p(x | data) = (1/S) sum_s p(x | theta_s), the posterior predictive."""
        return EqualWeightMixture(self._make, self.draws)

    def log_density(self, x) -> torch.Tensor:
        """log p(x_i | theta_s) for every draw s and point i: shape (S, N)."""
        x = as_points(x, allow_empty=True)
        with torch.no_grad():
            return self.distribution().component_log_prob(x).T

    def inference_data(self):
        """ArviZ InferenceData: posterior draws, per-draw log-likelihood, observed data."""
        if self._idata is None:
            self._idata = self._inference_data()
        return self._idata


class NUTSFit(PosteriorFit):
    """A posterior sampled by NUTS; ``mcmc`` is Pyro's MCMC run (``.summary()``, diagnostics)."""

    def __init__(self, name, make, mcmc, losses, seconds, inference_data, relabel=None):
        draws = mcmc.get_samples()
        draws = relabel(draws) if relabel else draws
        super().__init__(name, make, draws, losses, seconds, inference_data)
        self.mcmc = mcmc

    def loo(self):
        """PSIS-LOO on the training data (``az.loo``) from every chain's draws; ArviZ warns when
        a Pareto k-hat is above ``good_k`` for this number of draws."""
        return az.loo(self.inference_data(), pointwise=True)


class VIFit(PosteriorFit):
    """A posterior approximated by SVI with a guide, in a param store of the fit's own.

    ``draws`` are guide draws taken when the fit ended; the guide itself is evaluated again only
    inside ``with fitted.svi.scope():``, which ``median``, ``guide_draws`` and ``khat`` do.
    """

    def __init__(
        self, name, make, svi, guide, model, x, model_kwargs, device, num_draws, seconds, relabel
    ):
        self.svi, self.guide, self.model = svi, guide, model
        self._x, self._model_kwargs, self.device = x, model_kwargs, device
        with self._evaluating() as x:
            draws = sample_guide(self.guide, x, num_draws=num_draws, **model_kwargs)
        draws = {k: v.cpu() for k, v in draws.items()}
        draws = relabel(draws) if relabel else draws
        super().__init__(name, make, draws, svi.losses, seconds, self._make_inference_data)

    @contextmanager
    def _evaluating(self, seed=None) -> Iterator[torch.Tensor]:
        with seeded(seed, self.device), on_device(self.device), self.svi.scope():
            yield self._x.to(self.device)

    def guide_draws(self, num_draws: int, seed: int | None = None):
        """(draws, log_weights): new guide draws and log p(x, theta) - log q(theta) of each."""
        with self._evaluating(seed) as x:
            draws, log_weights = guide_draws(
                self.model, self.guide, x, num_draws=num_draws, **self._model_kwargs
            )
        return {k: v.cpu() for k, v in draws.items()}, log_weights.cpu()

    def median(self) -> dict[str, torch.Tensor]:
        """The guide's median of each latent site (a point estimate), on the CPU."""
        with self._evaluating(), torch.no_grad():
            return {name: value.detach().cpu() for name, value in self.guide.median().items()}

    def loo(self, num_draws: int = 4000, seed: int | None = None):
        """PSIS-LOO on the training data with ratios corrected for the guide (``vi_loo``)."""
        with self._evaluating(seed) as x:
            return vi_loo(self.model, self.guide, x, num_draws=num_draws, **self._model_kwargs)

    def khat(self, num_draws: int = 1000, seed: int | None = None) -> float:
        """PSIS k-hat of the guide as an importance sampler for the posterior (Pyro's)."""
        with self._evaluating(seed) as x:
            return vi_khat(self.model, self.guide, x, num_draws=num_draws, **self._model_kwargs)

    def _make_inference_data(self):
        return to_inference_data(None, self.model, self._x, draws=self.draws, **self._model_kwargs)


def nuts_fit(
    name: str,
    model: Callable,
    x: torch.Tensor,
    make: Callable,
    *,
    seed=None,
    quiet=False,
    device=None,
    num_samples=500,
    warmup_steps=500,
    num_chains=2,
    init_strategy=None,
    relabel: Callable[[dict], dict] | None = None,
    **model_kwargs,
) -> NUTSFit:
    """Sample ``model``'s posterior given ``x`` by NUTS and wrap it as a ``NUTSFit``.

    ``relabel`` maps draws (any leading dims) to draws, e.g. ``mixture.relabel`` to undo label
    switching; the fit's draws and InferenceData are the relabelled ones.
    """
    device = torch.device("cpu") if device is None else device
    with Timer() as timer, on_device(device):
        mcmc = fit_mcmc(
            model,
            x.to(device),
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            num_chains=num_chains,
            seed=seed,
            quiet=quiet,
            init_strategy=init_strategy,
            **model_kwargs,
        )
    x = x.cpu()
    return NUTSFit(
        name,
        make,
        mcmc,
        [],
        timer.seconds,
        lambda: to_inference_data(mcmc, model, x, relabel=relabel, **model_kwargs),
        relabel=relabel,
    )


def vi_fit(
    name: str,
    model: Callable,
    guide: Callable,
    x: torch.Tensor,
    make: Callable,
    *,
    marginal: Callable | None = None,
    seed=None,
    quiet=False,
    device=None,
    num_steps=1500,
    lr=0.02,
    loss=None,
    optim=None,
    num_draws=1000,
    relabel: Callable[[dict], dict] | None = None,
    **model_kwargs,
) -> VIFit:
    """Fit ``guide`` to ``model`` by SVI (loss per data point) and wrap it as a ``VIFit``.

    ``marginal`` is the model without discrete latents (for draws, k-hat and the
    log-likelihood); ``model`` itself by default. ``relabel`` is applied to the kept draws, as
    in ``nuts_fit``, so that a VI and a NUTS fit of a mixture label components alike.
    """
    device = torch.device("cpu") if device is None else device
    scale = 1.0 / x.shape[0]
    with Timer() as timer, seeded(seed, device) as fit_seed:
        with on_device(device):
            svi = fit_svi(
                poutine.scale(model, scale=scale),
                poutine.scale(guide, scale=scale),
                x.to(device),
                num_steps=num_steps,
                lr=lr,
                loss=loss,
                optim=optim,
                seed=fit_seed,
                quiet=quiet,
                desc=name,
                **model_kwargs,
            )
        fitted = VIFit(
            name,
            make,
            svi,
            guide,
            marginal or model,
            x.cpu(),
            model_kwargs,
            device,
            num_draws,
            0.0,
            relabel,
        )
    fitted.seconds = timer.seconds
    return fitted
