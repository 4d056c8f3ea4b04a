# %% [markdown]
# # Generative versus discriminative
#
# Generative versus discriminative models on the map, and generation on request: a point on Australia.
#
# *Book: no figure of its own: generative against discriminative modelling, p(x | y) against p(y | x).*
#
# Run it from the shell (`python s08_generative_vs_discriminative.py --help` lists the flags) or open it in
# Jupyter as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
num_data = 20_000  # labelled training points
num_heldout = 10_000  # labelled held-out points
num_steps = 500  # SVI steps of each land mass's mixture (a cosine schedule)
logistic_steps = 1000  # SVI steps of the logistic regression
num_components = 25  # mixture components per land mass
num_generated = 5000  # conditional samples per land mass
num_shown = 800  # conditional samples drawn per land mass
grid_step = 1.0  # degrees between decision-map cells
num_draws = 200  # guide draws for the ArviZ summary
# The sizes quick uses for every size not given as a flag or parameter.
quick_sizes = {
    "num_data": 3000,
    "num_heldout": 2000,
    "num_steps": 200,
    "logistic_steps": 200,
    "num_components": 6,
    "num_generated": 1000,
    "grid_step": 3.0,
}


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, write_results

args = chapter_args("s08_generative_vs_discriminative", globals())
out = args.out_dir

# %% [markdown]
# A discriminative model learns where the borders between classes are. A generative model learns
# what each class looks like, which is more (it needs a density over x) and lets it make new
# examples of a class on request. The book's example is "generate an apple"; ours is "generate a
# point on Australia".
#
# The chapter's contrast, on the world map with land masses as labels y:
#
# - discriminative: $p(y \mid x)$, "which land mass is this point on?"
# - generative: $p(x, y) = p(y)\, p(x \mid y)$, which also answers, by Bayes' rule,
#   $$p(y \mid x) = \frac{p(y)\, p(x \mid y)}{\sum_{y'} p(y')\, p(x \mid y')},$$
#   and can be told what to make: $x \sim p(x \mid y = \text{Australia})$.
#
# A Bayesian logistic regression on random Fourier features (SVI) and a Gaussian mixture per land
# mass (SVI with enumeration) both classify held-out points; only the second can generate.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pyro
import torch
from matplotlib.colors import ListedColormap

from gdl_pyro import diagnostics, plots
from gdl_pyro.convert import az
from gdl_pyro.data import world
from gdl_pyro.fitting import NoDensityError
from gdl_pyro.models.classify import fit_class_conditional, fit_logistic

CLASS_COLORS = ["#e6550d", "#3182bd", "#756bb1", "#31a354", "#de2d26"]


def decision_map(ax, predict, title: str, step: float):
    """Predicted class over a grid of the whole map (sea too), with the coastline drawn on top."""
    lon = torch.arange(-180 + step / 2, 180, step)
    lat = torch.arange(90 - step / 2, -90, -step)
    grid = torch.cartesian_prod(lat, lon).flip(1)
    classes = predict(grid).reshape(len(lat), len(lon)).numpy()
    ax.imshow(
        classes,
        extent=(-180, 180, -90, 90),
        origin="upper",
        cmap=ListedColormap(CLASS_COLORS),
        vmin=-0.5,
        vmax=len(CLASS_COLORS) - 0.5,
        alpha=0.55,
        interpolation="nearest",
    )
    ax.contour(
        np.linspace(-180, 180, 1440),
        np.linspace(90, -90, 720),
        world.land_mask().numpy(),
        levels=[0.5],
        colors="black",
        linewidths=0.4,
    )
    ax.set(
        xlim=(-180, 180),
        ylim=(-90, 90),
        aspect="equal",
        title=title,
        xlabel="longitude",
        ylabel="latitude",
    )


# %%
pyro.set_rng_seed(args.seed)

names = world.LAND_MASSES

# %% [markdown]
# ## Labelled data: points on land with the land mass they are on
# The labels are exact (the classes are separated by sea), so the Bayes classifier, which
# knows the true p(y) and p(x | y), is always right: the best any classifier can do is 1.

# %%
x, y = world.sample_land_labelled(args.num_data)
x_test, y_test = world.sample_land_labelled(args.num_heldout)
true_log_joint = (
    torch.stack([world.LandMassUniform(c).log_prob(x_test) for c in range(len(names))], -1)
    + world.land_mass_prior().log()
)
bayes_accuracy = (true_log_joint.argmax(-1) == y_test).double().mean().item()

# %% [markdown]
# ## The discriminative model: p(y | x) and nothing more
# The Pyro program: a multinomial logistic regression on features $\phi(x)$ of each point
# (random Fourier features, `FourierFeatures`, on which a linear model can draw curved borders).
# The coefficients and biases are latent, with Normal(0, 3²) priors; each label `"y"` is observed
# under the plate `"data"`. The points themselves appear only as the features the labels are
# conditioned on: nothing here is a distribution over x, so this model cannot make a point.
#
# The guide: `AutoNormal`, a mean-field Gaussian over the coefficients and biases.
# `fit_logistic(..., model=logistic_model)` fits this program, as written here, by SVI with that
# guide. Given the library's own copy (`classify.logistic_model`) the same call returns the same
# fit to the last bit: `tests/test_section_models.py` holds the two programs equal, and their
# fits identical.

# %%
import pyro.distributions as dist
from pyro.infer.autoguide import AutoNormal

from gdl_pyro import show
from gdl_pyro.models.classify import FourierFeatures


def logistic_model(features, labels=None, *, num_classes):
    num_features = features.shape[1]
    zeros = features.new_zeros  # the model's tensors live where the data are (cpu or cuda)
    coef = pyro.sample("coef", dist.Normal(zeros(num_features, num_classes), 3.0).to_event(2))
    bias = pyro.sample("bias", dist.Normal(zeros(num_classes), 3.0).to_event(1))
    with pyro.plate("data", len(features)):
        return pyro.sample("y", dist.Categorical(logits=features @ coef + bias), obs=labels)


logistic_guide = AutoNormal(logistic_model, init_scale=0.01)
show.trace_shapes(logistic_model, FourierFeatures()(x), y, num_classes=len(names), quiet=args.quiet)

# %%
discriminative = fit_logistic(
    x,
    y,
    num_classes=len(names),
    num_steps=args.logistic_steps,
    quiet=args.quiet,
    seed=args.seed,
    device=args.device,
    model=logistic_model,
)
accuracy_discriminative = (discriminative.predict(x_test) == y_test).double().mean().item()

# %% [markdown]
# Its guide's draws of the per-class biases, summarised by ArviZ (the coefficients on the
# features are many and individually meaningless), and the PSIS k-hat that says whether the
# mean-field guide can stand in for the posterior. With 1,505 coefficients it cannot: Pyro
# reports a k-hat of inf when fewer than 10 of the draws carry any weight at all, which is worse
# than any threshold. So the table is the guide's, not the posterior's: it shows where the
# guide puts the biases, and its spreads are the guide's, narrower than the posterior's as a
# mean-field guide's are. ArviZ files any draws under its "posterior" group; the name does not
# make them the posterior.

# %%
draws, logistic_khat = discriminative.guide_diagnostics(
    x, y, num_draws=args.num_draws, seed=args.seed
)
idata = az.from_dict(
    posterior={name: value.unsqueeze(0).numpy() for name, value in draws.items()},
    coords={"class": list(names)},
    dims={"bias": ["class"]},
)
bias_summary = az.summary(idata, var_names=["bias"], kind="stats")

# %% [markdown]
# ## The generative model: p(y) p(x | y), a mixture of Gaussians per land mass
# The Pyro program: class probabilities with a flat Dirichlet prior; for each class (the plate
# `"classes"`) the mixture of s05, its weights, centres and scales; then for each point its label
# `"y"` (observed), its component `"assignment"` within that class (latent, summed out by
# enumeration) and the point `"obs"` itself (observed). Centres and scales are in units of the
# map's half-extent, as in s05. Here x is a random variable, so the model can make points: run it
# with `y` fixed and `x=None`.
#
# Given the labels, the posterior factorises: p(y)'s parameters depend on the label counts only
# (the Dirichlet(1) posterior mean is (count + 1) / (N + classes)) and each class's mixture on
# that class's points only. So `fit_class_conditional` fits it as one s05 mixture per class, by
# SVI with an `AutoNormal` guide over each class's globals, and keeps the guide's median (the test
# holds this joint program's log density equal to that sum of the library's mixtures).

# %%
import math

from pyro.infer import config_enumerate

from gdl_pyro.models.gaussian import HALF_EXTENT


@config_enumerate
def class_conditional_model(x, y, *, num_classes, num_components):
    class_probs = pyro.sample("class_probs", dist.Dirichlet(torch.ones(num_classes)))
    with pyro.plate("classes", num_classes, dim=-2):
        weights = pyro.sample("weights", dist.Dirichlet(torch.ones(1, num_components)))
        with pyro.plate("components", num_components, dim=-1):
            locs = pyro.sample("locs", dist.Normal(torch.zeros(2), 1.0).to_event(1))
            scales = pyro.sample(
                "scales", dist.LogNormal(math.log(0.1) * torch.ones(2), 1.0).to_event(1)
            )
    with pyro.plate("data", len(y), dim=-1):
        y = pyro.sample("y", dist.Categorical(class_probs), obs=y)
        assignment = pyro.sample("assignment", dist.Categorical(weights.squeeze(-2)[y]))
        centre, spread = locs[y, assignment] * HALF_EXTENT, scales[y, assignment] * HALF_EXTENT
        return pyro.sample("obs", dist.Normal(centre, spread).to_event(1), obs=x)


show.trace_shapes(
    class_conditional_model, x, y, num_classes=len(names), num_components=3, quiet=args.quiet
)

# %%
generative = fit_class_conditional(
    x,
    y,
    num_classes=len(names),
    num_components=args.num_components,
    num_steps=args.num_steps,
    quiet=args.quiet,
    seed=args.seed,
    device=args.device,
)
accuracy_generative = (generative.predict(x_test) == y_test).double().mean().item()

# %% [markdown]
# That fit is one library mixture per class. The joint program above, fitted as written with the
# library's SVI loop (`fit_svi`, the assignment summed out by enumeration, an `AutoNormal` guide
# over every global, started from a draw of the prior) must tell the same story. Its guide's
# median, made into the same kind of fit, classifies the held-out points by Bayes' rule, and
# its p(y) must match the label counts'. A small fit, to keep the section quick: the first
# 3,000 points (a random subsample: the points are independent), at most 6 components per class
# and at most 200 steps.

# %%
from pyro import poutine
from pyro.infer import TraceEnum_ELBO
from pyro.infer.autoguide import init_to_sample

from gdl_pyro.infer import fit_svi
from gdl_pyro.models.classify import ClassConditionalFit

x_small, y_small = x[:3000], y[:3000]
sizes = {"num_classes": len(names), "num_components": min(args.num_components, 6)}
joint_guide = AutoNormal(
    poutine.block(class_conditional_model, hide=["assignment"]),
    init_loc_fn=init_to_sample,
    init_scale=0.01,
)
joint = fit_svi(
    class_conditional_model,
    joint_guide,
    x_small,
    y_small,
    **sizes,
    loss=TraceEnum_ELBO(max_plate_nesting=2),
    num_steps=min(args.num_steps, 200),
    lr=0.05,
    seed=args.seed,
    quiet=args.quiet,
    desc="p(x, y) as written",
)
with joint.scope():
    median = {
        name: value.detach()
        for name, value in joint_guide.median(x_small, y_small, **sizes).items()
    }
as_written = ClassConditionalFit(
    median["class_probs"].log(),
    [
        {
            "weights": median["weights"][c, 0],
            "locs": median["locs"][c],
            "scales": median["scales"][c],
        }
        for c in range(len(names))
    ],
    joint.losses,
    joint.seconds,
)
written_agreement = {
    "accuracy_library": accuracy_generative,
    "accuracy_as_written": (as_written.predict(x_test) == y_test).double().mean().item(),
    "class_probs_library": generative.log_prior.exp().tolist(),
    "class_probs_as_written": median["class_probs"].tolist(),
    "num_points": len(x_small),
    "num_components": sizes["num_components"],
    "num_steps": len(joint.losses),
    "seconds": joint.seconds,
}
written_agreement

# %% [markdown]
# ## Both classify; compare their decision regions
# Over the sea neither model has seen data; where it draws the borders there is its own guess.

# %%
fig, axes = plt.subplots(1, 2, figsize=(15, 4.6), layout="constrained")
decision_map(
    axes[0],
    discriminative.predict,
    f"Discriminative p(y | x): held-out accuracy {accuracy_discriminative:.4f}",
    args.grid_step,
)
decision_map(
    axes[1],
    generative.predict,
    f"Generative, by Bayes' rule: held-out accuracy {accuracy_generative:.4f}",
    args.grid_step,
)
handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.55) for c in CLASS_COLORS]
fig.legend(handles, names, loc="outside lower center", ncol=len(names), frameon=False)
plots.save(fig, out / "decision_regions.png")

# %% [markdown]
# ## Only one can generate: points made on request for each land mass
# `generative.sample_given(y, n)` draws from p(x | y). The logistic regression has no
# distribution over x at all: asked for "a point on Australia", it has nothing to sample from,
# and `discriminative.sample(n)` raises `NoDensityError` to say so.

# %%
ax = plots.map_axes(
    title="Conditional generation: points made on request for each land mass",
    muted=True,
)
on_target = {}
for c, name in enumerate(names):
    samples = generative.sample_given(c, args.num_generated)
    on_target[name] = (world.land_mass_of(samples) == c).double().mean().item()
    shown = samples[: args.num_shown]
    label = f"{name} ({on_target[name]:.0%} on target)"
    plots.add_points(ax, shown, color=CLASS_COLORS[c], size=4, label=label)
plots.map_legend(ax, ncol=3, markerscale=3)
conditional_on_target = sum(on_target.values()) / len(on_target)
plots.save(ax.figure, out / "conditional_samples.png")


# %%
def can_generate(model) -> bool:
    """Whether a fit makes a point when asked: one without p(x) raises NoDensityError."""
    try:
        model.sample(1, seed=args.seed)
    except NoDensityError as error:
        if not args.quiet:
            print(f"{model.name}: {error}")
        return False
    return True


# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s08.1")` returns one, and the book has a page of them.)
#
# **s08.1 p(y | x) by Bayes' rule, in logs.** Write `class_posterior(log_prior, log_likelihood)`:
# the classifier inside a generative model,
# $p(y \mid x) = p(y)\, p(x \mid y) / \sum_{y'} p(y')\, p(x \mid y')$, shape (N, K), from
# $\log p(y)$, shape (K,), and $\log p(x \mid y)$, shape (N, K), one row per x. The check feeds
# it one Gaussian per land mass (fitted in closed form) and $p(y)$ =
# `world.land_mass_prior()`, for held-out points and for groups of 100 points from one land
# mass, whose $\log p(X \mid y) = \sum_i \log p(x_i \mid y)$ is near -1,000 nats: exp of that is
# 0, even in float64. It passes when every row matches Bayes' rule to $10^{-5}$.

# %%
from gdl_pyro import exercises


def class_posterior(log_prior, log_likelihood):
    """p(y | x), shape (N, K), from log p(y), shape (K,), and log p(x | y), shape (N, K)."""
    ...  # your code here


exercises.attempt("s08.1", class_posterior, quiet=args.quiet)

# %% [markdown]
# **s08.2 The sum rule: p(x) from p(y) and p(x | y).** Bayes' rule's denominator is what a
# generative model has and a discriminative one lacks, a density of x:
# $p(x) = \sum_y p(y)\, p(x \mid y)$. Write `log_evidence(log_prior, log_likelihood)`:
# $\log p(x)$, shape (N,), from the same inputs as s08.1. Given p_data's own pieces, $p(y)$ the
# land masses' shares of the land and $p(x \mid y)$ uniform over land mass y
# (`world.LandMassUniform(y).log_prob`, $-\infty$ off it), it must give p_data back: the check
# evaluates it on every cell of the map and passes when it integrates to 1, is 0 at sea and
# 1 / land area on land, and when it also matches the sum for s08.1's Gaussians and groups.


# %%
def log_evidence(log_prior, log_likelihood):
    """log p(x), shape (N,), from log p(y), shape (K,), and log p(x | y), shape (N, K)."""
    ...  # your code here


exercises.attempt("s08.2", log_evidence, quiet=args.quiet)

# %% [markdown]
# **s08.3 A point on Greenland, on request.** The true $p(x \mid y)$ is uniform over land mass y.
# Sample it from p_data by rejection: since
# $p(x \mid y) \propto p(x, y) = p(x)\, [x \text{ lies on } y]$, points drawn from p_data
# (`world.sample_land`) and kept when they lie on land mass y (`world.land_mass_of(x) == y`)
# are exact draws from it. Write
# `sample_given(land_mass, num_samples)`, land_mass an index into `world.LAND_MASSES`, returning
# shape (num_samples, 2), without `world.sample_land_mass` or `world.LandMassUniform`. The
# check asks for 3,000 points on the Americas, on Australia and on Greenland, and passes when
# all lie on the requested land mass, none repeat, and they spread uniformly over it (chi-square
# tests over 5-degree bins and inside the map's 0.25-degree cells, at a false alarm rate of
# $10^{-6}$ each).


# %%
def sample_given(land_mass, num_samples):
    """num_samples points from p_data(x | y = land_mass), shape (num_samples, 2)."""
    ...  # your code here


exercises.attempt("s08.3", sample_given, quiet=args.quiet)


# %% [markdown]
# ## The section's numbers
# Written to `results.json` in the output folder (and printed unless `quiet`).

# %%
results = {
    "accuracy_discriminative": accuracy_discriminative,
    "accuracy_generative": accuracy_generative,
    "bayes_accuracy": bayes_accuracy,
    "conditional_on_target": conditional_on_target,
    "on_target_by_class": on_target,
    "classes": list(names),
    "can_generate": {
        name: can_generate(model)
        for name, model in [("discriminative", discriminative), ("generative", generative)]
    },
    "logistic_bias_summary": bias_summary.to_dict(orient="index"),
    "logistic_khat": logistic_khat,
    "logistic_khat_threshold": diagnostics.khat_threshold(args.num_draws),
    "logistic_khat_draws": args.num_draws,
    # The logistic regression's program is the section's own, written above; the joint
    # class-conditional program, fitted as written beside fit_class_conditional, agrees with it.
    "logistic_program": discriminative.svi.model.__name__,
    "class_conditional_as_written": written_agreement,
}
write_results(out, results)
if not args.quiet:
    print(
        f"held-out accuracy: discriminative {accuracy_discriminative:.4f}, generative "
        f"{accuracy_generative:.4f}, Bayes (true densities) {bayes_accuracy:.4f}"
    )
    print(
        "conditional samples on the requested land mass: "
        + ", ".join(f"{name} {share:.2f}" for name, share in on_target.items())
        + f"; mean {conditional_on_target:.3f}"
    )
    print("the discriminative model cannot generate: it has no p(x | y) to sample from")
    threshold = diagnostics.khat_threshold(args.num_draws)
    print(
        f"logistic regression: the guide's draws (ArviZ summary), not the posterior: its k-hat "
        f"is {logistic_khat:.2f}, and the guide is reliable only below {threshold:.2f} "
        f"for S = {args.num_draws}:"
    )
    print(bias_summary.to_string())
