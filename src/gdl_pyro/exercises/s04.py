"""s04's exercises: the box as a program that simulates, and the share of p_data its MLE misses."""

import math

import torch

from gdl_pyro.data import world
from gdl_pyro.exercises._core import (
    STUB_HINT,
    Wrong,
    call,
    exercise,
    first_line,
    number,
    sample_sites,
    tensor,
    trace_model,
)

# Points the model scores: float32 sums of 1,000 log densities agree with the float64 closed form
# to about 1e-6 relative.
NUM_DATA = 1000
RELATIVE = 1e-4
# Points the model simulates; each coordinate must be uniform over the box: the Kolmogorov-Smirnov
# distance of a uniform sample of 20,000 exceeds 0.02 (sqrt(N) D = 2.8) with probability 2e-7.
NUM_SIMULATED = 20_000
MAX_KS = 0.02
# s04.2: training sizes asked about, and training sets simulated per size. The share the MLE box
# misses is E[K] / (N + 1) exactly (K: the points that are an extreme of N + 1 points), and 2,000
# sets give E[K] to 0.4%. An answer passes within 10% of it: 4 / (N + 1) is within 4% from N = 50
# on, and a simulation of about 1,000 training sets per size within 10%.
SIZES = (50, 200, 1000)
NUM_SETS = 2000
RELATIVE_SHARE = 0.10


def _trace(answer, *args, what: str, hint: str = "", **kwargs):
    """The learner's model traced (``trace_model``), with the plate-shape error explained."""
    try:
        return trace_model(answer, *args, what=what, **kwargs)
    except Wrong as wrong:
        if "Shape mismatch inside plate" in wrong.message:
            hint = (
                ": a point is one 2-D event, so the distribution of 'obs' has batch shape (N,) "
                "under the plate and event shape (2,): UniformBox(low, high) is 2-D already, "
                "a Uniform needs .to_event(1)"
            )
        raise Wrong(wrong.message + hint) from None


def _obs_site(model_trace, what: str) -> dict:
    """The trace's sample site "obs", or a Wrong that lists the sites there are."""
    sites = sample_sites(model_trace)
    if not sites and model_trace.nodes["_RETURN"]["value"] is None:
        raise Wrong(f"{what} samples nothing and returns None: {STUB_HINT}")
    if "obs" not in sites:
        raise Wrong(
            f"{what} has no sample site named 'obs' (its sample sites: {sites or 'none'}): "
            'the points are pyro.sample("obs", ..., obs=x)'
        )
    return model_trace.nodes["obs"]


def _log_prob_sum(trace, what: str) -> float:
    """The trace's log-likelihood, scales and all, as a float; what raises becomes a Wrong."""
    try:
        return float(trace.log_prob_sum())
    except Exception as error:  # the learner's distribution: a message, not a traceback
        text = first_line(error)
        if "support" in text:
            text += (
                ". A distribution refuses values outside its support when Pyro validates; a box "
                "that gives them log density -inf is gdl_pyro.distributions.UniformBox"
            )
        raise Wrong(f"scoring {what} raised {type(error).__name__}: {text}") from None


def _ks_uniform(values: torch.Tensor, low: float, high: float) -> float:
    """Kolmogorov-Smirnov distance between the values' ECDF and Uniform(low, high)."""
    cdf = ((values.sort().values - low) / (high - low)).clamp(0, 1)
    n = len(values)
    steps = torch.arange(n + 1, dtype=torch.float64) / n
    return float(torch.maximum(steps[1:] - cdf, cdf - steps[:-1]).max())


@exercise("s04.1", "The box as a program that simulates", "model")
def _model(answer):
    x = world.sample_land(NUM_DATA)
    low, high = x.min(0).values, x.max(0).values
    area = float((high - low).prod())
    expected = -NUM_DATA * math.log(area)
    what = "model(x, low=low, high=high)"
    trace = _trace(answer, x, low=low, high=high, what=what)
    site = _obs_site(trace, what)
    if not site["is_observed"]:
        raise Wrong(
            f"the site 'obs' of {what} is not observed: pass the data, "
            'pyro.sample("obs", ..., obs=x), so that the model scores x instead of simulating'
        )
    plates = {frame.name: frame.size for frame in site["cond_indep_stack"]}
    if plates.get("data") != NUM_DATA:
        where = f"in the plates {plates}" if plates else "in no plate"
        raise Wrong(
            f"'obs' sits {where}: the {NUM_DATA} points are independent given the box, so they "
            f'go under pyro.plate("data", len(x)), one element each'
        )
    fn = site["fn"]
    if tuple(fn.event_shape) != (2,) or tuple(fn.batch_shape) != (NUM_DATA,):
        raise Wrong(
            f"the distribution of 'obs' has batch shape {tuple(fn.batch_shape)} and event shape "
            f"{tuple(fn.event_shape)}; one point is one 2-D event, so they must be ({NUM_DATA},) "
            "and (2,) (UniformBox is 2-D already; a Uniform needs .to_event(1))"
        )
    got = _log_prob_sum(trace, what)
    measured = {"log_likelihood": got, "closed_form": expected}
    if got == -math.inf:
        raise Wrong(
            "your model scores the data in their own bounding box at -inf: the points on its "
            "edges get density 0. torch's Uniform is half-open, [low, high); the box is closed "
            "(gdl_pyro.distributions.UniformBox includes its edges)",
            **measured,
        )
    if abs(got - expected / NUM_DATA) <= RELATIVE * abs(expected / NUM_DATA):
        raise Wrong(
            f"the log-likelihood of your model is {got:.3f}, the mean log density: the model "
            f"scales it by 1/N (poutine.scale). A model's log-likelihood is the sum, "
            f"-N log(area) = {expected:.1f}; the scale belongs in the program that fits it",
            **measured,
        )
    if not abs(got - expected) <= RELATIVE * abs(expected):
        raise Wrong(
            f"the log-likelihood of your model is {got:.1f}; for {NUM_DATA} points in the box it "
            f"is -N log(area) = {expected:.1f} (the box's density is 1/area inside it)",
            **measured,
        )
    # The left half of the map misses every point east of 0: the likelihood is exactly 0.
    half = _trace(
        answer, x, low=torch.tensor([-180.0, -90.0]), high=torch.tensor([0.0, 90.0]), what=what
    )
    outside = _log_prob_sum(half, "data outside the box")
    measured["left_half"] = outside
    if outside != -math.inf:
        raise Wrong(
            f"the left half of the map misses {int((x[:, 0] > 0).sum())} of the points, so its "
            f"log-likelihood is -inf; your model gives {outside:.1f}. A point outside the box has "
            "density 0",
            **measured,
        )
    what = "model(None, low=low, high=high, num_data=N)"
    simulated = _trace(
        answer,
        None,
        low=low,
        high=high,
        num_data=NUM_SIMULATED,
        what=what,
        hint=(
            ". With x=None a model simulates: the plate's size is num_data, and "
            'pyro.sample("obs", ..., obs=None) draws the points'
        ),
    )
    site = _obs_site(simulated, what)
    if site["is_observed"]:
        raise Wrong(f"with x=None the site 'obs' of {what} is observed: pass obs=x, which is None")
    points = tensor(site["value"], (NUM_SIMULATED, 2), f"the points {what} simulates")
    inside = ((points >= low) & (points <= high)).all(-1).double().mean().item()
    measured["simulated_inside"] = inside
    if inside < 1:
        raise Wrong(
            f"{1 - inside:.1%} of the points your model simulates lie outside the box it was given",
            **measured,
        )
    ks = [_ks_uniform(points[:, i].double(), float(low[i]), float(high[i])) for i in range(2)]
    measured["ks_simulated"] = ks
    if max(ks) > MAX_KS:
        raise Wrong(
            f"the points your model simulates are not uniform over the box (Kolmogorov-Smirnov "
            f"distance {max(ks):.3f} in one coordinate; a uniform sample stays below {MAX_KS})",
            **measured,
        )
    accuracy = world.is_land(points).double().mean().item()
    exact = world.land_area_in_box(low, high) / area
    measured.update(accuracy=accuracy, accuracy_exact=exact)
    return (
        f"your model scores {NUM_DATA} points in their bounding box at -N log(area) = {got:.1f}, "
        f"a box that misses some at -inf, and simulates {NUM_SIMULATED} points uniform over the "
        f"box: {accuracy:.3f} of them on land (exact {exact:.3f}), and -log(accuracy) = "
        f"{-math.log(accuracy):.3f} nats is the held-out gap this section measures for that box",
        measured,
    )


def _extremes(num_data: int) -> float:
    """E[K] / (N + 1): the chance that point N + 1 of p_data lies outside the others' box."""
    points = world.sample_land(NUM_SETS * (num_data + 1)).reshape(NUM_SETS, num_data + 1, 2)
    # Which points hold a minimum or a maximum of either coordinate: the extremes of each set.
    ends = torch.cat([points.argmin(1), points.argmax(1)], 1).sort(1).values
    distinct = 1 + (ends[:, 1:] != ends[:, :-1]).sum(1)
    return float(distinct.double().mean()) / (num_data + 1)


@exercise("s04.2", "The share of p_data the MLE box misses", "missed_share")
def _missed_share(answer):
    shares = {}
    for size in SIZES:
        got = number(call(answer, size, what="missed_share"), f"missed_share({size})")
        shares[size] = (got, _extremes(size))
    measured = {f"N={n}": {"answer": got, "measured": true} for n, (got, true) in shares.items()}
    for size, (got, true) in shares.items():
        if abs(got - true) <= RELATIVE_SHARE * true:
            continue
        said = f"missed_share({size}) is {got:.4g}; the MLE box of {size} points misses {true:.4g}"
        if got <= 0:
            hint = (
                "the box holds every training point, but not every new one: a new point outside "
                "it has likelihood 0"
            )
        elif got > 1:
            hint = "a share is at most 1"
        else:
            ratio = got / true
            sides = round(4 * ratio)
            hint = (
                f"about {sides} / (N + 1), counting {sides} side{'s' if sides != 1 else ''} of the "
                "box: a new point lies outside when it is the most extreme in any of four "
                "directions"
                if 1 <= sides <= 3 and abs(4 * ratio - sides) < 0.2
                else "among N + 1 points of p_data, each is equally likely to be the last one "
                "drawn: how many of them hold an edge of the box?"
            )
        raise Wrong(
            f"{said} of p_data, on average over training sets (within {RELATIVE_SHARE:.0%}): "
            f"{hint}",
            **measured,
        )
    n = SIZES[-1]
    return (
        f"your shares agree with the measured ones to within {RELATIVE_SHARE:.0%} (N = {n}: "
        f"{shares[n][0]:.5f}, measured {shares[n][1]:.5f}): at every N the MLE box misses some "
        "of p_data, so its held-out likelihood is 0 and KL(p_data || box) is infinite",
        measured,
    )
