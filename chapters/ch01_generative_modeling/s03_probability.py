# %% [markdown]
# # Core probability theory, on the map
#
# Sample space, density, parametric family and likelihood, each checked numerically on the map.
#
# *Book: no figure of its own: the chapter's core probability terms.*
#
# Run it from the shell (`python s03_probability.py --help` lists the flags) or open it in
# Jupyter as a notebook; the cell tagged `parameters` below holds the settings that both use.

# %% tags=["parameters"]
seed = 0  # random seed (same seed, same numbers)
quick = False  # small sizes: seconds, for CI and a first look
quiet = False  # no progress bars and no printed summary
device = "cpu"  # torch device for the fits (e.g. cuda); results come back on the cpu
out_dir = None  # folder for figures and results.json; None: outputs/ch01/<section>
num_data = 2000  # observed points from p_data
grid_step = 0.125  # cell width in degrees for the numerical integrals
grid_size = 121  # points per axis of the surface
quick_sizes = {"num_data": 500, "grid_step": 0.25, "grid_size": 41}  # sizes quick uses unless given


# %% tags=["remove-cell"]
# Plumbing, hidden in the book: flags or injected parameters, quick's sizes, checks.
from gdl_pyro.scripting import chapter_args, write_results

args = chapter_args("s03_probability", globals())
out = args.out_dir

# %% [markdown]
# Each definition of the chapter gets a number you can check.
#
# The chapter's definitions, each checked numerically on the world map:
#
# - sample space: every (longitude, latitude), the rectangle $[-180, 180] \times [-90, 90]$;
# - density function $p(x)$: integrates to 1 over the sample space (p_data and the box);
# - parametric family $p_\theta(x)$: one box per $\theta = (\theta_1, \theta_2, \theta_3, \theta_4)$;
# - likelihood $L(\theta \mid X) = \prod_i p_\theta(x_i)$, which underflows to 0 in floating
#   point for a few hundred points, while the log-likelihood $\sum_i \log p_\theta(x_i)$ stays
#   finite;
# - a $\theta$ whose box misses one point has likelihood 0 (log-likelihood $-\infty$).

# %%
import math

import pyro
import torch

from gdl_pyro import plots
from gdl_pyro.data import world
from gdl_pyro.distributions import SAMPLE_SPACE_HIGH, SAMPLE_SPACE_LOW, UniformBox
from gdl_pyro.models import box


def integrate(distribution, step: float) -> float:
    """Midpoint rule for the integral of exp(log_prob) over the sample space on a square grid."""
    lon = torch.arange(SAMPLE_SPACE_LOW[0] + step / 2, SAMPLE_SPACE_HIGH[0], step)
    lat = torch.arange(SAMPLE_SPACE_LOW[1] + step / 2, SAMPLE_SPACE_HIGH[1], step)
    grid = torch.cartesian_prod(lon, lat)
    return float(distribution.log_prob(grid).exp().double().sum() * step**2)


# %%
pyro.set_rng_seed(args.seed)


# %% [markdown]
# ## Sample space and density function
# The sample space is the whole map. A density p(x) is >= 0 and integrates to 1 over it. We
# check by summing p over a grid of cells `step` degrees wide.

# %%
x = world.sample_land(args.num_data)
low, high = box.mle(x)
p_data, p_box = world.LandUniform(), UniformBox(low, high)
integral_p_data = integrate(p_data, args.grid_step)
integral_box = integrate(p_box, args.grid_step)

# %% [markdown]
# ## A parametric family
# Every theta gives one box, one density. A few members, with the data:

# %%
ax = plots.map_axes(show_land=False, title="Members of the box family p_theta, with the data")
family = {
    "theta = MLE": (low, high),
    "theta = (-120, -40, 60, 70)": (torch.tensor([-120.0, -40.0]), torch.tensor([60.0, 70.0])),
    "theta = left half": (torch.tensor([-180.0, -90.0]), torch.tensor([0.0, 90.0])),
}
for (name, (lo, hi)), color in zip(
    family.items(), ["tab:orange", "tab:purple", "tab:red"], strict=True
):
    plots.add_box(
        ax,
        lo,
        hi,
        label=f"{name}: log L = {box.log_likelihood(x, lo, hi):.1f}",
        color=color,
        filled=False,
    )
plots.add_points(ax, x, label="observations")
plots.map_legend(ax, ncol=2)
plots.save(ax.figure, out / "parametric_family.png")

# %% [markdown]
# The family as a Pyro program: theta is the box's corners `low` and `high`, and each point is an
# observed site `"obs"` under the plate `"data"`, which says the points are independent given
# theta. Pyro computes the log-likelihood from the program's trace, the sum of the log densities
# of its sites: the same number as `box.log_likelihood` above.

# %%
import pyro
from pyro import poutine

from gdl_pyro.distributions import UniformBox


def box_family(x, *, low, high):
    with pyro.plate("data", len(x)):
        return pyro.sample("obs", UniformBox(low, high), obs=x)


trace = poutine.trace(box_family).get_trace(x, low=low, high=high)
loglik_from_trace = trace.log_prob_sum().item()
loglik_mle = box.log_likelihood(x, low, high).item()
{"log L from Pyro's trace": loglik_from_trace, "box.log_likelihood": loglik_mle}

# %% [markdown]
# ## Likelihood versus log-likelihood
# The likelihood of N points is a product of N densities, each about 1/60000: it underflows
# to exactly 0 in float64 long before N reaches a few thousand. The log-likelihood is a sum
# and stays finite, which is why we always work with it.

# %%
densities = p_box.log_prob(x).exp().double()
running_product = torch.cumprod(densities, 0)
underflow = torch.nonzero(running_product == 0)
underflow_at = int(underflow[0, 0]) + 1 if underflow.numel() else None
likelihood = float(running_product[-1])
loglik = box.log_likelihood(x, low, high).item()
left_low, left_high = family["theta = left half"]
loglik_left_half = box.log_likelihood(x, left_low, left_high).item()

# %% [markdown]
# ## The log-likelihood surface
# Fix the box's west and east edges at the MLE and vary its south edge theta2 and north edge
# theta4. Moving an edge inward raises the log-likelihood (a smaller box, a higher density)
# until the edge crosses a data point, where the likelihood drops to 0 (grey). The maximum
# sits on that cliff: the bounding box. (The family holds every rectangle of the plane, so
# edges beyond the poles are allowed; they only waste density.)

# %%
south = torch.linspace(low[1].item() - 20, low[1].item() + 10, args.grid_size)
north = torch.linspace(high[1].item() - 10, high[1].item() + 20, args.grid_size)
surface = torch.empty(args.grid_size, args.grid_size)
for i, top in enumerate(north):
    for j, bottom in enumerate(south):
        corner_low = torch.stack([low[0], bottom])
        corner_high = torch.stack([high[0], top])
        surface[i, j] = box.log_likelihood(x, corner_low, corner_high)
best = torch.nonzero(surface == surface.max())[0]
plots.save(
    plots.plot_loglik_surface(
        south,
        north,
        surface,
        a_label="theta2: south edge (latitude)",
        b_label="theta4: north edge (latitude)",
        best=(low[1].item(), high[1].item()),
        title="log L(theta2, theta4 | X), west and east edges at the MLE",
    ),
    out / "loglik_surface.png",
)

# %% [markdown]
# ## Exercises
# Each check measures what your answer achieves and says what it found. Fill in a stub, then run
# its cell. (A script run checks the reference solutions instead;
# `exercises.solution("s03.1")` returns one, and the book has a page of them.)
#
# **s03.1 A box's log-likelihood.** Write `log_likelihood(x, low, high)`: the log-likelihood
# $\log L(\theta \mid X) = \sum_i \log p_\theta(x_i)$ of the points `x`, shape (N, 2), under the
# box with corners `low` and `high`. It must hold for N = 5000 points, where the product
# $\prod_i p_\theta(x_i)$ underflows, and be $-\infty$ for a box that misses a point.

# %%
from gdl_pyro import exercises


def log_likelihood(x, low, high):
    """log L(theta | X) for points x (N, 2) and the box [low, high]: one number."""
    ...  # your code here


exercises.attempt("s03.1", log_likelihood, quiet=args.quiet)

# %% [markdown]
# **s03.2 p_data as a density.** Write `log_p_data(x)`: the log density of p_data at the points
# `x`, shape (N, 2): uniform over land and 0 (log density $-\infty$) at sea. The check evaluates
# it on every cell of the map and integrates. (`world.is_land` and `world.land_area` help.)


# %%
def log_p_data(x):
    """log p_data(x) for points x (N, 2): one value per point."""
    ...  # your code here


exercises.attempt("s03.2", log_p_data, quiet=args.quiet)


# %% [markdown]
# ## The section's numbers
# Written to `results.json` in the output folder (and printed unless `quiet`).

# %%
results = {
    "num_data": args.num_data,
    "sample_space_low": list(SAMPLE_SPACE_LOW),
    "sample_space_high": list(SAMPLE_SPACE_HIGH),
    "integral_p_data": integral_p_data,
    "integral_box": integral_box,
    "likelihood": likelihood,
    "underflow_at": underflow_at,
    "log_likelihood": loglik,
    "log_likelihood_left_half": loglik_left_half,
    "surface_best": [south[best[1]].item(), north[best[0]].item()],
    "mle_south_north": [low[1].item(), high[1].item()],
}
write_results(out, results)
if not args.quiet:
    print(f"integral of p_data over the sample space: {integral_p_data:.6f}")
    print(f"integral of the box density:               {integral_box:.6f}")
    print(
        f"likelihood of {args.num_data} points as a product: {likelihood:.3g}"
        + (f" (underflows to 0 from N = {underflow_at} on)" if underflow_at else "")
    )
    print(
        f"log-likelihood of the same points:        {loglik:.1f} nats "
        f"(= -{args.num_data} x log(area {p_box.area.item():.0f}) = {-args.num_data * math.log(p_box.area.item()):.1f})"
    )
    print(
        f"log-likelihood of the left-half box:       {loglik_left_half} (a point lies outside it)"
    )
    print(
        f"best cell of the surface: south {results['surface_best'][0]:.1f}, "
        f"north {results['surface_best'][1]:.1f}; MLE {low[1]:.1f}, {high[1]:.1f}"
    )
