"""The distributions module against closed forms, and at its edges: outside supports, no points."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gdl_pyro.distributions import PiecewiseUniform, UniformBox

# The midpoint rule on a 0.05-degree grid misses at most a strip of one cell along the
# perimeter: step * perimeter / area, below 0.01 for the boxes used here.
INTEGRAL_TOL = 0.01
# Monte Carlo with 200,000 draws: standard errors near 0.002 for the shares tested.
MC_TOL = 0.01

LOW = torch.tensor([-10.0, 5.0])
HIGH = torch.tensor([30.0, 25.0])


def test_log_prob_is_minus_log_area_inside_and_minus_inf_outside():
    d = UniformBox(LOW, HIGH)
    inside = torch.tensor([[0.0, 10.0], [-10.0, 5.0], [30.0, 25.0]])  # corners included: closed box
    outside = torch.tensor([[-10.001, 10.0], [0.0, 25.001], [1e30, 0.0], [-math.inf, 10.0]])
    assert torch.allclose(d.log_prob(inside), torch.full((3,), -math.log(40 * 20)))
    assert torch.equal(d.log_prob(outside), torch.full((4,), -math.inf))


def test_density_integrates_to_one():
    step = 0.05
    d = UniformBox(LOW, HIGH)
    lon = torch.arange(-20 + step / 2, 40, step)
    lat = torch.arange(0 + step / 2, 30, step)
    grid = torch.cartesian_prod(lon, lat)
    integral = d.log_prob(grid).exp().double().sum().item() * step**2
    assert integral == pytest.approx(1.0, abs=INTEGRAL_TOL)


def test_samples_are_uniform_in_the_box():
    d = UniformBox(LOW, HIGH)
    x = d.sample((200_000,))
    assert ((x >= LOW) & (x <= HIGH)).all()
    assert torch.allclose(x.mean(0), d.mean, atol=MC_TOL * 40)
    # Share in the left quarter of the box: 1/4.
    assert (x[:, 0] < 0).double().mean().item() == pytest.approx(0.25, abs=MC_TOL)


def test_entropy_is_minus_expected_log_prob():
    d = UniformBox(LOW, HIGH)
    assert d.entropy().item() == pytest.approx(-d.log_prob(d.sample((100,))).mean().item())
    assert d.entropy().item() == pytest.approx(math.log(800))


def test_batch_shapes_and_expand():
    low = torch.zeros(3, 2)
    high = torch.arange(1.0, 7.0).reshape(3, 2)
    d = UniformBox(low, high)
    assert d.batch_shape == (3,) and d.event_shape == (2,)
    assert d.sample((5,)).shape == (5, 3, 2)
    assert d.log_prob(torch.full((4, 1, 2), 0.5)).shape == (4, 3)
    assert torch.allclose(d.entropy(), torch.log(torch.tensor([2.0, 12.0, 30.0])))
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.sample().shape == (2, 3, 2)


def test_rsample_is_differentiable_in_the_corners():
    low = torch.tensor([0.0, 0.0], requires_grad=True)
    high = torch.tensor([2.0, 4.0], requires_grad=True)
    UniformBox(low, high).rsample((10,)).sum().backward()
    assert low.grad is not None and high.grad is not None
    # d/dhigh of sum(low + u (high - low)) = sum(u) > 0, and the two gradients add to N.
    assert torch.allclose(low.grad + high.grad, torch.full((2,), 10.0))


def test_support_and_pyro_sample_site():
    d = UniformBox(LOW, HIGH)
    assert d.box.check(torch.tensor([30.0, 25.0])).item()  # closed
    assert not d.box.check(torch.tensor([30.1, 25.0])).item()
    assert d.support.check(torch.tensor([30.1, 25.0])).item()  # the plane: density 0 there
    assert isinstance(d, dist.TorchDistribution)
    trace = pyro.poutine.trace(lambda: pyro.sample("x", d)).get_trace()
    assert trace.nodes["x"]["value"].shape == (2,)


@pytest.mark.parametrize(
    ("low", "high", "match"),
    [
        ([0.0, 0.0], [0.0, 1.0], "low must be < high"),
        ([1.0, 0.0], [0.0, 1.0], "low must be < high"),
        ([0.0, math.nan], [1.0, 1.0], "finite"),
        ([0.0, 0.0], [math.inf, 1.0], "finite"),
        ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "size 2"),
    ],
)
def test_bad_corners_raise_value_error(low, high, match):
    with pytest.raises(ValueError, match=match):
        UniformBox(torch.tensor(low), torch.tensor(high))


def test_bad_values_raise_value_error():
    d = UniformBox(LOW, HIGH)
    with pytest.raises(ValueError, match="value"):
        d.log_prob(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="NaN"):
        d.log_prob(torch.tensor([[math.nan, 0.0]]))


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@given(
    corner=st.tuples(finite, finite),
    size=st.tuples(st.floats(0.1, 100), st.floats(0.1, 100)),
    point=st.tuples(st.floats(-1e6, 1e6, width=32), st.floats(-1e6, 1e6, width=32)),
)
def test_log_prob_is_never_nan(corner, size, point):
    low = torch.tensor(corner)
    d = UniformBox(low, low + torch.tensor(size))
    value = d.log_prob(torch.tensor(point))
    assert not torch.isnan(value)
    assert value.item() in (-math.inf, pytest.approx(-math.log(d.area.item()), rel=1e-5))


def test_equal_weight_mixture_in_chunks_equals_all_at_once():
    from gdl_pyro.distributions import CHUNK, EqualWeightMixture

    draws = {"loc": torch.randn(7, 2, generator=torch.Generator().manual_seed(0))}
    mixture = EqualWeightMixture(lambda loc: dist.Normal(loc, 1.0).to_event(1), draws)
    points = torch.randn(CHUNK + 5, 2, generator=torch.Generator().manual_seed(1))
    per_component = dist.Normal(draws["loc"], 1.0).to_event(1).log_prob(points.unsqueeze(-2))
    assert torch.allclose(mixture.component_log_prob(points), per_component)
    expected = torch.logsumexp(per_component, -1) - math.log(7)
    assert torch.allclose(mixture.log_prob(points), expected)
    assert mixture.log_prob(points[0]).shape == ()  # one point: nothing to split


def test_piecewise_uniform_is_the_mixture_of_uniforms_it_names():
    logits = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    edges = torch.linspace(-90.0, 90.0, 7)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits),
        torch.distributions.Uniform(
            edges[:-1].expand(3, 6), edges[1:].expand(3, 6), validate_args=False
        ),
        validate_args=False,
    )
    value = torch.rand(50, 3, generator=torch.Generator().manual_seed(1)) * 179.0 - 89.5
    histogram = PiecewiseUniform(-90.0, 90.0, logits)
    assert torch.allclose(histogram.log_prob(value), mixture.log_prob(value), atol=1e-5)
    # high joins the last bin; outside the support the density is 0, not NaN and not an error
    for validate in (False, True):
        edge = PiecewiseUniform(-90.0, 90.0, logits[0], validate_args=validate)
        assert torch.isfinite(edge.log_prob(torch.tensor(90.0)))
        outside = torch.tensor([90.5, -91.0, math.inf, -math.inf])
        assert torch.equal(edge.log_prob(outside), torch.full((4,), -math.inf))
    assert edge.support.check(torch.tensor(90.0)) and not edge.support.check(torch.tensor(90.5))


def test_piecewise_uniform_integrates_to_one_and_samples_its_bins():
    logits = torch.randn(8, generator=torch.Generator().manual_seed(2))
    histogram = PiecewiseUniform(0.0, 4.0, logits)
    grid = torch.linspace(0.0, 4.0, 4001)[:-1] + 0.0005  # midpoints of 0.001-wide cells
    assert histogram.log_prob(grid).exp().sum().item() * 0.001 == pytest.approx(1.0, abs=1e-5)
    pyro.set_rng_seed(3)
    draws = histogram.sample((40000,))
    assert draws.min() >= 0.0 and draws.max() <= 4.0
    shares = torch.bincount((draws / 0.5).long(), minlength=8) / 40000
    # each share's binomial sd is at most sqrt(0.25 / 40000) = 0.0025; 0.01 is four of them
    assert torch.allclose(shares, logits.softmax(-1), atol=0.01)
    assert histogram.expand((5,)).sample().shape == (5,)


def test_piecewise_uniform_validates_values_but_not_where_they_lie():
    histogram = PiecewiseUniform(-90.0, 90.0, torch.zeros(4), validate_args=True)
    with pytest.raises(ValueError, match="NaN"):
        histogram.log_prob(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="floating-point"):
        histogram.log_prob(torch.tensor([0, 100]))
    with pytest.raises(ValueError, match="batch shape"):
        PiecewiseUniform(-90.0, 90.0, torch.zeros(3, 4)).log_prob(torch.zeros(5))
    # validation off, NaN is not in any bin: -inf, not an indexing error
    unchecked = PiecewiseUniform(-90.0, 90.0, torch.zeros(4), validate_args=False)
    assert unchecked.log_prob(torch.tensor(math.nan)) == -math.inf


def test_piecewise_uniform_bad_arguments():
    with pytest.raises(ValueError, match="low and high"):
        PiecewiseUniform(1.0, 1.0, torch.zeros(3))
    with pytest.raises(ValueError, match="logits"):
        PiecewiseUniform(0.0, 1.0, torch.tensor(0.0))


def test_uniform_box_log_prob_outside_is_minus_inf_with_validation_on():
    with pyro.validation_enabled(True):
        d = UniformBox(LOW, HIGH)
        outside = torch.tensor([[-11.0, 10.0], [0.0, 26.0], [500.0, 0.0], [0.0, -math.inf]])
        assert torch.equal(d.log_prob(outside), torch.full((4,), -math.inf))


@pytest.mark.parametrize("box_first", [True, False])
def test_masked_mixture_of_a_box_and_a_gaussian_scores_points_outside_the_box(box_first):
    """Where the mask picks the Gaussian a point outside the box is scored by the Gaussian; where
    it picks the box, the point's density is 0. Neither refuses the whole batch."""
    with pyro.validation_enabled(True):
        box = UniformBox(LOW, HIGH)
        gaussian = dist.Normal(torch.zeros(2), 50.0).to_event(1)
        points = torch.tensor([[-50.0, 0.0], [40.0, 10.0], [0.0, 100.0], [0.0, 10.0]])
        picks_gaussian = torch.tensor([True, False, True, False])
        mask = picks_gaussian if box_first else ~picks_gaussian
        components = (box, gaussian) if box_first else (gaussian, box)
        log_p = dist.MaskedMixture(mask, *components).log_prob(points)
    assert torch.allclose(log_p[picks_gaussian], gaussian.log_prob(points[picks_gaussian]))
    assert log_p[1] == -math.inf  # outside the box, masked to the box
    assert log_p[3] == pytest.approx(-math.log(800))  # inside the box, masked to the box


def test_equal_weight_mixture_scores_points_outside_some_components():
    from gdl_pyro.distributions import EqualWeightMixture

    draws = {"low": torch.tensor([[0.0, 0.0], [2.0, 0.0]]), "high": torch.tensor([[1.0, 1.0]] * 2)}
    draws["high"] = draws["low"] + 1.0
    # torch's Uniform refuses values outside its support when validation is on
    mixture = EqualWeightMixture(lambda low, high: dist.Uniform(low, high).to_event(1), draws)
    points = torch.tensor([[0.5, 0.5], [2.5, 0.5], [10.0, 0.5]])
    with pyro.validation_enabled(True):
        log_p = mixture.log_prob(points)
    assert torch.allclose(log_p[:2], torch.full((2,), math.log(0.5)))
    assert log_p[2] == -math.inf


def test_sampling_nothing_gives_an_empty_batch():
    from gdl_pyro.distributions import EqualWeightMixture

    mixture = EqualWeightMixture(UniformBox, {"low": torch.zeros(3, 2), "high": torch.ones(3, 2)})
    assert UniformBox(LOW, HIGH).sample((0,)).shape == (0, 2)
    assert mixture.sample((0,)).shape == (0, 2)
    assert PiecewiseUniform(0.0, 1.0, torch.zeros(4)).sample((0,)).shape == (0,)
    assert PiecewiseUniform(0.0, 1.0, torch.zeros(3, 4)).sample((0,)).shape == (0, 3)


def test_log_prob_of_no_points_is_empty():
    from gdl_pyro.distributions import EqualWeightMixture

    mixture = EqualWeightMixture(UniformBox, {"low": torch.zeros(3, 2), "high": torch.ones(3, 2)})
    with pyro.validation_enabled(True):
        assert UniformBox(LOW, HIGH).log_prob(torch.empty(0, 2)).shape == (0,)
        assert mixture.log_prob(torch.empty(0, 2)).shape == (0,)
        assert PiecewiseUniform(0.0, 1.0, torch.zeros(4)).log_prob(torch.empty(0)).shape == (0,)


def test_sample_space_is_the_closed_map():
    from gdl_pyro.distributions import SAMPLE_SPACE, in_sample_space

    points = torch.tensor(
        [[180.0, 90.0], [-180.0, -90.0], [0.0, 0.0], [180.0001, 0.0], [0.0, -90.5], [math.nan, 0]]
    )
    expected = torch.tensor([True, True, True, False, False, False])
    assert torch.equal(in_sample_space(points), expected)
    assert torch.equal(SAMPLE_SPACE.check(points), expected)
