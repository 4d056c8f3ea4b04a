# %% [markdown]
# # Latent variables: many continents
#
# Latent variables: Gaussian mixtures on the world map, the assignment summed out by Pyro's enumeration.
#
# *Book: no figure of its own: a latent variable, the step from the box towards the models of later chapters.*
#
# Run it from the shell (`python s05_latent_variables.py --help` lists the flags) or open it in
# Jupyter as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
ks = [1, 2, 5, 10, 20, 30]  # components to try
num_data = 5000  # training points from p_data
num_heldout = 10_000  # held-out points from p_data
num_steps = 500  # SVI steps per fit
lr = 0.1  # Adam's starting learning rate of each fit (it falls to 0 along a cosine)
num_draws = 50  # guide draws for the held-out density
num_shown = 4000  # held-out points drawn on the map
khat_draws = 1000  # guide draws for each PSIS k-hat
# The sizes quick uses for every size not given as a flag or parameter.
quick_sizes = {
    "ks": [1, 3, 8],
    "num_data": 1000,
    "num_heldout": 2000,
    "num_steps": 200,
    "num_draws": 30,  # PSIS needs about 30 draws to fit a tail at all
}


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, write_results

args = chapter_args("s05_latent_variables", globals())
out = args.out_dir

# %% [markdown]
# The box could only say "somewhere in this rectangle". A mixture of K Gaussians says "pick a
# component, then a point near its centre". The component is a *latent* variable: never observed,
# summed out when we fit and inferred afterwards ("which continent did this point come from?").
#
# The chapter notes that the box p_model has "one large continent, rather than many". A latent
# variable c_i, the component each point comes from, is how a model gets many:
#
# $$p(x) = \sum_{k=1}^K w_k\, \mathcal{N}(x \mid \mu_k, \Sigma_k), \qquad
# c_i \sim \operatorname{Categorical}(w), \quad x_i \mid c_i \sim \mathcal{N}(\mu_{c_i}, \Sigma_{c_i})$$
#
# The mixture is fitted by SVI with the discrete c_i summed out exactly by Pyro's enumeration
# (TraceEnum_ELBO), for a range of K; each fit's held-out NLL is compared with the entropy bound of
# p_data (the best any model can do) and with the box.

# %%
import matplotlib.pyplot as plt
import pyro

from gdl_pyro import diagnostics, plots
from gdl_pyro.data import world
from gdl_pyro.models import box, mixture
from gdl_pyro.models.gaussian import HALF_EXTENT

# %%
pyro.set_rng_seed(args.seed)

x = world.sample_land(args.num_data)
x_test = world.sample_land(args.num_heldout)
entropy = world.LandUniform().entropy().item()

# %% [markdown]
# ## The mixture as a Pyro program
# The model: global weights, and for each of the K components (the plate `"components"`) a
# centre and a scale; then for each point (the plate `"data"`) a latent `"assignment"` c_i and the
# observed point. Centres and scales are in units of the map's half-extent (180, 90 degrees), so
# every prior is of order 1. `@config_enumerate` marks the assignment to be summed out: Pyro's
# `TraceEnum_ELBO` adds up all K values of c_i exactly instead of sampling one.
#
# The guide: `AutoNormal`, a Gaussian for each global (the softmax-weighted weights, centres and
# log-scales), built from the model with the assignment hidden, since enumeration handles it.

# %%
import math

import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO, config_enumerate
from pyro.infer.autoguide import AutoNormal, init_to_sample

from gdl_pyro import show
from gdl_pyro.infer import fit_svi


@config_enumerate
def mixture_model(x=None, *, num_components, num_data=None):
    num_data = len(x) if x is not None else num_data
    weights = pyro.sample("weights", dist.Dirichlet(torch.ones(num_components)))
    with pyro.plate("components", num_components):
        locs = pyro.sample("locs", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        scales = pyro.sample(
            "scales", dist.LogNormal(math.log(0.1) * torch.ones(2), 1.0).to_event(1)
        )
    with pyro.plate("data", num_data):
        assignment = pyro.sample("assignment", dist.Categorical(weights))
        centre, spread = locs[assignment] * HALF_EXTENT, scales[assignment] * HALF_EXTENT
        return pyro.sample("obs", dist.Normal(centre, spread).to_event(1), obs=x)


def mixture_guide(num_components):
    return AutoNormal(
        poutine.block(mixture_model, hide=["assignment"]),
        init_loc_fn=init_to_sample,
        init_scale=0.01,
    )


# %% [markdown]
# Its trace for K = 3 on the training points: the assignment has one value per point, and the
# observation one 2-D point per point.

# %%
show.trace_shapes(mixture_model, x, num_components=3, quiet=args.quiet)

# %%
plots.save(
    show.plate_diagram(
        mixture_model, x, num_components=3, title="The mixture: a latent component per point"
    ),
    out / "plate_diagram.png",
)

# %% [markdown]
# Fitted by hand with the library's SVI loop, `fit_svi`, for the largest K. Its loss is the
# negative ELBO of all N points; divided by N it is comparable with `mixture.fit`'s below.

# %%
k_by_hand = max(args.ks)
by_hand = fit_svi(
    mixture_model,
    mixture_guide(k_by_hand),
    x,
    num_components=k_by_hand,
    loss=TraceEnum_ELBO(max_plate_nesting=1),
    num_steps=args.num_steps,
    lr=0.05,
    seed=args.seed,
    quiet=args.quiet,
    desc=f"K={k_by_hand} by hand",
)
by_hand_loss = by_hand.losses[-1] / len(x)

# %% [markdown]
# ## Fit K = 1, 2, ... components by SVI with enumeration
# `mixture.fit` fits the same program (`tests/test_section_models.py` holds the two equal), and
# starts better: the centres at K distinct data points, the scales at the prior median, the
# weights equal, with a learning rate that falls along a cosine.
# Each fit's held-out NLL uses the guide's predictive density: the mixture density averaged over
# draws of the guide (AutoNormal over weights, centres and scales). It stands in for the
# posterior predictive only as far as the guide stands in for the posterior, which the PSIS k-hat
# below measures.

# %%
fits, rows = {}, []
for k in args.ks:
    fitted = mixture.fit(
        x,
        num_components=k,
        num_steps=args.num_steps,
        lr=args.lr,
        num_draws=args.num_draws,
        quiet=args.quiet,
        seed=args.seed,
        device=args.device,
    )
    lpd = fitted.log_prob(x_test)  # the guide's predictive: averaged over guide draws
    rows.append(
        {
            "k": k,
            "heldout_nll": -lpd.mean().item(),
            "gap_nats": -lpd.mean().item() - entropy,
            "final_loss": fitted.losses[-1],
            "khat": fitted.khat(num_draws=args.khat_draws, seed=args.seed),
            # A k-hat is reliable below this threshold for S draws (Vehtari et al., 2024).
            "khat_threshold": diagnostics.khat_threshold(args.khat_draws),
            "khat_draws": args.khat_draws,
        }
    )
    fits[k] = fitted
    if not args.quiet:
        print(
            f"K={k:3d}: held-out NLL {rows[-1]['heldout_nll']:.3f} nats, gap {rows[-1]['gap_nats']:.3f}, "
            f"k-hat {rows[-1]['khat']:.2f} (reliable below {rows[-1]['khat_threshold']:.2f} "
            f"for S = {args.khat_draws})"
        )
if not args.quiet:
    print(
        f"K={k_by_hand} by hand: final loss {by_hand_loss:.3f} nats per point; "
        f"mixture.fit's {fits[k_by_hand].losses[-1]:.3f}"
    )

low, high = box.mle(x)
box_gap = (high - low).prod().log().item() - entropy

# %% [markdown]
# ## ELBO traces and the gap to the entropy bound
# More components, a smaller gap: the model's density hugs the land more closely. The box's
# gap (on the points it covers) is the dashed line; 0 would be p_data itself.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
for k, fitted in fits.items():
    left.plot(fitted.losses, label=f"K={k}", lw=1)
left.set(
    xlabel="SVI step",
    ylabel="-ELBO per point (nats)",
    title="ELBO traces (enumerated assignments)",
)
left.set_ylim(top=min(fits[args.ks[0]].losses[0], 14.0))
left.legend(fontsize=8, ncol=2)
right.plot([r["k"] for r in rows], [r["gap_nats"] for r in rows], "o-", label="mixture")
right.axhline(
    box_gap,
    ls="--",
    color=plots.BOX_COLOR,
    label=f"MLE box ({box_gap:.2f}, covered points only)",
)
right.axhline(0, color="black", lw=0.8)
right.set(
    xlabel="components K",
    ylabel="held-out NLL - entropy of p_data (nats)",
    title="Gap to the best possible model",
)
right.legend()
plots.save(fig, out / "elbo_and_gap.png")

# %% [markdown]
# ## Which continent? Responsibilities on the map
# Pyro's `infer_discrete` gives each held-out point its most probable component.

# %%
best = min(rows, key=lambda r: r["gap_nats"])["k"]
shown = x_test[: args.num_shown]
assignment = mixture.assign(fits[best], shown)
ax = plots.map_axes(
    title=f"Each point coloured by its most probable component (K={best})",
    muted=True,
)
ax.scatter(shown[:, 0], shown[:, 1], c=assignment, cmap="tab20", s=5, zorder=3)
centres = fits[best].median()["locs"] * HALF_EXTENT
ax.scatter(
    centres[:, 0],
    centres[:, 1],
    marker="X",
    s=80,
    c="black",
    edgecolors="white",
    zorder=4,
    label="component centres",
)
plots.map_legend(ax)
plots.save(ax.figure, out / "responsibilities.png")

# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s05.1")` returns one, and the book has a page of them.)
#
# **s05.1 A mixture with its component enumerated.** Take the section's model without its
# priors: write `fixed_mixture_model(x=None, *, weights, locs, scales, num_data=None)`, the
# mixture of K diagonal Gaussians with fixed `weights` (K,), `locs` (K, 2) and `scales` (K, 2),
# in degrees.
# Each point has its own component, a latent site `"z"` inside `pyro.plate("data", ...)`, marked
# `infer={"enumerate": "parallel"}`; the point is the observed site `"obs"`, one 2-D value. The
# check traces your model (its sites, z in the plate, the event shape of obs), then sums z out
# with `TraceEnum_ELBO` and an empty guide: with nothing else latent, its loss is exactly
# $-\log p(x)$, which must equal the closed form
# $\sum_i \log \sum_k w_k\, \mathcal{N}(x_i \mid \mu_k, \operatorname{diag} \sigma_k^2)$
# (`MixtureSameFamily`). Last, it simulates with `x=None` and looks at each component's points.

# %%
from gdl_pyro import exercises


def fixed_mixture_model(x=None, *, weights, locs, scales, num_data=None):
    """K diagonal Gaussians: fixed weights (K,), locs and scales (K, 2); a latent z per point."""
    ...  # your code here


exercises.attempt("s05.1", fixed_mixture_model, quiet=args.quiet)

# %% [markdown]
# **s05.2 A mixture of boxes.** The components need not be Gaussians. Cut the map into square
# cells and make each cell a component, a `UniformBox`, weighted by its share of the training
# points: the latent variable is now "which cell", and the mixture is a 2-D histogram. Write
# `fit_boxes(x)`, returning it as a distribution:
# `dist.MixtureSameFamily(dist.Categorical(weights), UniformBox(low, high))` with `low` and
# `high` of shape (K, 2). The check fits it to 5,000 points of p_data, integrates it over the
# map (at most 1), scores 10,000 held-out points, and passes when its held-out gap, the KL to
# p_data, is below that of scikit-learn's EM mixture of 10 Gaussians fitted to the same points.
# Two choices matter. The cell size: too small and each cell holds a handful of points (the fit
# follows the sample, not p_data); too large and the boxes spill into the sea. And the weight of
# a cell without training points: its maximum-likelihood weight is 0, so a held-out point there
# has likelihood 0. A pseudo-count $a$ per cell, $w_k = (n_k + a) / (N + K a)$, is the posterior
# mean of the weights under a $\operatorname{Dirichlet}(a)$ prior. (torch's `Categorical`
# quietly turns a probability of 0 into about $10^{-7}$; a hand-written histogram does not.)
# With smaller cells and a smaller $a$, boxes can come close to the section's best mixture.

# %%
from gdl_pyro.distributions import UniformBox  # noqa: F401 (for your answer)


def fit_boxes(x):
    """A mixture of boxes fitted to the points x (N, 2): a distribution with log_prob."""
    ...  # your code here


exercises.attempt("s05.2", fit_boxes, quiet=args.quiet)

# %% [markdown]
# **s05.3 Which continent? Responsibilities.** The map above colours each point by its most
# probable component. The full answer is a distribution over the components, by Bayes' rule:
#
# $$r_{ik} = p(z_i = k \mid x_i) = \frac{w_k\, \mathcal{N}(x_i \mid \mu_k, \sigma_k)}
# {\sum_j w_j\, \mathcal{N}(x_i \mid \mu_j, \sigma_j)}$$
#
# Write `responsibilities(x, weights, locs, scales)` for diagonal Gaussians in degrees (as in
# s05.1): an (N, K) tensor whose rows sum to 1. The check compares it with the closed form at
# land points, and at points so far from every component (narrow islands) that each density
# underflows to 0, in float64 too, while the responsibilities are still well defined.


# %%
def responsibilities(x, weights, locs, scales):
    """p(z = k | x_i) for points x (N, 2) under the mixture: shape (N, K), rows sum to 1."""
    ...  # your code here


exercises.attempt("s05.3", responsibilities, quiet=args.quiet)


# %% [markdown]
# ## The section's numbers
# Written to `results.json` in the output folder (and printed unless `quiet`).

# %%
results = {
    "ks": args.ks,
    "fits": rows,
    "best_k": best,
    "box_gap_nats": box_gap,
    "entropy_bound": entropy,
}
write_results(out, results)
if not args.quiet:
    print(
        f"best K={best}: gap {min(r['gap_nats'] for r in rows):.3f} nats, against {box_gap:.3f} for the box"
    )
