# %% [markdown]
# # Representation learning
#
# Representation learning: biscuit tins, PPCA and a VAE with a 2-D latent space.
#
# *Book: Figures 1-7, 1-8 and 1-9.*
#
# Run it from the shell (`python s07_representation.py --help` lists the flags) or open it in
# Jupyter as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
num_train = 10_000  # training images
num_test = 1000  # held-out images
num_steps = 2500  # SVI steps for the VAE
batch_size = 128  # batch size
lr = 2e-3  # initial learning rate for the VAE
lr_decay = 0.05  # learning rate shrinks by this over the run
hidden_dim = 256  # width of encoder and decoder layers
num_particles = 50  # K of the IWAE bound
num_quadrature = 50  # held-out images whose log p(x) is checked by quadrature over z
check_particles = 2000  # K of the IWAE bound that quadrature checks
grid = 10  # latent points per side of the decoder grid
num_taller = 8  # tins along the 'taller' direction
taller_span = 0.2  # height change either side, in units
kl_warmup = 0.5  # share of steps over which the KL weight rises to 1 (>= 0)
quick_sizes = {
    "num_train": 1000,
    "num_test": 200,
    "num_steps": 300,
    "num_particles": 5,
    "num_quadrature": 10,
    "check_particles": 200,
    "grid": 6,
}  # sizes quick uses unless given


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, display_path, write_results

args = chapter_args("s07_representation", globals())
out = args.out_dir

# %% [markdown]
# A 32 x 32 image has 1024 pixel values, but a biscuit tin is described by two: height and
# width. Representation learning finds a low-dimensional latent space in which such high-level
# features live, plus a mapping f (the decoder) from a latent point back to an image. Then
# "make the tin taller" is a step in latent space, not an edit of hundreds of pixels.
#
# Reproduces the book's Figure 1-7 (the biscuit-tin dataset) and Figure 1-8 (the decoder f mapping
# points of a 2-D latent space to images). Each tin is fully described by two numbers, its height
# and width; a VAE must find such a 2-D description on its own, from pixels alone:
#
# $$z \sim \mathcal{N}(0, I_2), \qquad x \mid z \sim \operatorname{ContinuousBernoulli}(f(z)),
# \qquad q(z \mid x) = \mathcal{N}(\operatorname{encoder}(x))$$
#
# PPCA, the linear latent-variable model, is the baseline. Both are fitted to 8-bit images,
# dequantised, and scored in held-out bits per dimension: PPCA's exactly, the VAE's through its
# IWAE bound, with the ELBO bound beside it.

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import pyro
import torch

from gdl_pyro import plots
from gdl_pyro.data.tins import bits_per_dim, dequantize, make_tins, measure_tins, to_levels
from gdl_pyro.manifold import pixel_pca, plot_manifold
from gdl_pyro.models import ppca
from gdl_pyro.models.vae import fit as fit_vae
from gdl_pyro.models.vae import latent_direction, linear_readout

SIZE = 32

# %%
pyro.set_rng_seed(args.seed)

start = time.perf_counter()

# %% [markdown]
# ## The biscuit-tin dataset (Figure 1-7)

# %%
images, labels = make_tins(args.num_train, size=SIZE, seed=args.seed)
test_images, test_labels = make_tins(args.num_test, size=SIZE, seed=args.seed + 1)
# The images as a file stores them, 8-bit (256 levels), then dequantised: level k becomes
# (k + u) / 256, u uniform. A density of continuous pixels can then be compared with any other
# in bits per dimension, against the discrete data it is really modelling.
x = dequantize(to_levels(images.reshape(len(images), -1)), seed=args.seed)
x_test = dequantize(to_levels(test_images.reshape(len(test_images), -1)), seed=args.seed + 1)
fig = plots.plot_image_grid(
    images[:32], titles=[f"h {h:.2f}, w {w:.2f}" for h, w in labels[:32]], ncols=8
)
fig.suptitle("Biscuit tins: each fully described by its height and width (Figure 1-7)")
plots.save(fig, out / "fig1_7_tins.png")

# %% [markdown]
# ## The linear baseline: PPCA
# Probabilistic PCA is the latent-variable model with a linear f. Its maximum-likelihood
# solution is closed form; its exact posterior gives each image's latent mean.
#
# The Pyro program, the library's own source: per image (the plate `"data"`) a latent z with a
# standard Normal prior and the observed pixels, Normal around the linear map W z + mu. W, mu and
# sigma are `pyro.param`s. **No guide**: the closed form maximises the likelihood with z
# integrated out (`ppca.marginal_model`), and the posterior of z is exact.

# %%
from gdl_pyro import show
from gdl_pyro.models.vae import VAE

show.source(ppca.model, quiet=args.quiet)

# %%
show.trace_shapes(ppca.model, x, quiet=args.quiet)

# %%
plots.save(
    show.plate_diagram(ppca.model, x, title="PPCA: a latent z and the observed pixels per image"),
    out / "plate_diagram_ppca.png",
)

# %%
ppca_fit = ppca.fit(x)  # the closed form
heldout_bpd_ppca = bits_per_dim(ppca_fit.log_prob(x_test), SIZE * SIZE).mean().item()
_, r2_ppca = linear_readout(ppca_fit.posterior(x_test).loc, test_labels)

# %% [markdown]
# ## The VAE: a nonlinear f, learned by SVI
# The decoder f and the encoder (the amortised guide q(z | x)) are neural networks
# registered with `pyro.module`; SVI maximises the ELBO on minibatches.
# In `elbo_trace.png` the ELBO settles within a few hundred steps; the later steps change it
# by little but keep arranging the latent space (a 300-step `--quick` run reads width back
# with R^2 near 0.9, the full run near 0.98).
#
# The model and its guide, the library's own source (`annealing_factor` weighs the KL term
# during a warm-up; 1 is the true ELBO):

# %%
show.source(VAE.model, VAE.guide, quiet=args.quiet)

# %%
vae = fit_vae(
    x,
    hidden_dim=args.hidden_dim,
    num_steps=args.num_steps,
    batch_size=args.batch_size,
    lr=args.lr,
    lr_decay=args.lr_decay,
    kl_warmup=args.kl_warmup,
    seed=args.seed,
    quiet=args.quiet,
    device=args.device,
)
fig = plots.plot_loss_trace(
    vae.losses,
    ylabel="-ELBO per image (nats)",
    title="VAE training (the first steps' drop from 0 runs off the top)",
    zoom_after=len(vae.losses) // 20,
    smooth=max(1, len(vae.losses) // 40),
)
if args.kl_warmup > 0:
    fig.axes[0].axvline(
        args.kl_warmup * args.num_steps,
        color="gray",
        ls=":",
        label="end of KL warm-up (the true -ELBO from here)",
    )
# Minibatch noise fills the axes: the legend goes below them, not over the curve.
fig.axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
plots.save(fig, out / "elbo_trace.png")

# %% [markdown]
# The fitted VAE's trace on a minibatch of 64 images: the decoder's weights, and per image a
# latent z and the observed pixels.

# %%
show.trace_shapes(vae.vae.model, x, batch_size=64, quiet=args.quiet)

# %%
plots.save(
    show.plate_diagram(vae.vae.model, x, title="The VAE: a latent z per image"),
    out / "plate_diagram_vae.png",
)

# %% [markdown]
# ## One number for both models: held-out bits per dimension
# The images' pixels were exactly 0 or 1 in large areas: a continuous density on them could
# grow without bound, and "thousands of nats" would rank sharpness, not closeness to the data.
# On 8-bit images, dequantised, each model's density bounds the probability of the discrete
# levels, so bits per dimension (bpd) are comparable and never below 0; a model uniform over
# [0, 1] in every pixel scores exactly 8. PPCA's density is exact; the VAE's is bounded from
# below by IWAE with K draws from the encoder (K = 1 is the ELBO), so its bpd is a bound too.

# %%
pixels = SIZE * SIZE
iwae = vae.log_prob_lower_bound(x_test, num_particles=args.num_particles, seed=args.seed)
heldout_bpd_vae = bits_per_dim(iwae, pixels).mean().item()
elbo = vae.log_prob_lower_bound(x_test, num_particles=1, seed=args.seed)
heldout_bpd_vae_elbo = bits_per_dim(elbo, pixels).mean().item()
pd.Series(
    {
        f"VAE, IWAE bound (K = {args.num_particles})": heldout_bpd_vae,
        "VAE, ELBO bound": heldout_bpd_vae_elbo,
        "PPCA (exact density)": heldout_bpd_ppca,
        "uniform pixels": 8.0,
    },
    name="held-out bits per dimension (lower is better)",
).round(3).to_frame()

# %% [markdown]
# ## Checking the bound: log p(x) by quadrature over the 2-D latent
# The IWAE bound is all a VAE with a many-dimensional latent can offer. This one has two
# latent dimensions, so the integral itself is within reach: on a grid of cells c over z,
#
# $$\log p(x) \approx \operatorname{logsumexp}_c \big[\log p(x \mid z_c) + \log p(z_c)
# + \log |c|\big],$$
#
# first over the prior (cells of 0.1 on $[-8, 8]^2$), then, since an image pins its z down to
# a few hundredths, on a finer grid over the box where each image's posterior has its mass
# (`gdl_pyro.quadrature`, the same code that checks s09's VAE on the map). The bound must not
# beat it (beyond its Monte Carlo noise), and with enough particles it should come close.
#
# Per image, the IWAE value is an *estimate*: its expectation over the K draws is a lower bound
# on log p(x), but one estimate can land above log p(x) as well as below. This run's agreement
# is printed below the cell and summarised in its table. In the full run (seed 0, 50 held-out
# images, K = 2,000; these numbers are that run's, not necessarily this one's) the two agreed on
# average (mean difference -0.02 nats per image) and within 0.1 nat on 35 images of 50, but not
# on every image. On one image the encoder's $q(z \mid x)$ sat off the posterior's mode by about
# three of its own standard deviations; the rare draws that land near the mode then carry huge
# weights. Its estimate there overshot log p(x) by 2.9 nats, and four more runs of 2,000 draws
# fell 0.3 to 1.0 nats short. Quadrature, the same to 0.002 nats at every grid tried, is what
# shows it.

# %%
probe = x_test[: args.num_quadrature]
quadrature = vae.log_prob_quadrature(probe)
check_iwae = vae.log_prob_lower_bound(probe, num_particles=args.check_particles, seed=args.seed)
difference = quadrature - check_iwae.double()
vae_check = {
    "num_images": len(probe),
    "num_particles": args.check_particles,
    "quadrature": quadrature.tolist(),
    "iwae": check_iwae.tolist(),
    "difference": difference.tolist(),
    "mean_difference": difference.mean().item(),
    "median_difference": difference.median().item(),
    "max_abs_difference": difference.abs().max().item(),
    "within_tenth_nat": int((difference.abs() <= 0.1).sum()),
}
if not args.quiet:
    print(
        f"this run, {vae_check['num_images']} images, K = {args.check_particles}: quadrature - "
        f"IWAE estimate is {vae_check['mean_difference']:+.3f} nats on average (median "
        f"{vae_check['median_difference']:+.3f}), within 0.1 nat on "
        f"{vae_check['within_tenth_nat']} of {vae_check['num_images']} images, at most "
        f"{vae_check['max_abs_difference']:.2f} in size"
    )
pd.DataFrame(
    {
        "log p(x) by quadrature": quadrature,
        f"IWAE estimate (K = {args.check_particles})": check_iwae,
        "quadrature - IWAE": difference,
    }
).describe().loc[["mean", "50%", "std", "min", "max"]].rename(index={"50%": "median"}).round(3)

# %% [markdown]
# ## The learned latent space
# Where does each held-out tin land? Colour by its true height, then by its true width: two
# smooth gradients crossing each other mean the two features were found without labels.

# %%
z_test = vae.encode(x_test)
coef, r2_vae = linear_readout(z_test, test_labels)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
for ax, column, name in zip(axes, range(2), ["height", "width"], strict=True):
    points = ax.scatter(z_test[:, 0], z_test[:, 1], c=test_labels[:, column], s=6, cmap="viridis")
    fig.colorbar(points, ax=ax, label=f"true {name}")
    ax.set(
        xlabel="z1",
        ylabel="z2",
        title=f"latent means coloured by {name} (R^2 {r2_vae[column]:.3f})",
    )
plots.save(fig, out / "latent_space.png")

# %% [markdown]
# ## Curved in pixel space, flat in latent space (Figure 1-9)
# Each tin is a point in 1024-D pixel space, and since tins vary in only two ways, all of them
# lie on a 2-D sheet there. The sheet is curved: the average of a narrow tin and a wide one is
# a blurred double outline, not a middling tin, so the sheet bends away from straight lines.
# Its first three principal components, the 3-D view of pixel space that keeps the most of the
# spread, show the bend. The VAE's latent means of the same tins lie on a flat plane, where
# height and width run as two smooth gradients.

# %%
pca = pixel_pca(x_test)
pca_share = pca.explained.sum().item()
fig = plot_manifold(
    pca.scores,
    z_test,
    test_labels,
    explained=pca.explained,
    title=(
        "Figure 1-9: the held-out tins on a curved 2-D sheet in pixel space (left: the first "
        f"three principal components,\n{pca_share:.0%} of the pixel variance) and flat in the "
        "VAE's latent space (right: latent means), coloured by true height and width"
    ),
)
plots.save(fig, out / "fig1_9_manifold.png")

# %% [markdown]
# ## The decoder f over the latent space (Figure 1-8)

# %%
low, high = z_test.quantile(0.03, 0), z_test.quantile(0.97, 0)
grid_z1 = torch.linspace(low[0], high[0], args.grid)
grid_z2 = torch.linspace(high[1], low[1], args.grid)  # top row = largest z2
grid = torch.cartesian_prod(grid_z2, grid_z1).flip(1)
decoded = vae.decode(grid).reshape(args.grid, args.grid, SIZE, SIZE)
fig = plots.plot_image_grid(decoded.reshape(-1, SIZE, SIZE), ncols=args.grid, size=0.9)
fig.suptitle("f(z): decoded tins over a grid of latent points (Figure 1-8); z1 across, z2 up")
plots.save(fig, out / "fig1_8_decoder_grid.png")

# %% [markdown]
# ## "Make it taller": a step in latent space
# The linear fit above says how the latent means move with height and width:
# $(\text{height}, \text{width}) = z B + c$. Inverting $B$ gives the latent direction that changes
# height by one unit while holding width. We decode tins along it from the average tin and measure
# them.

# %%
# The fit maps latent means to labels: labels = z @ B + intercept, B of shape (2, 2). The
# latent step dz that changes (height, width) by (1, 0) solves B^T dz = (1, 0).
step_per_height = latent_direction(coef, target=0)
start_z = z_test.mean(0)
steps = torch.linspace(-args.taller_span, args.taller_span, args.num_taller)
taller = vae.decode(start_z + steps[:, None] * step_per_height)
measured = measure_tins(taller.reshape(-1, SIZE, SIZE))
height_slope = linear_readout(steps[:, None], measured[:, :1])[0][0, 0].item()
width_slope = linear_readout(steps[:, None], measured[:, 1:])[0][0, 0].item()
fig = plots.plot_image_grid(
    taller.reshape(-1, SIZE, SIZE),
    ncols=args.num_taller,
    size=1.2,
    titles=[f"h {h:.2f}\nw {w:.2f}" for h, w in measured],
)
fig.suptitle(
    "Make it taller: decoded tins along one latent direction "
    f"(per unit step: height {height_slope:+.2f}, width {width_slope:+.2f})\n"
    "labels: height and width measured from each image's pixels, in whole pixels "
    "(so neighbours can tie)",
    fontsize=11,
)
plots.save(fig, out / "make_it_taller.png")

# %% [markdown]
# ## Generation: new tins from the prior

# %%
generated = vae.sample(16, seed=args.seed).reshape(-1, SIZE, SIZE)
fig = plots.plot_image_grid(generated, ncols=8)
fig.suptitle("New tins: z ~ N(0, I), decoded by f")
plots.save(fig, out / "generated.png")

# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s07.1")` returns one, and the book has a page of them.)
#
# The checks use PPCA, fitted in closed form to 1,000 tins in a second, not a VAE, which trains
# for minutes.
#
# **s07.1 Make it wider.** "Make it taller" above fitted the read-out
# $(\text{height}, \text{width}) = z B + c$ by least squares and solved
# $B^\top \Delta z = (1, 0)$. Write `wider_direction(z, labels)`: the latent step $\Delta z$,
# shape (2,), that makes a tin one unit wider (a unit is the image's side) and keeps its height,
# from the latent means `z`, shape (N, 2), of N tins and their true (height, width), `labels`,
# shape (N, 2); with torch.linalg, not `latent_direction`. The check hands it PPCA's latent
# means, decodes tins along your step from the average tin with PPCA's decoder
# $f(z) = W z + \mu$, and measures them with `measure_tins`, as the section did for taller ones.
# It passes when width grows by about 1 per unit step (0.65 to 1.35: widths are read in whole
# pixels, and a straight line through a curved latent space is right only near its middle)
# and height changes by less than 0.3.

# %%
from gdl_pyro import exercises


def wider_direction(z, labels):
    """The latent step dz, shape (2,), that widens a tin by 1 and keeps its height."""
    ...  # your code here


exercises.attempt("s07.1", wider_direction, quiet=args.quiet)

# %% [markdown]
# **s07.2 The exact posterior of a linear decoder.** The VAE's encoder is a guide,
# $q(z \mid x)$, that SVI fits to approximate the posterior. For PPCA no approximation is
# needed: with $z \sim \mathcal N(0, I)$ and $x \mid z \sim \mathcal N(W z + \mu, \sigma^2 I)$
# the posterior is Gaussian in closed form,
#
# $$p(z \mid x) = \mathcal N\big(M^{-1} W^\top (x - \mu),\ \sigma^2 M^{-1}\big), \qquad
# M = W^\top W + \sigma^2 I.$$
#
# Write `exact_posterior(x, W, mu, sigma)` (without `ppca.posterior`): $p(z \mid x)$ as a
# `dist.MultivariateNormal` with one batch member per image of `x`, shape (N, D), for W of
# shape (D, q), mu of shape (D,) and the noise sd sigma. The check compares it with the closed
# form derived another way and passes when KL(exact || yours) is below $10^{-4}$ nats per
# image, for the tins' PPCA (with W rotated, so that $W^\top W$ is not diagonal) and for a noisy
# PPCA with a 3-D latent, where the prior's pull toward 0 is strong. Its message says how
# tightly one image pins down its z.

# %%
import pyro.distributions as dist  # noqa: F401 (for your answer)


def exact_posterior(x, W, mu, sigma):
    """p(z | x) of PPCA for images x (N, D): a MultivariateNormal of batch shape (N,)."""
    ...  # your code here


exercises.attempt("s07.2", exact_posterior, quiet=args.quiet)


# %% [markdown]
# ## The section's numbers
# Written to `results.json` in the output folder (and printed unless `quiet`).

# %%
results = {
    "r2_height": r2_vae[0].item(),
    "r2_width": r2_vae[1].item(),
    "r2_height_ppca": r2_ppca[0].item(),
    "r2_width_ppca": r2_ppca[1].item(),
    "heldout_bpd_vae": heldout_bpd_vae,
    "heldout_bpd_vae_elbo": heldout_bpd_vae_elbo,
    "heldout_bpd_ppca": heldout_bpd_ppca,
    "num_particles": args.num_particles,
    "pca_explained": pca.explained.tolist(),
    "pca_explained_share": pca_share,
    "vae_check": vae_check,
    "taller_height_slope": height_slope,
    "taller_width_slope": width_slope,
    "generated_in_range": bool((generated >= 0).all() and (generated <= 1).all()),
    "seconds": time.perf_counter() - start,
}
write_results(out, results)
if not args.quiet:
    print(
        f"R^2 of a linear map from latent means to height / width: VAE {r2_vae[0]:.3f} / {r2_vae[1]:.3f}, "
        f"PPCA {r2_ppca[0]:.3f} / {r2_ppca[1]:.3f}"
    )
    print(
        f"held-out bits per dimension (8-bit, dequantised; lower is better): VAE {heldout_bpd_vae:.3f} "
        f"(IWAE bound, K={args.num_particles}; ELBO bound {heldout_bpd_vae_elbo:.3f}), "
        f"PPCA {heldout_bpd_ppca:.3f} (exact density); uniform pixels: 8"
    )
    print(
        f"log p(x) by quadrature over z minus the IWAE estimate (K={args.check_particles}; its "
        "expectation is a lower bound on log p(x)), "
        f"{vae_check['num_images']} held-out images: mean {vae_check['mean_difference']:.3f} "
        f"nats, largest {vae_check['max_abs_difference']:.3f} in size, "
        f"{vae_check['within_tenth_nat']} within 0.1 nat"
    )
    print(f"the first three principal components hold {pca_share:.1%} of the pixel variance")
    print(
        f"make it taller: measured height +{height_slope:.2f} and width {width_slope:+.2f} per unit step"
    )
    print(f"{results['seconds']:.0f} s; figures in {display_path(out)}")
