"""s05's exercises: an enumerated mixture, a mixture of boxes, responsibilities."""

import math
import warnings

import pyro.distributions as dist
import torch
from pyro.infer import TraceEnum_ELBO

from gdl_pyro.data import world
from gdl_pyro.exercises._core import (
    STUB_HINT,
    Wrong,
    call,
    exercise,
    heldout_gap,
    map_grid,
    nats,
    number,
    tensor,
    trace_model,
)
from gdl_pyro.models import mixture

# Three "continents" in degrees: the Americas, Africa and Europe, Asia.
WEIGHTS = torch.tensor([0.3, 0.3, 0.4])
LOCS = torch.tensor([[-100.0, 45.0], [20.0, 10.0], [100.0, 40.0]])
SCALES = torch.tensor([[30.0, 15.0], [25.0, 25.0], [35.0, 20.0]])
NUM_DATA = 1000
NUM_SIMULATED = 3000
# float32 sums of 1,000 log densities (and TraceEnum_ELBO's float32 loss) agree with the float64
# closed form to about 1e-6 relative.
RELATIVE = 1e-4
# Simulated counts and means are judged to 5 standard errors: a correct model fails by chance
# with probability below 1e-5 per test (and the check's seed is fixed anyway).
Z_SCORE = 5.0


def _closed_form(x, weights, locs, scales) -> float:
    """log p(x) of the mixture, with the component summed out: MixtureSameFamily, in float64."""
    components = dist.Normal(locs.double(), scales.double()).to_event(1)
    marginal = dist.MixtureSameFamily(dist.Categorical(weights.double()), components)
    return float(marginal.log_prob(x.double()).sum())


def _trace(answer, x, num_data=None):
    """The learner's model traced (z sampled, not enumerated), with Pyro's shape errors named."""
    what = (
        "fixed_mixture_model(x, ...)"
        if x is not None
        else f"fixed_mixture_model(num_data={num_data})"
    )
    try:
        return trace_model(
            answer, x, weights=WEIGHTS, locs=LOCS, scales=SCALES, num_data=num_data, what=what
        )
    except Wrong as wrong:
        if "Shape mismatch inside plate" in wrong.message:
            raise Wrong(
                f"{wrong.message}. A point is one 2-D value: its Normal has batch shape (N,) "
                "and event shape (2,), which .to_event(1) makes of Normal(locs[z], scales[z])"
            ) from None
        raise


@exercise("s05.1", "A mixture with its component enumerated", "fixed_mixture_model")
def _mixture_model(answer):
    x = world.sample_land(NUM_DATA)
    trace = _trace(answer, x)
    sites = {name for name, site in trace.nodes.items() if site["type"] == "sample"}
    if not sites:
        raise Wrong(f"your model samples nothing: {STUB_HINT}")
    for name in ("z", "obs"):
        if name not in sites:
            raise Wrong(
                f"your model has no sample site {name!r} (its sites: {sorted(sites)}); the "
                'component is the latent site "z", the point the observed site "obs"'
            )
    z, obs = trace.nodes["z"], trace.nodes["obs"]
    if not obs["is_observed"]:
        raise Wrong('"obs" is not observed: pass the data to it, pyro.sample("obs", ..., obs=x)')
    plates = [frame.name for frame in z["cond_indep_stack"]]
    if "data" not in plates or tuple(z["value"].shape) != (NUM_DATA,):
        raise Wrong(
            f'your "z" has shape {tuple(z["value"].shape)} and plates {plates}: it is sampled '
            f'outside the plate "data", so one component is drawn for all {NUM_DATA} points '
            "(one continent for the whole world). Each point has its own component: sample z "
            'inside `with pyro.plate("data", num_data):`'
        )
    if z["infer"].get("enumerate") is None:
        raise Wrong(
            '"z" is not marked for enumeration, so TraceEnum_ELBO would sample one component '
            'per point instead of summing over all of them: pass infer={"enumerate": '
            '"parallel"} to its pyro.sample (or decorate the model with @config_enumerate)'
        )
    if tuple(obs["fn"].event_shape) != (2,):
        raise Wrong(
            f'"obs" has event shape {tuple(obs["fn"].event_shape)}; a point is one 2-D value, '
            "event shape (2,): .to_event(1)"
        )

    # With z summed out and nothing else latent, -ELBO under an empty guide is -log p(x).
    def marginal():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = TraceEnum_ELBO(max_plate_nesting=1).loss(
                answer,
                lambda *args, **kwargs: None,
                x,
                weights=WEIGHTS,
                locs=LOCS,
                scales=SCALES,
            )
        return -loss

    got = number(call(marginal, what="TraceEnum_ELBO summing out your z"), "log p(x)")
    expected = _closed_form(x, WEIGHTS, LOCS, SCALES)
    measured = {"log_likelihood": got, "closed_form": expected, "num_points": NUM_DATA}
    if not abs(got - expected) <= RELATIVE * abs(expected):
        as_logits = _closed_form(x, WEIGHTS.softmax(-1), LOCS, SCALES)
        hint = (
            "it is the mixture whose weights are softmax(weights): Categorical(logits=weights) "
            "reads the weights as logits; they are probabilities, Categorical(weights)"
            if abs(got - as_logits) <= RELATIVE * abs(as_logits)
            else "component k is Normal(locs[k], scales[k]) in both coordinates, chosen with "
            "probability weights[k]"
        )
        raise Wrong(
            f"with z summed out, your model's log p(x) of {NUM_DATA} points is {got:.1f}; the "
            f"mixture's is {expected:.1f}: {hint}",
            **measured,
        )

    simulated = _trace(answer, None, NUM_SIMULATED)
    points = tensor(simulated.nodes["obs"]["value"], (NUM_SIMULATED, 2), "the simulated obs")
    labels = tensor(simulated.nodes["z"]["value"], (NUM_SIMULATED,), "the simulated z").long()
    for k in range(len(WEIGHTS)):
        share = float((labels == k).double().mean())
        mean = points[labels == k].mean(0) if share > 0 else torch.full((2,), math.inf)
        count_se = math.sqrt(float(WEIGHTS[k] * (1 - WEIGHTS[k])) / NUM_SIMULATED)
        mean_se = SCALES[k].double() / math.sqrt(max(share * NUM_SIMULATED, 1))
        if (
            abs(share - float(WEIGHTS[k])) > Z_SCORE * count_se
            or ((mean - LOCS[k]).abs() > Z_SCORE * mean_se).any()
        ):
            raise Wrong(
                f"simulated with x=None and num_data={NUM_SIMULATED}, {share:.1%} of your "
                f"points have z = {k} (weight {float(WEIGHTS[k]):.0%}) and their mean is "
                f"{[round(v, 1) for v in mean.tolist()]}, not near locs[{k}] = "
                f"{LOCS[k].tolist()}: with x=None the model should draw z, then the point "
                "from component z",
                **measured,
            )
    return (
        f"your model sums z out to log p(x) = {got:.1f} for {NUM_DATA} points (the closed form "
        f"{expected:.1f}), and simulates points from the component its z picks",
        measured,
    )


NUM_TRAIN = 5000  # the section's num_data
NUM_HELDOUT = 10_000
EM_COMPONENTS = 10
# The integral over the map by stratified sampling: one uniform point in each 2-degree cell.
# It is unbiased for any density; for a mixture of boxes only cells cut by a box's edge add
# error, well under 1% for boxes of 3 degrees or more. Above 1 + this is not a density; below
# 1 - this, mass is lost off the map (EM's 10 Gaussians lose 2.4%), which the gap penalises.
INTEGRAL_STEP = 2.0
INTEGRAL_TOLERANCE = 0.02
# A fit that scores its training points this much better than held-out ones has fitted the
# points rather than p_data (the reference, 648 boxes of 10 degrees, differs by about 0.05).
OVERFIT_NATS = 0.15
CHUNK = 8192  # points per call, so that (points, boxes) comparisons stay small


def _log_density(fitted):
    """The learner's fit as a function of points: its log_prob, or the function itself."""
    if fitted is None or fitted is Ellipsis:
        raise Wrong(f"fit_boxes(x) returned {fitted!r}: {STUB_HINT}")
    log_prob = getattr(fitted, "log_prob", None)
    if callable(log_prob):
        return log_prob
    if callable(fitted):
        return fitted
    raise Wrong(
        "fit_boxes(x) must return a distribution (an object with a log_prob method, e.g. a "
        f"MixtureSameFamily); got {type(fitted).__name__}"
    )


def _evaluate(log_q, points, what: str) -> torch.Tensor:
    """log q at ``points`` (in chunks), checked: one value per point, -inf allowed."""
    parts = [
        tensor(call(log_q, part, what=what), (len(part),), what, allow_inf=True)
        for part in points.split(CHUNK)
    ]
    return torch.cat(parts)


@exercise("s05.2", "A mixture of boxes that beats 10 Gaussians", "fit_boxes")
def _fit_boxes(answer):
    x, x_test = world.sample_land(NUM_TRAIN), world.sample_land(NUM_HELDOUT)
    log_q = _log_density(call(answer, x.clone(), what="fit_boxes(x)"))
    cells = map_grid(INTEGRAL_STEP)
    cells = cells + (torch.rand_like(cells) - 0.5) * INTEGRAL_STEP
    integral = float(
        _evaluate(log_q, cells, "the log density on the map").double().exp().sum()
        * INTEGRAL_STEP**2
    )
    heldout = _evaluate(log_q, x_test, "the log density of held-out points")
    measured = {"integral": integral}
    if integral > 1 + INTEGRAL_TOLERANCE:
        raise Wrong(
            f"your density integrates to {integral:.4g} over the map, not 1. A box holding a "
            "share w_k of the points has density w_k / (its area) inside it: the shares must "
            "sum to 1 and each be divided by its box's area",
            **measured,
        )
    missed = int((~torch.isfinite(heldout)).sum())
    measured["heldout_missed"] = missed
    if missed:
        raise Wrong(
            f"your density is 0 at {missed} of {NUM_HELDOUT} held-out points from p_data, so "
            "their log-likelihood is -inf. The maximum-likelihood weight of a box, its share "
            "of the training points, is 0 for a box that holds none; give every box a "
            "pseudo-count a, (n_k + a) / (N + K a), the posterior mean under a Dirichlet(a) "
            "prior, and let the boxes cover the whole map",
            **measured,
        )
    em = mixture.fit_em(x, num_components=EM_COMPONENTS, seed=0)
    gap, em_gap = heldout_gap(heldout), heldout_gap(em.log_prob(x_test))
    measured.update(gap_nats=gap, em_gap_nats=em_gap)
    if not gap < em_gap:
        train = _evaluate(log_q, x, "the log density of training points")
        train_gap = heldout_gap(train)  # the same mean NLL minus entropy, on training points
        measured["train_gap_nats"] = train_gap
        hint = (
            "your fit follows the training points more closely than p_data: fewer, larger "
            "boxes, or a larger pseudo-count"
            if train_gap < gap - OVERFIT_NATS
            else "it is as far from p_data on the training points: smaller boxes (more of "
            "them) follow the coastlines more closely"
        )
        if integral < 1 - INTEGRAL_TOLERANCE:
            hint += f"; and {1 - integral:.0%} of its mass lies off the map, where p_data has none"
        raise Wrong(
            f"your fit's held-out gap is {nats(gap)} nats (on its training points, "
            f"{nats(train_gap)}); EM's mixture of {EM_COMPONENTS} Gaussians reaches "
            f"{nats(em_gap)} on the same points: {hint}",
            **measured,
        )
    return (
        f"your mixture integrates to {integral:.3f} over the map and its held-out gap is "
        f"{nats(gap)} nats, below the {nats(em_gap)} of EM's {EM_COMPONENTS} Gaussians fitted "
        f"to the same {NUM_TRAIN} points",
        measured,
    )


# Islands: narrow components far apart, where a point's density under every one underflows.
ISLAND_LOCS = torch.tensor([[-150.0, -20.0], [170.0, 60.0], [0.0, -80.0]])
ISLAND_SCALES = torch.full((3, 2), 1.0)
FAR_POINTS = torch.tensor([[30.0, 30.0], [-60.0, 70.0], [90.0, -10.0]])
# Responsibilities from float32 log densities of order 1e4 (the far points) agree with the
# float64 softmax to well under 1e-3.
TOLERANCE = 1e-3


def _closed_responsibilities(x, weights, locs, scales) -> torch.Tensor:
    """p(z = k | x_i): the softmax over k of log w_k + log N(x_i | locs_k, scales_k), float64."""
    components = dist.Normal(locs.double(), scales.double()).to_event(1)
    return (weights.double().log() + components.log_prob(x.double().unsqueeze(-2))).softmax(-1)


def _responsibilities_of(answer, x, weights, locs, scales, *, far: bool) -> torch.Tensor:
    """The learner's (N, K) answer; NaN at points far from every component is named."""
    got = call(answer, x.clone(), weights.clone(), locs.clone(), scales.clone())
    try:
        raw = torch.as_tensor(got.detach() if isinstance(got, torch.Tensor) else got).double()
    except (TypeError, ValueError, RuntimeError):
        raw = None
    nan = raw is not None and raw.shape == (len(x), len(weights)) and torch.isnan(raw).any()
    if far and nan:
        raise Wrong(
            "your responsibilities hold NaN for points far from every component: there every "
            "density N(x | locs_k, "
            "scales_k) underflows to 0, and 0 / 0 is NaN. Work in logs: log w_k + log N(x | "
            "locs_k, scales_k) for each k, then a softmax over k (it subtracts the largest "
            "before exponentiating)"
        )
    return tensor(got, (len(x), len(weights)), "your answer")


@exercise("s05.3", "Which continent? Responsibilities", "responsibilities")
def _responsibilities(answer):
    x = world.sample_land(NUM_DATA)
    got = _responsibilities_of(answer, x, WEIGHTS, LOCS, SCALES, far=False)
    expected = _closed_responsibilities(x, WEIGHTS, LOCS, SCALES)
    error = float((got - expected).abs().max())
    measured = {"max_error": error}
    if error > TOLERANCE:
        sums = got.sum(-1)
        if (got < -TOLERANCE).any():
            hint = (
                "some are negative: return probabilities, not their logs (exp of the log "
                "responsibilities)"
            )
        elif (sums - 1).abs().max() > TOLERANCE:
            column = (got.sum(0) - 1).abs().max() < TOLERANCE
            hint = (
                f"each point's row should sum to 1 over the {len(WEIGHTS)} components; yours "
                f"sum to {float(sums.min()):.3g} to {float(sums.max()):.3g}"
                + (" (you normalised each component over the points instead)" if column else "")
            )
        elif (got - _closed_responsibilities(x, torch.ones(3) / 3, LOCS, SCALES)).abs().max() < (
            TOLERANCE
        ):
            hint = (
                "they ignore the weights: Bayes' rule multiplies each component's density by "
                "its prior probability w_k before normalising"
            )
        else:
            hint = "p(z = k | x) is w_k N(x | locs_k, scales_k), normalised over k"
        raise Wrong(
            f"your responsibilities differ from Bayes' rule by up to {error:.3g}: {hint}",
            **measured,
        )
    far = _responsibilities_of(answer, FAR_POINTS, WEIGHTS, ISLAND_LOCS, ISLAND_SCALES, far=True)
    far_error = float(
        (far - _closed_responsibilities(FAR_POINTS, WEIGHTS, ISLAND_LOCS, ISLAND_SCALES))
        .abs()
        .max()
    )
    measured["far_error"] = far_error
    if far_error > TOLERANCE:
        raise Wrong(
            f"for points thousands of nats from every narrow component your responsibilities "
            f"are off by up to {far_error:.3g}: compute them from log densities (a softmax), "
            "which do not underflow",
            **measured,
        )
    return (
        f"your responsibilities match Bayes' rule to {max(error, far_error):.1g}, for land "
        "points and for points so far from every component that their densities underflow",
        measured,
    )
