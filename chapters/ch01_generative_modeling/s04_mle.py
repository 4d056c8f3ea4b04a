# %% [markdown]
# # Maximum likelihood estimation
#
# *Book: no figure of its own: maximum likelihood, from the chapter's core probability terms.*
#
# Among all boxes, which one makes the observed data most likely? The likelihood is
# 1 / area^N when the box holds every point and 0 otherwise, so: the smallest box that holds
# every point. We check that Pyro's gradient-based fit agrees, then ask how good that box is.
#
# The maximum-likelihood estimate maximises the log-likelihood, or equivalently minimises the
# negative log-likelihood (NLL):
#
#     theta_hat = argmax_theta sum_i log p_theta(x_i) = argmin_theta -sum_i log p_theta(x_i)
#
# For the box family it has a closed form, the bounding box of the data; Pyro's optimiser finds
# the same box. Because p_data is known here, we also measure how good the best box is: its NLL
# per point on held-out data can never beat the entropy of p_data, log(land area); the gap is
# KL(p_data || p_model), which for the box is -log(accuracy), the framework's accuracy of s02.
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


# %%
import math

import pyro
import torch

from gdl_pyro import plots
from gdl_pyro.data import world
from gdl_pyro.distributions import UniformBox
from gdl_pyro.models import box
from gdl_pyro.scripting import chapter_args, write_results

# %%
args = chapter_args(
    "s04_mle",
    "Maximum likelihood: the bounding box, held-out NLL, the gap.",
    globals(),
    sizes=["num_data", "num_heldout", "num_steps"],
)
if args.quick:
    args.num_heldout, args.num_steps = min(args.num_heldout, 20_000), min(args.num_steps, 300)
pyro.set_rng_seed(args.seed)
out = args.out_dir


# %% [markdown]
# ## Closed form and Pyro agree
# `box.fit` writes the box as the bounding box plus positive margins (a box that misses a
# point has likelihood 0 and no gradient to follow), and minimises the NLL with SVI and an
# empty guide, which is plain maximum likelihood. The margins shrink to 0.

# %%
x = world.sample_land(args.num_data)
low, high = box.mle(x)
fitted = box.fit(x, num_steps=args.num_steps, quiet=args.quiet, seed=args.seed, device=args.device)
max_difference = max((fitted.low - low).abs().max().item(), (fitted.high - high).abs().max().item())
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
# p_data is uniform over land, so no model can have an expected NLL below its entropy,
# log(land area). A held-out point outside the box has likelihood 0 under the box, so the
# true KL(p_data || p_model) is infinite; we count those points and report the NLL over the
# points the box covers.

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
# For a uniform box, NLL = log(box area) and entropy = log(land area), so
# gap = -log(land area in box / box area) + log(coverage) = -log(accuracy) + log(coverage).
# With full coverage the gap is exactly -log(accuracy): the likelihood and the framework's
# accuracy (share of generated points on land) are the same measurement.

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
