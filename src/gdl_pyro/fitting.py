r"""The one protocol of every fit, written once, and the preamble that every ``fit`` runs.

Every family's ``fit`` returns a value of ``Fit``, which answers the same questions the same
way::

    fitted = family.fit(x, *, seed=None, quiet=False, device=None, **options)
    fitted.name, fitted.family        # a label for tables, and the family it belongs to
    fitted.nll_kind                   # "exact", "upper_bound" or "none"
    fitted.losses, fitted.seconds     # the loss at each step, the fit's wall-clock time
    fitted.sample(n, seed=None)       # (n, *event_shape)
    fitted.distribution()             # a Pyro distribution: use it in your own model
    fitted.log_prob(x)                # (N,) log density per point; -inf outside the support
    fitted.log_score(x)               # what the NLL is made of: log_prob, or a lower bound

A family without a density (a GAN; a VAE or a diffusion model, whose p(x) is an intractable
integral; a discriminative classifier, which models p(y | x) and not p(x)) raises
``NoDensityError`` from ``distribution`` and ``log_prob``, says why, and offers what it has
instead: ``log_prob_lower_bound`` for the VAE and the diffusion model, samples for the GAN.

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
it whenever its guide is evaluated later (``VIFit.guide`` does so by itself, so
``Predictive(model, guide=fitted.guide)`` runs with the fit's parameters, never the caller's).
Nothing in this package clears the caller's param store.

Randomness works the same way (``gdl_pyro._state.seeded``): a fit runs on an RNG of its own,
seeded by ``seed``, and leaves the caller's torch, NumPy and Python RNG states as they were. With
``seed=None`` the fit's seed is one draw from torch's global RNG, so ``pyro.set_rng_seed`` at the
top of a notebook still makes everything after it reproducible.

And the fit's Pyro program runs sealed (``gdl_pyro._sealed.sealed``): a fit, ``sample``,
``log_prob`` or a bound called inside the caller's model, ``Predictive`` or ``pyro.plate("data")``
shows none of its sites to the caller's handlers and sees none of theirs.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pyro
import torch
from pyro import poutine

from gdl_pyro._arviz import az
from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, Timer, as_device, on_device, seeded
from gdl_pyro._validation import as_count, as_points
from gdl_pyro.compare import vi_loo
from gdl_pyro.convert import to_inference_data
from gdl_pyro.diagnostics import vi_khat
from gdl_pyro.distributions import EqualWeightMixture
from gdl_pyro.infer import fit_mcmc, fit_svi, guide_draws, sample_guide

__all__ = [
    "NLL_KINDS",
    "Fit",
    "NUTSFit",
    "NoDensityError",
    "PointFit",
    "PosteriorFit",
    "Setup",
    "VIFit",
    "checked_model",
    "method_options",
    "nuts_fit",
    "preamble",
    "vi_fit",
]

# What a fit's NLL is: exact (log_prob), an upper bound (from log_prob_lower_bound: a variational
# bound), or none (no density at all). No family here offers an estimate of unknown sign: where a
# table needs a number for a fit without a density, it names what it computed instead
# (gdl_pyro.taxonomy's "kde_of_samples").
NLL_KINDS = ("exact", "upper_bound", "none")


class NoDensityError(NotImplementedError):
    """Raised by ``distribution()`` and ``log_prob`` of a fit that has no density to give.

    The message says why (no density at all, an intractable integral, or a model of p(y | x)
    rather than p(x)) and what the fit offers instead. It is a ``NotImplementedError``, so code
    that already catches that keeps working.
    """


def checked_model(model, default: Callable) -> Callable:
    """The program a ``fit(..., model=)`` runs: ``default`` when ``model`` is None.

    A given ``model`` must be a Pyro program (a callable) that is the same program as
    ``default``, with the same sites, written out by hand (as the chapter's sections do): the
    fit's distribution is built from the family's own formula, not from ``model``.
    """
    if model is None:
        return default
    if not callable(model):
        raise ValueError(
            f"model must be a Pyro program (a callable) with the sites of {default.__name__}; "
            f"got {type(model).__name__}"
        )
    return model


@dataclass
class Setup:
    """What ``preamble`` hands a ``fit``: the checked data, the device, the seed, a store."""

    x: torch.Tensor  # the data, checked, a copy on ``device`` (never the caller's tensor)
    device: torch.device
    seed: int  # the fit's own seed (drawn from torch's RNG when the caller gave None)
    params: ParamState  # a param store of the fit's own, empty
    timer: Timer  # ``timer.seconds`` is the block's wall-clock time once it has ended


@contextmanager
def preamble(x, *, seed=None, device=None, check: Callable = as_points) -> Iterator[Setup]:
    """The start of every ``fit``: check x, pick the device, seed, own store, seal, time.

    Parameters
    ----------
    x : array-like
        The data, checked by ``check`` (points of shape (N, 2) by default).
    seed : int, optional
        The fit's own seed; the caller's RNG states are put back when the block ends.
    device : str or torch.device, optional
        Where to fit: checked against what torch can run here; the data's device by default.
    check : callable
        x -> a tensor, or ValueError naming the argument.

    Yields
    ------
    Setup
    """
    x = check(x)
    device = as_device(device, x)
    with sealed(), Timer() as timer, seeded(seed, device) as fit_seed, on_device(device):
        yield Setup(x.to(device, copy=True), device, fit_seed, ParamState(), timer)


def method_options(method: str, given: Mapping, defaults: Mapping[str, Mapping]) -> dict:
    """The options of ``method``: its defaults, overridden by those given (not None).

    An option given for a method that does not use it is refused, never silently ignored.

    Parameters
    ----------
    method : str
        One of ``defaults``' keys.
    given : mapping
        The caller's options; None means "not given".
    defaults : mapping of str to mapping
        For each method, the options it uses and their defaults.
    """
    if method not in defaults:
        raise ValueError(f"method must be one of {sorted(defaults)}; got {method!r}")
    used = dict(defaults[method])
    for name, value in given.items():
        if value is None:
            continue
        if name not in used:
            users = [other for other, options in defaults.items() if name in options]
            raise ValueError(
                f"{name} is not used by method={method!r}; it is an option of "
                f"method={' or '.join(map(repr, users))}"
            )
        used[name] = value
    return used


class Fit:
    """What every fit is: a value that owns its state, with one interface for every family.

    Parameters
    ----------
    name : str
        A short label for tables and legends.
    family : str
        The family: "box", "gaussian", "mixture", "flow", "vae" (both VAEs), "logistic", ...
    losses : sequence of float
        The training loss at each step (empty for a closed form or a sampler).
    seconds : float
        Wall-clock time of the fit.
    nll_kind : str, optional
        One of ``NLL_KINDS``; the class's own by default.

    Subclasses define ``distribution`` (or set ``nll_kind`` to "upper_bound" or "none" and say
    why in ``no_density``), and ``_sample`` when they sample otherwise than from it.
    """

    nll_kind = "exact"
    event_shape: tuple[int, ...] = (2,)
    no_density = "this fit has no density"

    def __init__(self, name: str, family: str, *, losses=(), seconds: float = 0.0, nll_kind=None):
        self.name, self.family = str(name), str(family)
        self.losses, self.seconds = [float(loss) for loss in losses], float(seconds)
        if nll_kind is not None:
            self.nll_kind = nll_kind
        if self.nll_kind not in NLL_KINDS:
            raise ValueError(f"nll_kind must be one of {NLL_KINDS}; got {self.nll_kind!r}")

    def distribution(self) -> pyro.distributions.Distribution:
        """p_model as a Pyro distribution with ``event_shape``; NoDensityError if there is none."""
        raise NoDensityError(self.no_density)

    def _as_input(self, x, *, allow_empty: bool = False) -> torch.Tensor:
        """x checked as data of this fit (points by default)."""
        return as_points(x, allow_empty=allow_empty)

    def log_prob(self, x) -> torch.Tensor:
        """log p(x_i) of each point under ``distribution()``: shape (N,); -inf off the support."""
        x = self._as_input(x, allow_empty=True)
        distribution = self.distribution()
        if x.shape[0] == 0:  # torch's own support check cannot reshape an empty batch
            return torch.empty(0)
        with sealed(), torch.no_grad():
            return distribution.log_prob(x)

    def log_score(self, x, *, seed: int | None = None, **options) -> torch.Tensor:
        """What this fit's NLL is made of, per point, as ``nll_kind`` says: shape (N,).

        "exact": ``log_prob(x)`` (deterministic: ``seed`` has nothing to seed, and any other
        option is refused). "upper_bound": ``log_prob_lower_bound(x, seed=seed, **options)``, a
        lower bound on log p(x_i), so its negative mean bounds the NLL above. "none":
        NoDensityError.
        """
        if self.nll_kind == "exact":
            if options:  # a density takes no options: refuse them rather than drop them
                raise ValueError(f"{sorted(options)} are options of a bound; {self.name} is exact")
            return self.log_prob(x)  # exact: nothing random, so no seed to use
        if self.nll_kind == "upper_bound":
            return self.log_prob_lower_bound(x, seed=seed, **options)
        raise NoDensityError(self.no_density)

    def sample(self, num_samples: int, seed: int | None = None) -> torch.Tensor:
        """``num_samples`` draws of x, shape (n, *event_shape); see ``seeded`` for ``seed``."""
        num_samples = as_count(num_samples, "num_samples")
        with sealed(), seeded(seed), torch.no_grad():
            if num_samples == 0:
                return torch.empty(0, *self.event_shape)
            return self._sample(num_samples)

    def _sample(self, num_samples: int) -> torch.Tensor:
        """Draws from ``distribution()`` (inside ``sample``'s seal and RNG)."""
        return self.distribution().sample((num_samples,))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, family={self.family!r}, "
            f"nll_kind={self.nll_kind!r}, steps={len(self.losses)}, seconds={self.seconds:.2f})"
        )


class PointFit(Fit):
    """A fit with one parameter value (maximum likelihood): ``distribution()`` is p_model there."""

    def __init__(self, name: str, family: str, make: Callable, *, losses=(), seconds=0.0):
        super().__init__(name, family, losses=losses, seconds=seconds)
        self._make = make

    def distribution(self):
        return self._make()


class PosteriorFit(Fit):
    """A Bayesian fit: draws of the parameters, and the posterior predictive as its distribution.

    Parameters
    ----------
    name, family : str
        As for every fit.
    make : callable
        ``make(**draws)`` -> the distribution of a point given each draw, batch shape (S,).
    draws : dict of str to torch.Tensor
        Posterior (NUTS) or guide (VI) draws, each with a leading draw dimension S.
    inference_data : callable
        () -> az.InferenceData, built on first use and kept.
    """

    def __init__(self, name, family, make, draws, inference_data: Callable, *, losses, seconds):
        super().__init__(name, family, losses=losses, seconds=seconds)
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
        if x.shape[0] == 0:
            return torch.empty(self.num_draws, 0)
        with sealed(), torch.no_grad():
            return self.distribution().component_log_prob(x).T

    def inference_data(self):
        """ArviZ InferenceData: posterior draws, per-draw log-likelihood, observed data."""
        if self._idata is None:
            with sealed():
                self._idata = self._inference_data()
        return self._idata


class NUTSFit(PosteriorFit):
    """A posterior sampled by NUTS; ``mcmc`` is Pyro's MCMC run (``.summary()``, diagnostics)."""

    def __init__(self, name, family, make, mcmc, inference_data, *, seconds, relabel=None):
        draws = mcmc.get_samples()
        draws = relabel(draws) if relabel else draws
        super().__init__(name, family, make, draws, inference_data, losses=(), seconds=seconds)
        self.mcmc = mcmc

    def loo(self):
        """PSIS-LOO on the training data (``az.loo``) from every chain's draws; ArviZ warns when
        a Pareto k-hat is above ``good_k`` for this number of draws."""
        return az.loo(self.inference_data(), pointwise=True)


class VIFit(PosteriorFit):
    """A posterior approximated by SVI with a guide, in a param store of the fit's own.

    ``draws`` are guide draws taken when the fit ended. ``guide`` runs the guide with this fit's
    parameters wherever it is called (``Predictive(model, guide=fitted.guide)`` included): it
    enters the fit's own param store for the call and puts the caller's back after it.
    """

    def __init__(
        self, name, family, make, svi, guide, model, x, model_kwargs, device, num_draws, relabel
    ):
        self.svi, self._guide, self.model = svi, guide, model
        self._x, self._model_kwargs, self.device = x, model_kwargs, device
        with self._evaluating() as x:
            draws = sample_guide(self._guide, x, num_draws=num_draws, **model_kwargs)
        draws = {k: v.cpu() for k, v in draws.items()}
        draws = relabel(draws) if relabel else draws
        super().__init__(
            name,
            family,
            make,
            draws,
            self._make_inference_data,
            losses=svi.losses,
            seconds=svi.seconds,
        )

    def guide(self, *args, **kwargs):
        """The fitted guide, run with this fit's own parameters (never the caller's store)."""
        with self.svi.scope():
            return self._guide(*args, **kwargs)

    @contextmanager
    def _evaluating(self, seed=None) -> Iterator[torch.Tensor]:
        with sealed(), seeded(seed, self.device), on_device(self.device), self.svi.scope():
            yield self._x.to(self.device)

    def guide_draws(self, num_draws: int, seed: int | None = None):
        """(draws, log_weights): new guide draws and log p(x, theta) - log q(theta) of each."""
        with self._evaluating(seed) as x:
            draws, log_weights = guide_draws(
                self.model, self._guide, x, num_draws=num_draws, **self._model_kwargs
            )
        return {k: v.cpu() for k, v in draws.items()}, log_weights.cpu()

    def median(self) -> dict[str, torch.Tensor]:
        """The guide's median of each latent site (a point estimate), on the CPU."""
        with self._evaluating(), torch.no_grad():
            return {name: value.detach().cpu() for name, value in self._guide.median().items()}

    def loo(self, num_draws: int = 4000, seed: int | None = None):
        """PSIS-LOO on the training data with ratios corrected for the guide (``vi_loo``)."""
        with self._evaluating(seed) as x:
            return vi_loo(self.model, self._guide, x, num_draws=num_draws, **self._model_kwargs)

    def khat(self, num_draws: int = 1000, seed: int | None = None) -> float:
        """PSIS k-hat of the guide as an importance sampler for the posterior (Pyro's)."""
        with self._evaluating(seed) as x:
            return vi_khat(self.model, self._guide, x, num_draws=num_draws, **self._model_kwargs)

    def _make_inference_data(self):
        return to_inference_data(None, self.model, self._x, draws=self.draws, **self._model_kwargs)


def nuts_fit(
    name: str,
    family: str,
    model: Callable,
    setup: Setup,
    make: Callable,
    *,
    quiet=False,
    num_samples=500,
    warmup_steps=500,
    num_chains=2,
    init_strategy=None,
    relabel: Callable[[dict], dict] | None = None,
    **model_kwargs,
) -> NUTSFit:
    """Sample ``model``'s posterior given ``setup.x`` by NUTS and wrap it as a ``NUTSFit``.

    Called inside ``preamble``. ``relabel`` maps draws (any leading dims) to draws, e.g.
    ``mixture.relabel`` to undo label switching; the fit's draws and InferenceData are the
    relabelled ones.
    """
    with Timer() as timer:
        mcmc = fit_mcmc(
            model,
            setup.x,
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            num_chains=num_chains,
            seed=setup.seed,
            quiet=quiet,
            init_strategy=init_strategy,
            **model_kwargs,
        )
    x = setup.x.cpu()
    return NUTSFit(
        name,
        family,
        make,
        mcmc,
        lambda: to_inference_data(mcmc, model, x, relabel=relabel, **model_kwargs),
        seconds=timer.seconds,
        relabel=relabel,
    )


def vi_fit(
    name: str,
    family: str,
    model: Callable,
    guide: Callable,
    setup: Setup,
    make: Callable,
    *,
    marginal: Callable | None = None,
    quiet=False,
    num_steps=1500,
    lr=0.02,
    loss=None,
    optim=None,
    num_draws=1000,
    relabel: Callable[[dict], dict] | None = None,
    **model_kwargs,
) -> VIFit:
    """Fit ``guide`` to ``model`` by SVI (loss per data point) and wrap it as a ``VIFit``.

    Called inside ``preamble``. ``marginal`` is the model without discrete latents (for draws,
    k-hat and the log-likelihood); ``model`` itself by default. ``relabel`` is applied to the
    kept draws, as in ``nuts_fit``, so that a VI and a NUTS fit of a mixture label components
    alike. The fit's ``seconds`` count the optimisation and the draws kept.
    """
    scale = 1.0 / setup.x.shape[0]
    with Timer() as timer:
        svi = fit_svi(
            poutine.scale(model, scale=scale),
            poutine.scale(guide, scale=scale),
            setup.x,
            num_steps=num_steps,
            lr=None if optim is not None else lr,  # an optim carries its own lr
            loss=loss,
            optim=optim,
            seed=setup.seed,
            quiet=quiet,
            desc=name,
            param_state=setup.params,
            **model_kwargs,
        )
        fitted = VIFit(
            name,
            family,
            make,
            svi,
            guide,
            marginal or model,
            setup.x.cpu(),
            model_kwargs,
            setup.device,
            num_draws,
            relabel,
        )
    fitted.seconds = timer.seconds
    return fitted
