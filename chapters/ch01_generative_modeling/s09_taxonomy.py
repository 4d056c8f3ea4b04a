# %% [markdown]
# # The taxonomy of generative models
#
# *Book: Figure 1-10, a taxonomy of generative modelling approaches.*
#
# Every generative model must say something about the density p(x). The chapter sorts them by
# what:
#
# - **explicit and tractable**: p(x) is written down and computed exactly. Autoregressive models
#   factor it coordinate by coordinate, p(x) = p(x1) p(x2 | x1); normalizing flows push a simple
#   density through an invertible map and track the change of volume.
# - **explicit and approximate**: p(x) is written down but only bounded or estimated (VAEs,
#   energy-based models, diffusion models).
# - **implicit**: no density at all, only a way to sample (GANs).
#
# Here every family learns the same p_data, uniform over land, from the same 20,000 points, and
# is scored on one scale. Because p_data is known, a held-out NLL minus the entropy of p_data
# is the true KL(p_data || p_model) when the NLL is exact, which no benchmark on real data can
# offer. Two peers stand beside the families: the MLE box of the "Hello World", and a Gaussian
# kernel density estimate, the baseline a user would pick for a 2-D density.
#
# This section fits the two tractable families; the leaves of the other four are marked as not
# implemented yet.
#
# Run it from the shell (`python s09_taxonomy.py --help` lists the flags) or open it in Jupyter
# as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
num_train = 20_000  # training points from p_data
num_heldout = 20_000  # held-out points from p_data
num_generated = 100_000  # samples per model for accuracy, land-mass shares and speed
num_shown = 3000  # samples drawn at each leaf of the tree
ar_steps = 4000  # SVI steps of the autoregressive model
flow_steps = 4000  # SVI steps of the flow
grid_step = 1.0  # degrees between the cells of the density maps

# %%

import pyro
import torch

from gdl_pyro import taxonomy
from gdl_pyro.data import world
from gdl_pyro.models import autoregressive, box, flow, kde
from gdl_pyro.plots import save
from gdl_pyro.scripting import chapter_args, write_results

# %%
args = chapter_args(
    "s09_taxonomy",
    "Every family of Figure 1-10 fitted to one p_data and scored on one scale.",
    globals(),
    sizes=[
        "num_train",
        "num_heldout",
        "num_generated",
        "num_shown",
        "ar_steps",
        "flow_steps",
        "grid_step",
    ],
)
if args.quick:
    args.num_train, args.num_heldout, args.num_generated, args.num_shown = 2000, 2000, 5000, 1000
    args.ar_steps, args.flow_steps, args.grid_step = 150, 150, 3.0
pyro.set_rng_seed(args.seed)
out = args.out_dir

x = world.sample_land(args.num_train)
x_test = world.sample_land(args.num_heldout)
entropy = world.LandUniform().entropy().item()
common = {"seed": args.seed, "quiet": args.quiet, "device": args.device}

# %% [markdown]
# ## The peers: the box and a kernel density estimate
# The box is the maximum-likelihood box of the "Hello World", fitted by SVI as in s04 (its
# answer is the bounding box of the points). The KDE puts a Gaussian of width h on every training point,
# with h chosen by 5-fold cross-validation on the training points (scikit-learn), and is then
# scored as a Pyro distribution like every other fit.

# %%
peers = [box.fit(x, method="mle", **common), kde.fit(x, **common)]

# %% [markdown]
# ## Explicit and tractable: an autoregressive model
# p(x) = p(lat) p(lon | lat), a Pyro model with two sample sites in that order:
#
# - p(lat) is a histogram density over half-degree bands;
# - p(lon | lat) is a mixture of 64 von Mises distributions, whose weights, centres and widths an
#   MLP computes from the latitude.
#
# Latitude comes first because longitude is the coordinate that wraps: -180 and 180 are the same
# meridian, and Chukotka, Fiji and Antarctica cross it. As an output, longitude gets a density on
# the circle, continuous across the seam, that integrates to 1 over [-180, 180) with no mass lost
# off the map. Latitude does not wrap, so it is the easy input.
#
# Fitted by maximum likelihood (SVI with an empty guide). Each step's minibatch is jittered by
# 0.6 degrees of Gaussian noise (noise regularisation): without it the network sharpens onto
# single training points and the held-out NLL suffers.

# %%
ar_fit = autoregressive.fit(x, num_steps=args.ar_steps, **common)

# %% [markdown]
# ## Explicit and tractable: a normalizing flow
# Zuko's neural spline flow: three monotonic rational-quadratic spline transforms, each computed
# by a masked network from the coordinate before it, over a standard Normal base. Pyro wraps the
# flow's density and fits it by maximum likelihood, again SVI with an empty guide.

# %%
flow_fit = flow.fit(x, num_steps=args.flow_steps, **common)

# %% [markdown]
# ## One table, one scale
# Each fit is scored on the same held-out points:
#
# - `nll`: held-out NLL in nats per point, and `nll_kind` says what it is. All four here are
#   exact densities, so `gap_nats` (NLL minus the entropy of p_data) estimates KL(p_data ||
#   p_model) itself, up to the noise of 20,000 held-out points (about 0.005 nats).
# - `accuracy`: the share of 100,000 samples that fall on land.
# - `land_mass_tv`: how far the samples' shares over the five land masses of s08 are from
#   p_data's (total variation; 0 is perfect). A model that drops a continent shows it here.
# - samples per second and fit seconds: what each costs.
#
# The box gives density 0 to the held-out points outside it (`heldout_missed`); its NLL is over
# the points it covers, so its true KL is infinite when it misses any.

# %%
fits = [*peers, ar_fit, flow_fit]
families = ["baseline", "baseline", "autoregressive", "flow"]
kinds = ["exact"] * len(fits)
rows = taxonomy.family_table(fits, families, kinds, x_test, num_samples=args.num_generated)
columns = [
    "name",
    "family",
    "nll",
    "nll_kind",
    "gap_nats",
    "heldout_missed",
    "accuracy",
    "land_mass_tv",
    "samples_per_second",
    "fit_seconds",
]
fig = taxonomy.plot_table(
    rows, columns, title=f"Every family on one scale (entropy bound {entropy:.3f} nats)"
)
save(fig, out / "table.png")

# %% [markdown]
# ## Figure 1-10: the taxonomy, with each family's samples at its leaf

# %%
leaves = {"autoregressive": ar_fit.sample(args.num_shown), "flow": flow_fit.sample(args.num_shown)}
fig = taxonomy.plot_tree(leaves, title="Figure 1-10: generative models by how they treat p(x)")
save(fig, out / "taxonomy.png")

# %% [markdown]
# ## Each density on the map
# Colour is the model's density over p_data's, on a log10 scale: green (0) is exactly p_data's
# density, yellow too much, blue too little, and black less than a thousandth of it (density 0
# included: the strip north of the box). Sea should be black, since p_data gives it nothing.
# Each family's blur has its own shape: the KDE's is round, the flow's is stretched along the
# directions its splines bend, and the autoregressive model's runs east-west, because each
# latitude gets its own von Mises mixture in longitude.

# %%
step = args.grid_step
lon = torch.arange(-180 + step / 2, 180, step)
lat = torch.arange(90 - step / 2, -90, -step)
grid = torch.cartesian_prod(lat, lon).flip(1)  # north-up rows, (lon, lat) columns
log_densities = {fitted.name: fitted.log_prob(grid).reshape(len(lat), len(lon)) for fitted in fits}
fig = taxonomy.plot_density_maps(log_densities, title="p_model / p_data, on a log10 scale")
save(fig, out / "density_maps.png")

# %% [markdown]
# ## Who wins, and at what cost

# %%
exact = [row for row in rows if row["family"] != "baseline" and row["nll_kind"] == "exact"]
best = min(exact, key=lambda row: row["gap_nats"])
kde_row = next(row for row in rows if row["name"] == peers[1].name)
box_row = next(row for row in rows if row["name"] == peers[0].name)
verdict = (
    f"best exact family: {best['name']}, gap {best['gap_nats']:.3f} nats in "
    f"{best['fit_seconds']:.0f} s; the KDE's gap is {kde_row['gap_nats']:.3f} nats in "
    f"{kde_row['fit_seconds']:.0f} s ("
    + ("the family beats it" if best["gap_nats"] < kde_row["gap_nats"] else "the KDE wins")
    + ")"
)
results = {
    "families": [{key: row[key] for key in columns if key != "heldout_missed"} for row in rows],
    "entropy_bound": entropy,
    "num_train": args.num_train,
    "num_heldout": args.num_heldout,
    "heldout_missed": {row["name"]: row["heldout_missed"] for row in rows},
    "kde_bandwidth": peers[1].bandwidth,
    "verdict": verdict,
}
write_results(out, results)
if not args.quiet:
    print(f"entropy of p_data (the bound): {entropy:.3f} nats")
    print(
        f"{'model':<24}{'NLL':>8}{'gap':>8}{'accuracy':>10}{'TV':>7}{'samples/s':>11}{'fit s':>8}"
    )
    for row in rows:
        print(
            f"{row['name']:<24}{row['nll']:8.3f}{row['gap_nats']:8.3f}{row['accuracy']:10.3f}"
            f"{row['land_mass_tv']:7.3f}{row['samples_per_second']:11.0f}{row['fit_seconds']:8.1f}"
        )
    print(verdict)

# %% [markdown]
# Every number in the table is an exact NLL, so every gap is a true KL. The autoregressive
# model and the flow both learn coastlines that the box cannot, and their accuracies are far
# above the box's. Whether either beats the kernel density estimate, and by how much, is printed
# above for this run: at 20,000 points a well-tuned KDE is a strong baseline, because uniform
# density on a region is what a small, fixed blur approximates well. The families pay for their
# flexibility in fit time, and get in return a model that samples fast and can be reused inside
# a larger Pyro model.
