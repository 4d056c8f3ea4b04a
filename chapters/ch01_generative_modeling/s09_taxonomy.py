# %% [markdown]
# # The taxonomy of generative models
#
# Every family of Figure 1-10 fitted to one p_data and scored on one scale.
#
# *Book: Figure 1-10, a taxonomy of generative modelling approaches.*
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
num_generated = 20_000  # samples per model for accuracy, land-mass shares and speed
num_shown = 3000  # samples drawn at each leaf of the tree
ar_steps = 4000  # SVI steps of the autoregressive model
flow_steps = 1500  # SVI steps of the flow
vae_steps = 2500  # SVI steps of the VAE
iwae_particles = 250  # importance samples per point for the VAE's IWAE bound
num_quadrature = 2000  # held-out points on which the VAE's bound is checked by quadrature
energy_steps = 2000  # NCE steps of the energy-based model
diffusion_steps = 4000  # denoising steps of the diffusion model
gan_steps = 8000  # adversarial steps of the GAN
grid_step = 1.5  # degrees between the cells of the density maps
# The sizes quick uses for every size not given as a flag or parameter.
quick_sizes = {
    "num_train": 2000,
    "num_heldout": 2000,
    "num_generated": 5000,
    "num_shown": 1000,
    "ar_steps": 150,
    "flow_steps": 150,
    "vae_steps": 150,
    "iwae_particles": 50,
    "num_quadrature": 200,
    "energy_steps": 150,
    "diffusion_steps": 150,
    "gan_steps": 300,
    "grid_step": 3.0,
}


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, write_results

args = chapter_args("s09_taxonomy", globals())
out = args.out_dir

# %% [markdown]
# Every generative model must say something about the density p(x). The chapter sorts them by
# what:
#
# - **explicit and tractable**: p(x) is written down and computed exactly. Autoregressive models
#   factor it coordinate by coordinate, $p(x) = p(x_1)\, p(x_2 \mid x_1)$; normalizing flows push a simple
#   density through an invertible map and track the change of volume.
# - **explicit and approximate**: p(x) is written down but only bounded or estimated (VAEs,
#   energy-based models, diffusion models).
# - **implicit**: no density at all, only a way to sample (GANs).
#
# Here every family learns the same p_data, uniform over land, from the same 20,000 points, and
# is scored on one scale. Because p_data is known, a held-out NLL minus the entropy of p_data
# is the true $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}})$ when the NLL is exact, which no benchmark on real data can
# offer. Two peers stand beside the families: the MLE box of the "Hello World", and a Gaussian
# kernel density estimate, the baseline a user would pick for a 2-D density.
#
# All six families are fitted here, each as a Pyro model: the two tractable ones, the three
# approximate ones and the GAN.

# %%
import numpy as np
import pyro
import torch

from gdl_pyro import seed_runs, taxonomy
from gdl_pyro.data import world
from gdl_pyro.models import autoregressive, box, diffusion, energy, flow, gan, kde, vae_points
from gdl_pyro.plots import save

# %%
pyro.set_rng_seed(args.seed)

x = world.sample_land(args.num_train)
x_test = world.sample_land(args.num_heldout)
entropy = world.LandUniform().entropy().item()
common = {"seed": args.seed, "quiet": args.quiet, "device": args.device}

# %% [markdown]
# ## The peers: the box and a kernel density estimate
# The box is the maximum-likelihood box of the "Hello World", fitted by SVI as in s04 (its
# answer is the bounding box of the points). The KDE puts a Gaussian of width h on every
# training point, with h chosen by 5-fold cross-validation on the training points (candidates
# from 0.25 to 7.5 degrees), and is then scored as a Pyro distribution like every other fit. It
# respects the map as the families' training noise does: its kernels wrap in longitude and
# reflect at the poles (`kde.fit`'s default), so none of its mass falls off the map.

# %%
# Candidate bandwidths up to 7.5 degrees: the choice here is 1.5, and the wider candidates of the
# default grid (up to 30) took 14 of the search's 17 s without being chosen.
peers = [
    box.fit(x, method="mle", **common),
    kde.fit(x, bandwidths=kde.BANDWIDTHS[kde.BANDWIDTHS < 8], **common),
]

# %% [markdown]
# ## Explicit and tractable: an autoregressive model
# $p(x) = p(\text{lat})\, p(\text{lon} \mid \text{lat})$, a Pyro model with two sample sites in
# that order:
#
# - $p(\text{lat})$ is a histogram density over half-degree bands;
# - $p(\text{lon} \mid \text{lat})$ is a mixture of 64 von Mises distributions, whose weights,
#   centres and widths an MLP computes from the latitude.
#
# Latitude comes first because longitude is the coordinate that wraps: -180 and 180 are the same
# meridian, and Chukotka, Fiji and Antarctica cross it. As an output, longitude gets a density on
# the circle, continuous across the seam, that integrates to 1 over [-180, 180) with no mass lost
# off the map. Latitude does not wrap, so it is the easy input.
#
# Fitted by maximum likelihood (SVI with an empty guide). Each step's minibatch is jittered by
# 0.6 degrees of Gaussian noise (noise regularisation): without it the network sharpens onto
# single training points and the held-out NLL suffers.
#
# The Pyro program: the network, registered with `pyro.module` so that SVI trains its weights,
# and the two observed sites under the plate `"data"`, latitude first, then longitude given it.
# **No guide: maximum likelihood** (nothing is latent). `autoregressive.fit(x,
# model=autoregressive_model)` fits this program, as written here, with the library's network
# and SVI loop. Given the library's own copy (`autoregressive.model`) the same call returns the
# same weights to the last bit: `tests/test_section_models.py` holds the two programs equal, and
# their fits identical.

# %%
from gdl_pyro import show


def autoregressive_model(x, module, batch_size=None):
    pyro.module(module.name, module)
    with pyro.plate("data", len(x), subsample_size=batch_size) as index:
        lat = pyro.sample("lat", module.lat_distribution(), obs=x[index, 1])
        pyro.sample("lon", module.lon_distribution(lat), obs=x[index, 0])


# %%
# Minibatches of 512 points: measured at 4,000 steps, a held-out gap of 0.157 nats in 18 s, where
# the library's default of 1,024 reached 0.153 in 28 s.
ar_fit = autoregressive.fit(
    x, model=autoregressive_model, num_steps=args.ar_steps, batch_size=512, **common
)

# %% [markdown]
# The fitted program's trace on a minibatch of 512: the network's parameters, and one latitude
# and one longitude per point.

# %%
show.trace_shapes(autoregressive_model, x, ar_fit.module, batch_size=512, quiet=args.quiet)

# %% [markdown]
# The program's log density of the held-out points, with the fitted network, is the fit's own
# `log_prob`: the two sites add up to the density the rest of the section scores.

# %%
from pyro import poutine

with torch.no_grad():
    written = poutine.trace(autoregressive_model).get_trace(x_test, ar_fit.module)
ar_as_written = {
    "mean_log_density_as_written": written.log_prob_sum().item() / len(x_test),
    "mean_log_density_library": ar_fit.log_prob(x_test).mean().item(),
}
ar_as_written

# %% [markdown]
# ## Explicit and tractable: a normalizing flow
# Zuko's neural spline flow: three monotonic rational-quadratic spline transforms, each computed
# by a masked network from the coordinate before it, over a standard Normal base. Pyro wraps the
# flow's density and fits it by maximum likelihood, again SVI with an empty guide. The program,
# the library's own source:

# %%
show.source(flow.model, quiet=args.quiet)

# %%
flow_fit = flow.fit(x, num_steps=args.flow_steps, **common)

# %% [markdown]
# ## Explicit but approximate: a VAE
# A 2-D latent z ~ N(0, I), a decoder MLP that gives a Normal over (longitude, latitude), and an
# encoder MLP for the amortised guide q(z | x); SVI maximises the ELBO. p(x) is an integral over
# z with no closed form, so the table gets the IWAE bound with 250 particles: a lower bound
# on log p(x), so its NLL is an *upper bound*. With a 2-D latent the integral can also be done on
# a grid over z, which checks the bound: it must not beat the quadrature. The model and its
# guide, the library's own source:

# %%
show.source(vae_points.model, vae_points.guide, quiet=args.quiet)

# %%
vae_fit = vae_points.fit(x, num_steps=args.vae_steps, **common)


def vae_bound(points):
    return vae_fit.log_prob_lower_bound(points, num_particles=args.iwae_particles, seed=args.seed)


probe = x_test[: args.num_quadrature]
vae_check = {
    "num_points": len(probe),
    "iwae_nll": -vae_bound(probe).mean().item(),
    "elbo_nll": -vae_fit.log_prob_lower_bound(probe, num_particles=1, seed=args.seed).mean().item(),
    "quadrature_nll": -vae_fit.log_prob_quadrature(probe).mean().item(),
}
if not args.quiet:
    print(
        f"IWAE bound minus log p(x) by quadrature, {vae_check['num_points']} held-out points: "
        f"{vae_check['iwae_nll'] - vae_check['quadrature_nll']:.4f} nats per point on average"
    )
vae_check

# %% [markdown]
# The VAE's structure: per point (the plate `"data"`) a latent z and the observed point, and the
# fitted model's trace on 1,000 points (the networks' weights are its parameters).

# %%
show.trace_shapes(vae_points.model, x[:1000], vae=vae_fit.vae, quiet=args.quiet)

# %%
save(
    show.plate_diagram(vae_points.model, x[:1000], vae=vae_fit.vae, title="The VAE on points"),
    out / "plate_diagram_vae.png",
)

# %% [markdown]
# ## Explicit but approximate: an energy-based model
# $p(x) = e^{-E(x)} / Z$ for any function $E$, here an MLP on Fourier features of the point.
# $Z$ is what makes the family hard: in high dimensions it is an integral nobody can do, so
# training must avoid it. Noise-contrastive estimation does: a classifier (a Pyro model with
# Bernoulli labels, fitted by SVI) tells the training points from uniform noise $q$ on the map,
# with logit $-E(x) - \log q(x)$. At its optimum $-E(x) = \log p_{\text{data}}(x)$, so the
# energy learns its own normaliser.
#
# On the map Z is only a 2-D integral, so quadrature computes it (at two grid steps, to show the
# error is negligible) and the NLL in the table is *exact*: the family is approximate in general,
# not here. Samples come from Pyro's NUTS on the potential E, many chains run as one NUTS chain
# on their product space. `energy_fit.sample` starts them from the quadrature grid (a cell by its
# mass, then a point inside it), which already puts the right share of them on land.
#
# **Does NUTS sample the density that quadrature describes?** The check compares the share of
# NUTS draws on land with the density's mass on land by quadrature, from starts that do not hold
# the answer: the grid's would pass whatever NUTS did. The chains start uniformly on the map, so
# 0.33 of them on land (the land's share of the map). `land_share_by_warmup` is the share of
# their first draw after 0, 20, 100 and 300 warm-up steps; after the last they keep 50 draws a
# chain. A chain's draws are correlated, so the standard error counts effective draws:
# $\mathrm{SE} = \sqrt{p (1 - p) / \mathrm{ESS}}$, with ArviZ's ESS of the land indicator (chains first). The check
# passes when |NUTS share - quadrature share| is at most 3 SE; `z` is that ratio.
#
# It fails. On a fit at the default settings (the full run's numbers) the share climbed from
# 0.36 to 0.53, 0.60 and 0.60 after 0, 20, 100 and 300 warm-up steps, against 0.94 by
# quadrature: z = 11 (SE 0.029, from an ESS of 275 in 10,000 draws). NCE gives the sea a tiny
# density but no particular shape, and E has local minima over the oceans (log p of -12 to -58
# where land has -10) that NUTS's local moves are slow to leave: a chain that starts over the
# Pacific tends to stay there. Two things share the blame, and this check cannot tell them apart.
# One is the energy's shape. The other is the sampler as set up here: the chains run as one NUTS
# chain on their product space, so they share one step size and one trajectory length, and a
# chain in a narrow minimum shortens the steps of all. Deeper trees help without closing the gap
# (0.61 at depth 3 and 0.73 at depth 6 after 400 warm-up steps, `energy.sample_mcmc`'s notes).
# Separate NUTS chains, each adapting on its own, do better: 40 of them from uniform starts, 300
# warm-up steps and 50 draws each, trees at most 3 deep, put 0.807 of their draws on land (151 s,
# measured once on a fit at the defaults). Against 0.939 that is z = 2.9, inside 3 SE only
# because 40 chains give an ESS of 77: still 0.13 short, so the sampler's coupling explains part
# of the gap, not all of it. Starting from p_data's points
# instead, all on land, the share does land within 3 SE of quadrature (z = 1.5 on that fit), but
# so it does when NUTS samples p^0.5 instead of p (z = 2.9): starts that close to the answer test
# little.
#
# So NUTS does the local part, the blur inside a cell and at the coasts, and the grid start does
# the global part for `energy_fit.sample`: how much mass each continent gets. That is why the
# land share of the fit's own samples, which start from the grid
# (`land_share_of_fit_samples_grid_start`), agrees with quadrature whatever NUTS does: it records
# the grid start and tests nothing. In 2-D quadrature can weigh the continents; in 784
# dimensions no grid can, which is why sampling an EBM is hard.
#
# The NCE program that trains the energy, the library's own source (no guide: maximum likelihood
# of the labels):

# %%
show.source(energy.nce_model, quiet=args.quiet)

# %%
energy_fit = energy.fit(x, num_steps=args.energy_steps, **common)
# The density's mass on land by quadrature, over the centres of the land mask's 0.25-degree cells.
cells = torch.cartesian_prod(torch.arange(-179.875, 180, 0.25), torch.arange(-89.875, 90, 0.25))
cell_mass = energy_fit.log_prob(cells).exp() * 0.25**2
land_by_quadrature = cell_mass[world.is_land(cells)].sum().item()
energy_check = {
    "log_z_by_step": {str(step): value for step, value in energy_fit.log_z_by_step.items()},
    "land_mass_by_quadrature": land_by_quadrature,
}
# The check: chains from uniform starts (the same starts in every run), the land share of their
# first draw after each warm-up, and 50 draws a chain after the last (ArviZ's ESS needs 30 or
# more: energy.share_check). It misses by many SE, so a chain per 100 generated points shows it.
num_chains, draws_per_chain = max(args.num_generated // 100, 1), 50
warmups = [0, 20, 100] if args.quick else [0, 20, 100, 300]
land_share_by_warmup = {}
for warmup in warmups:
    chains = energy.sample_mcmc(
        energy_fit.energy,
        num_chains * (draws_per_chain if warmup == warmups[-1] else 1),
        num_chains=num_chains,
        warmup_steps=warmup,
        max_tree_depth=3,
        start="uniform",
        seed=args.seed,
        quiet=True,
        return_chains=True,
    )
    land_share_by_warmup[str(warmup)] = world.is_land(chains[0]).double().mean().item()
energy_check["nuts_from_uniform"] = {
    "start_share": world.land_area() / (360 * 180),
    "land_share_by_warmup": land_share_by_warmup,
    "warmup_steps": warmups[-1],
    "max_tree_depth": 3,
    **energy.share_check(chains, world.is_land, land_by_quadrature),
}
energy_check

# %% [markdown]
# ## Explicit but approximate: a diffusion model
# A DDPM: a fixed forward process adds Gaussian noise to a point in 200 steps until it is a
# standard Normal; a network learns to predict the noise, which defines a reverse chain from
# noise back to the map. The reverse chain is a Pyro model (sites "y200", ..., "y1", "obs") and
# the forward process is its guide, so the pair's ELBO, as Pyro's `Trace_ELBO` computes it, is
# the diffusion model's variational bound: its NLL is an *upper bound*. The network is trained on
# Ho et al.'s simplified loss, itself a Pyro model (the noise observed under a Normal around the
# prediction). `diffusion_check` computes the bound a second way, each step's KL in closed
# form; the two estimates must agree within their standard errors. The reverse chain and its
# guide, the library's own source:

# %%
show.source(diffusion.model, diffusion.guide, quiet=args.quiet)

# %%
diffusion_fit = diffusion.fit(x, num_steps=args.diffusion_steps, **common)


def _mean_and_se(values):
    return -values.mean().item(), (values.std() / len(values) ** 0.5).item()


diffusion_check = {}
for estimator in ["trace", "closed_form"]:
    values = diffusion_fit.log_prob_lower_bound(probe, seed=args.seed, estimator=estimator)
    diffusion_check[f"{estimator}_nll"], diffusion_check[f"{estimator}_se"] = _mean_and_se(values)
diffusion_check

# %% [markdown]
# ## Implicit: a GAN
# A generator G(z) = D tanh(g(z)) as a Pyro model, against a discriminator, trained with the
# non-saturating GAN loss in plain PyTorch (Pyro's objectives bound a likelihood; a GAN has
# none). It samples, and that is all: `gan_fit.log_prob` raises `NoDensityError`, and its
# `nll_kind` is "none". For the table a KDE is fitted to 20,000 of its samples (bandwidth by
# cross-validation on those samples) and scores the held-out points, under its own kind,
# `kde_of_samples`: the exact NLL of that KDE, which mixes the GAN's error with the KDE's, not an
# estimate of the GAN's NLL. To show the KDE's share, the table runs the same procedure on
# 20,000 of p_data's own samples: a perfect model would score that gap, not 0
# (`gan_kde_of_samples` in results.json). It punishes every stretch of land that the GAN leaves empty, which
# is the point of scoring a GAN at all. The generator as a Pyro program, the library's own
# source:

# %%
show.source(gan.model, quiet=args.quiet)

# %%
gan_fit = gan.fit(x, num_steps=args.gan_steps, **common)

# %% [markdown]
# ## One table, one scale
# Each fit is scored on the same held-out points:
#
# - `nll`: held-out NLL in nats per point, and `nll_kind` says what it is. For an `exact` NLL,
#   `gap_nats` (NLL minus the entropy of $p_{\text{data}}$) is
#   $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}})$ itself, up to the
#   noise of 20,000 held-out points (about 0.005 nats). An `upper_bound` (the VAE's) says the
#   true gap is at most this; a `kde_of_samples` (the GAN's) is the exact NLL of a KDE of its
#   samples, which mixes the model's error with the KDE's. So the exact rows are ranked among themselves, and the other
#   kinds follow, each under its label, not ranked against them.
# - `accuracy`: the share of 20,000 samples that fall on land (a standard error of at most
#   0.0035).
# - `land_mass_tv`: how far the samples' shares over the five land masses of s08 are from
#   p_data's (total variation; 0 is perfect). A model that drops a continent shows it here.
# - samples per second and fit seconds: what each costs.
#
# The box gives density 0 to the held-out points outside it (`heldout_missed`); its NLL is over
# the points it covers, so its gap is finite while its true KL, `kl_nats`, is infinite when it
# misses any. `kl_nats` is the gap itself for every other exact row, and empty (None) where the
# NLL is not exact: a bound or a KDE of samples does not give the KL.

# %%
# Every fit says how it is scored (its `nll_kind`): the table asks the VAE for its IWAE bound at
# 250 particles, and the GAN's KDE of samples gets a narrower grid than the KDE peer's (whose
# choice on the data was 1.5 degrees).
fits = [*peers, ar_fit, flow_fit, energy_fit, vae_fit, diffusion_fit, gan_fit]
rows = taxonomy.family_table(
    fits,
    x_test,
    num_samples=args.num_generated,
    seed=args.seed,
    bound_options={vae_fit.name: {"num_particles": args.iwae_particles}},
    kde_bandwidths=np.geomspace(0.5, 4.0, 8),
)
gan_row = next(row for row in rows if row["family"] == "gan")
# The energy's accuracy: the share on land of the fit's own samples. They start from the grid, so
# they agree with quadrature whatever NUTS does: a record of the grid start, not a test of NUTS
# (that is `nuts_from_uniform` above).
energy_check["land_share_of_fit_samples_grid_start"] = next(
    r for r in rows if r["family"] == "energy"
)["accuracy"]
columns = [
    "name",
    "family",
    "branch",
    "nll",
    "nll_kind",
    "gap_nats",
    "heldout_missed",
    "kl_nats",
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
leaves = {
    family: fitted.sample(args.num_shown, seed=args.seed)
    for family, fitted in [
        ("autoregressive", ar_fit),
        ("flow", flow_fit),
        ("vae", vae_fit),
        ("energy", energy_fit),
        ("diffusion", diffusion_fit),
        ("gan", gan_fit),
    ]
}
fig = taxonomy.plot_tree(leaves, title="Figure 1-10: generative models by how they treat p(x)")
save(fig, out / "taxonomy.png")

# %% [markdown]
# ## Each density on the map
# Every family with a density: the GAN has none, the diffusion model's is an integral over its
# whole reverse chain (only bounded), and their samples are at their leaves above.
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
exact_fits = [fitted for fitted in fits if fitted.nll_kind == "exact"]
log_densities = {
    fitted.name: fitted.log_prob(grid).reshape(len(lat), len(lon)) for fitted in exact_fits
}
# The VAE's map by quadrature over z, not its bound: a Monte Carlo bound per cell would only add
# noise. The GAN has no density to draw; its samples are at its leaf of Figure 1-10.
log_densities["VAE (quadrature over z)"] = vae_fit.log_prob_quadrature_grid(lon, lat)
fig = taxonomy.plot_density_maps(log_densities, title="p_model / p_data, on a log10 scale")
save(fig, out / "density_maps.png")

# %% [markdown]
# ## Who wins, and at what cost

# %%
exact = [row for row in rows if row["branch"] != "baseline" and row["nll_kind"] == "exact"]
best = min(exact, key=lambda row: row["gap_nats"])
kde_row = next(row for row in rows if row["family"] == "kde")
verdict = (
    f"best exact family: {best['name']}, gap {best['gap_nats']:.3f} nats in "
    f"{best['fit_seconds']:.0f} s; the KDE's gap is {kde_row['gap_nats']:.3f} nats in "
    f"{kde_row['fit_seconds']:.0f} s ("
    + ("the family beats it" if best["gap_nats"] < kde_row["gap_nats"] else "the KDE wins")
    + ") on this run's seed"
)

# %% [markdown]
# That line is one training seed's. `make seeds` trains the energy-based model, the
# autoregressive model, the flow and the KDE again on seeds 0 to 4 (new training and held-out
# points each time, drawn as this section draws them, with this section's default settings;
# seed 0 is this section's default run) and stores the runs (`gdl_pyro.seed_runs`). The verdict
# below is computed from them: the mean difference to the KDE, the spread between seeds, and one
# seed's held-out paired error, beside scikit-learn's own `KernelDensity` on the same points.

# %%
seed_verdict = seed_runs.verdict("s09")
if not args.quiet:
    print(seed_runs.sentence(seed_verdict))
{label: [round(gap, 3) for gap in gaps] for label, gaps in seed_verdict["gaps_by_seed"].items()}

# %%
results = {
    "families": [{key: row[key] for key in columns} for row in rows],
    "entropy_bound": entropy,
    "num_train": args.num_train,
    "num_heldout": args.num_heldout,
    "heldout_missed": {row["name"]: row["heldout_missed"] for row in rows},
    "kde_bandwidth": next(f for f in fits if f.family == "kde").bandwidth,
    "vae_check": vae_check,
    "energy_check": energy_check,
    "autoregressive_as_written": ar_as_written,
    "diffusion_check": diffusion_check,
    "gan_kde_of_samples": {
        "bandwidth": gan_row["kde_bandwidth"],
        "gap_nats": gan_row["gap_nats"],
        "same_procedure_on_p_data_gap_nats": gan_row["kde_of_p_data_gap"],
    },
    "verdict": verdict,
    "seed_verdict": seed_verdict,
}
write_results(out, results)
if not args.quiet:
    print(f"entropy of p_data (the bound): {entropy:.3f} nats")
    print(
        f"{'model':<26}{'NLL':>8}{'kind':>15}{'gap':>8}{'accuracy':>10}{'TV':>7}"
        f"{'samples/s':>11}{'fit s':>8}"
    )
    for row in rows:
        print(
            f"{row['name']:<26}{row['nll']:8.3f}{row['nll_kind']:>15}{row['gap_nats']:8.3f}"
            f"{row['accuracy']:10.3f}"
            f"{row['land_mass_tv']:7.3f}{row['samples_per_second']:11.0f}{row['fit_seconds']:8.1f}"
        )
    print(
        f"the GAN's row is a KDE of its samples (bandwidth {gan_row['kde_bandwidth']:.2f} "
        f"degrees): the same procedure on p_data's own samples reports a gap of "
        f"{gan_row['kde_of_p_data_gap']:.3f} nats, not 0"
    )
    print(verdict)

# %% [markdown]
# What each kind of number can claim:
#
# - **exact** (the box, the KDE, the autoregressive model, the flow, the energy-based model): the
#   gap is a true KL. The families learn coastlines that the box cannot. Whether they beat the
#   KDE, and by how much over five training seeds, is printed above: at 20,000 points a tuned KDE
#   is a strong baseline, because uniform density on a region is what a small, fixed blur
#   approximates well.
#   The energy-based model is exact only because the map is 2-D: its log Z is a quadrature whose
#   two grid steps agree (`energy_check`). In 784 dimensions no grid exists, and an EBM's
#   likelihood can then only be estimated (annealed importance sampling, for instance).
# - **upper bound** (the VAE, the diffusion model): the true gap is at most the one shown, and
#   an upper bound is not ranked against exact values. For the VAE the quadrature over z
#   (`vae_check`, printed where the VAE is fitted: `iwae_nll` minus `quadrature_nll`) shows how
#   far the IWAE bound sits from log p(x) on average (a few thousandths of a nat in the full
#   run), so its gap really is that large: a Normal decoder blurs every coastline by its own width. For the
#   diffusion model nothing computes log p(x) itself; the bound's slack is the sum of the
#   reverse chain's per-step errors, and the gap shown says how good the model is at most. Its
#   samples (its leaf) and accuracy say more about it than the bound does.
# - **KDE of samples** (the GAN): a KDE of its samples stands in for a density it does not have.
#   Land the GAN leaves empty gets almost no density from that KDE, so held-out points there
#   cost many nats. Its accuracy and land-mass shares are the GAN's own and compare directly
#   with every row; at its leaf of Figure 1-10 its samples crowd onto a few curves (the
#   generator maps a 2-D noise onto thin ridges), a partial mode collapse that accuracy alone
#   would not reveal.
#
# The families pay for their flexibility in fit time, and get in return models that can be
# reused inside a larger Pyro model. Sampling costs differ by orders of magnitude (the table's
# samples per second): the autoregressive model, the flow, the VAE and the GAN draw a point in one
# pass through a network, while the diffusion model runs its network 200 times down the reverse
# chain and the energy-based model needs MCMC, NUTS steps on its potential.

# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s09.1")` returns one, and the book has a page of them.)
#
# **s09.1 An autoregressive model, longitude first.** The chain rule holds in either order:
# $p(x) = p(\text{lat})\, p(\text{lon} \mid \text{lat})$
# $= p(\text{lon})\, p(\text{lat} \mid \text{lon})$. The section put latitude first for its networks' sake, not because the other
# order is wrong. Write the other order as a Pyro program, `lon_first_model(x=None, *,
# num_data=None)`: inside `pyro.plate("data", N)`, a site `"lon"` (observing `x[:, 0]` when x is
# given), then a site `"lat"` given it (observing `x[:, 1]`). Make both factors exact, from
# p_data's own land mask: $p(\text{lon})$ proportional to the land cells in each 0.25-degree
# column, and $p(\text{lat} \mid \text{lon})$ uniform over the land cells of lon's column.
# `PiecewiseUniform(low, high, logits)` is a histogram density whose bin 0 starts at `low`
# (logits may be batched, one row per point, and a logit of $-\infty$, log 0, is a bin of
# probability 0). `world.land_mask()` is north-up: its row 0 spans latitudes 90 to 89.75, its
# column 0 longitudes -180 to -179.75. The check traces your program on 2,000 points of p_data
# (the sites, their order, the plate, the observed values), compares
# $\log p(\text{lon}) + \log p(\text{lat} \mid \text{lon})$ with p_data's
# $-\log(\text{land area})$ to $10^{-3}$ nats, and simulates 4,000 points with `x=None`, which
# must lie on land.

# %%
from gdl_pyro import exercises
from gdl_pyro.distributions import PiecewiseUniform  # noqa: F401 (for your answer)


def lon_first_model(x=None, *, num_data=None):
    """p(lon) p(lat | lon) from the land mask: sites "lon", then "lat", in the plate "data"."""
    ...  # your code here


exercises.attempt("s09.1", lon_first_model, quiet=args.quiet)

# %% [markdown]
# **s09.2 Longitude on the circle.** Longitude is last in the section's model because it wraps:
# -180 and 180 are the same meridian, and a density of longitude should integrate to 1 over
# $[-180, 180)$ and be continuous across that seam, as the von Mises mixture is. Write
# `wrapped_lon_log_prob(lon, centres, bandwidth)`: at the longitudes `lon`, shape (M,), the log
# density of the Gaussian KDE of the longitudes `centres`, shape (N,), wrapped onto the circle,
#
# $$q(\ell) = \frac1N \sum_{i=1}^N \sum_{k \in \mathbb{Z}} \mathcal{N}(\ell \mid c_i + 360 k,
# h^2),$$
#
# with h = `bandwidth` in degrees. The check uses h = 2 and 10, for which the images one turn
# away, $k = \pm 1$, are all that count. It integrates your density over $[-180, 180)$ (1, to
# $10^{-4}$), compares its log at -180 and at 180 (to $10^{-3}$ nats) and then every value with
# the closed form. Last, it measures what wrapping is worth: the gap to p_data's longitude of
# your KDE and of the plain one, on 4,000 fresh longitudes.


# %%
def wrapped_lon_log_prob(lon, centres, bandwidth):
    """log q(lon) of the wrapped Gaussian KDE of centres (N,), at lon (M,): shape (M,)."""
    ...  # your code here


exercises.attempt("s09.2", wrapped_lon_log_prob, quiet=args.quiet)

# %% [markdown]
# **s09.3 A KDE's bandwidth, chosen on one scale.** The KDE peer chose its bandwidth h by
# cross-validation. Write `choose_bandwidth(x_train, x_valid)`: the bandwidth, in degrees, whose
# map-respecting KDE of `x_train` gives the points `x_valid` the highest mean log density
# (`kde.MapKDE(x_train, h).log_prob(x_valid)`; candidates from 1 to 20 degrees are plenty). The
# check gives you 500 points of each, fits the map's KDE of the training points with your h and
# scores 2,000 fresh points of p_data: their mean NLL minus p_data's entropy estimates the true
# $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}})$, the table's gap. It passes within 0.03
# nats of the best bandwidth on a grid from 1 to 16 degrees (a choice made on 500 validation
# points is itself noisy by about 0.02). Why score `x_valid` and not `x_train`? Try both.


# %%
def choose_bandwidth(x_train, x_valid):
    """The bandwidth (degrees) that scores x_valid best under the map's KDE of x_train."""
    ...  # your code here


exercises.attempt("s09.3", choose_bandwidth, quiet=args.quiet)
