# %% [markdown]
# # Maximum likelihood estimation
#
# Maximum likelihood: the bounding box, Pyro's fit of it, its held-out NLL and the gap to the truth.
#
# *Book: no figure of its own: maximum likelihood, from the chapter's core probability terms.*
#
# Run it from the shell (`python s04_mle.py --help` lists the flags) or open it in
# Jupyter as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
num_data = 1000  # training points from p_data
num_heldout = 200_000  # held-out points from p_data
num_steps = 500  # optimisation steps of the Pyro fit
quick_sizes = {"num_heldout": 20_000, "num_steps": 300}  # sizes quick uses unless given


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, write_results

args = chapter_args("s04_mle", globals())
out = args.out_dir

# %% [markdown]
# Among all boxes, which one makes the observed data most likely? The likelihood is
# $1 / \text{area}^N$ when the box holds every point and 0 otherwise, so: the smallest box that holds
# every point. We check that Pyro's gradient-based fit agrees, then ask how good that box is.
#
# The maximum-likelihood estimate maximises the log-likelihood, or equivalently minimises the
# negative log-likelihood (NLL):
#
# $$\hat\theta = \mathop{\mathrm{arg\,max}}_\theta \sum_i \log p_\theta(x_i)
#   = \mathop{\mathrm{arg\,min}}_\theta \Big(-\sum_i \log p_\theta(x_i)\Big)$$
#
# For the box family it has a closed form, the bounding box of the data; Pyro's optimiser finds
# the same box. Because p_data is known here, we also measure how good the best box is: its NLL
# per point on held-out data can never beat the entropy of p_data, $\log(\text{land area})$; the gap is
# $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}})$, which for the box is $-\log(\text{accuracy})$, the framework's accuracy of s02.

# %%
import math

import pyro
import torch

from gdl_pyro import plots
from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox
from gdl_pyro.models import box

# %%
pyro.set_rng_seed(args.seed)


# %% [markdown]
# ## The box as a Pyro program
# Maximum likelihood has nothing latent: the box's corners are `pyro.param`s, values that the
# fit tunes, and each point is an observed site `"obs"` under the plate `"data"` (the points are
# independent given the box). A box that misses a point has likelihood 0 and no gradient to
# follow, so the corners are written as the bounding box widened by two positive margins, a
# `pyro.param` pair that may shrink to 0. `pyro.poutine.scale` divides the log-likelihood by N,
# so the loss is the NLL per point.
#
# **No guide: maximum likelihood.** With nothing latent the guide samples nothing, and SVI's loss,
# the negative ELBO, is the negative log-likelihood itself. (`box.fit` runs this same program;
# `tests/test_section_models.py` holds the two equal.)

# %%
import pyro.optim
from pyro import poutine
from torch.distributions import constraints

from gdl_pyro import show
from gdl_pyro.infer import fit_svi


def box_model(x, init_margin=10.0):
    start = torch.full((2,), init_margin, device=x.device)
    margin_low = pyro.param("margin_low", start, constraint=constraints.positive)
    margin_high = pyro.param("margin_high", start, constraint=constraints.positive)
    low, high = x.min(0).values - margin_low, x.max(0).values + margin_high
    with pyro.plate("data", len(x)), poutine.scale(scale=1 / len(x)):
        pyro.sample("obs", UniformBox(low, high), obs=x)


def no_guide(x, init_margin=10.0):
    pass  # nothing is latent: maximum likelihood


# %% [markdown]
# Pyro's trace of the program on 1,000 points: the two parameters, and one observed 2-D point per
# element of the plate.

# %%
x = world.sample_land(args.num_data)
show.trace_shapes(box_model, x, quiet=args.quiet)

# %%
plots.save(
    show.plate_diagram(box_model, x, title="The box: two parameters, N observed points"),
    out / "plate_diagram.png",
)

# %% [markdown]
# ## Closed form and Pyro agree
# `fit_svi` (the library's SVI loop) minimises the NLL with Adam; the margins shrink to 0. Adam
# with a short memory of past gradients (`betas=(0.9, 0.9)`) keeps its steps large as the
# gradient fades near the bounding box (`box.fit` does the same).

# %%
low, high = box.mle(x)
fitted = fit_svi(
    box_model,
    no_guide,
    x.to(args.device),
    num_steps=args.num_steps,
    optim=pyro.optim.Adam({"lr": 0.1, "betas": (0.9, 0.9)}),
    seed=args.seed,
    quiet=args.quiet,
    desc="box MLE",
)
fitted_low = x.min(0).values - fitted.params["margin_low"]
fitted_high = x.max(0).values + fitted.params["margin_high"]
max_difference = max((fitted_low - low).abs().max().item(), (fitted_high - high).abs().max().item())
nll_closed_form = -box.log_likelihood(x, low, high).item() / args.num_data
plots.save(
    plots.plot_loss_trace(
        fitted.losses,
        ylabel="NLL per point (nats)",
        target=nll_closed_form,
        target_label="NLL of the bounding box",
        title="Pyro's fit of the box converges to the closed form",
    ),
    out / "nll_trace.png",
)

# %% [markdown]
# ## How good is the best box? Held-out NLL against the entropy bound
# $p_{\text{data}}$ is uniform over land, so no model can have an expected NLL below its
# entropy, $\log(\text{land area})$. A held-out point outside the box has likelihood 0 under the
# box, so the true $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}})$ is infinite; we count
# those points and report the NLL over the points the box covers.

# %%
heldout = world.sample_land(args.num_heldout)
p_model = UniformBox(low, high)
log_density = p_model.log_prob(heldout)
covered = torch.isfinite(log_density)
heldout_missed = int((~covered).sum())
heldout_nll = -log_density[covered].mean().item()
entropy_bound = world.LandUniform().entropy().item()
gap_nats = heldout_nll - entropy_bound

# %% [markdown]
# ## The gap is the framework's accuracy
# For a uniform box, $\text{NLL} = \log(\text{box area})$ and
# $\text{entropy} = \log(\text{land area})$, so
#
# $$\text{gap} = -\log\frac{\text{land area in box}}{\text{box area}} + \log(\text{coverage})
# = -\log(\text{accuracy}) + \log(\text{coverage}).$$
#
# With full coverage the gap is exactly $-\log(\text{accuracy})$: the likelihood and the
# framework's accuracy (share of generated points on land) are the same measurement.

# %%
generated = p_model.sample((args.num_heldout,))
accuracy = world.is_land(generated).double().mean().item()
# The framework's coverage (world.coverage): the share of p_data the model gives at least 1% of
# p_data's density. The box gives land_area / box_area (about 0.35) inside and 0 outside, so
# for a box it is the share of held-out points inside it.
coverage = world.coverage(log_density)
gap_from_framework = -math.log(accuracy) + math.log(coverage)

ax = plots.map_axes(title=f"The MLE box and {heldout_missed} held-out points it misses (red)")
plots.add_box(ax, low, high, label="MLE box")
plots.add_points(ax, x, label="training points")
plots.add_points(
    ax,
    heldout[~covered],
    label="held-out points outside the box",
    color="red",
    marker="x",
    size=30,
)
plots.map_legend(ax)
plots.save(ax.figure, out / "mle_box.png")

# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s04.1")` returns one, and the book has a page of them.)
#
# **s04.1 The box as a program that simulates.** `box_model` above can only score data: it needs
# `x` to build its box. Write the box as a generative story instead, with the corners as
# arguments: `model(x=None, *, low, high, num_data=None)` puts N points under
# `pyro.plate("data", N)` as one observed site `"obs"` of the box (event shape (2,)), and with
# `x=None` the same function simulates `num_data` points. The check traces it on 1,000 points of
# p_data in their bounding box, where the log-likelihood is $-N \log(\text{area})$, and on a box
# that misses some of them ($-\infty$); then it simulates 20,000 points and tests that they are
# uniform over the box. (The $1/N$ of `poutine.scale` belongs to the program that fits, not to the
# model.)

# %%
from gdl_pyro import exercises


def model(x=None, *, low, high, num_data=None):
    """N points, observed or simulated, drawn independently and uniformly from [low, high]."""
    ...  # your code here


exercises.attempt("s04.1", model, quiet=args.quiet)

# %% [markdown]
# **s04.2 How much of p_data does the MLE box miss?** Above, the bounding box of the training
# points missed some held-out points, each with likelihood 0. On average over training sets of N
# points of p_data, what share of p_data lies outside their bounding box? That is the chance that
# one more point of p_data, point $N + 1$, falls outside the box of the first N. Write
# `missed_share(num_data)`. The check simulates 2,000 training sets for each of N = 50, 200 and
# 1,000 and passes an answer within 10% of the measured share. A formula needs no map: among
# $N + 1$ exchangeable points, each is equally likely to be the one drawn last. (A simulation of
# your own passes too, with about 1,000 training sets per N.)


# %%
def missed_share(num_data):
    """The expected share of p_data outside the MLE box of num_data points of p_data."""
    ...  # your code here


exercises.attempt("s04.2", missed_share, quiet=args.quiet)


# %% [markdown]
# ## The section's numbers
# Written to `results.json` in the output folder (and printed unless `quiet`).

# %%
results = {
    "mle_low": low,
    "mle_high": high,
    "pyro_max_abs_difference": max_difference,
    "train_nll": nll_closed_form,
    "heldout_nll": heldout_nll,
    "heldout_missed": heldout_missed,
    "num_heldout": args.num_heldout,
    "entropy_bound": entropy_bound,
    "gap_nats": gap_nats,
    "accuracy": accuracy,
    "coverage": coverage,
    "minus_log_accuracy": -math.log(accuracy),
    "gap_from_framework": gap_from_framework,
}
write_results(out, results)
if not args.quiet:
    print(
        f"MLE box (closed form): lon {low[0]:.3f} to {high[0]:.3f}, lat {low[1]:.3f} to {high[1]:.3f}"
    )
    print(f"Pyro's fit differs from it by at most {max_difference:.2g} degrees")
    print(
        f"held-out NLL {heldout_nll:.4f} nats per covered point; entropy bound {entropy_bound:.4f}; "
        f"gap {gap_nats:.4f} nats"
    )
    print(
        f"{heldout_missed} of {args.num_heldout} held-out points lie outside the box: their "
        "likelihood is 0, so KL(p_data || box) is infinite"
    )
    print(
        f"framework: -log(accuracy {accuracy:.4f}) + log(coverage {coverage:.4f}) = "
        f"{gap_from_framework:.4f} nats, the same gap"
    )
