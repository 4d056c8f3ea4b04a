"""Figures show what they claim: the map is north-up and the box is where the numbers say."""

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch

from gdl_pyro import plots


def pixel(fig, ax, lon, lat):
    """RGB of the rendered figure at a map coordinate."""
    fig.canvas.draw()
    x, y = ax.transData.transform((lon, lat))
    image = np.asarray(fig.canvas.buffer_rgba())
    return image[image.shape[0] - int(round(y)), int(round(x)), :3] / 255


def test_map_is_north_up_with_land_where_land_is():
    ax = plots.map_axes()
    fig = ax.figure
    land, sea = mcolors.to_rgb(plots.LAND_COLOR), mcolors.to_rgb(plots.SEA_COLOR)
    for lon, lat, expected in [
        (20, -85, land),
        (0, 87, sea),
        (20, 15, land),
        (-30, 0, sea),
        (-100, 45, land),
    ]:
        assert np.allclose(pixel(fig, ax, lon, lat), expected, atol=0.02), (lon, lat)


def test_box_and_points_are_drawn_at_their_coordinates():
    fig = plots.plot_world(
        torch.tensor([[10.0, 20.0]]),
        low=torch.tensor([-50.0, -30.0]),
        high=torch.tensor([60.0, 40.0]),
        point_label="data",
    )
    ax = fig.axes[0]
    rectangles = [p for p in ax.patches if not p.get_fill()]
    assert len(rectangles) == 1
    assert rectangles[0].get_xy() == (-50.0, -30.0)
    assert (rectangles[0].get_width(), rectangles[0].get_height()) == (110.0, 70.0)
    assert np.allclose(ax.collections[0].get_offsets(), [[10.0, 20.0]])
    assert ax.get_legend() is not None


def test_loglik_surface_marks_the_best_point():
    values = torch.tensor([[0.0, -1.0], [-float("inf"), -2.0]])
    fig = plots.plot_loglik_surface([0, 1], [0, 1], values, a_label="a", b_label="b", best=(0, 0))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "a" and ax.lines[0].get_xydata().tolist() == [[0.0, 0.0]]


def test_line_only_markers_are_visible():
    ax = plots.map_axes(show_land=False)
    plots.add_points(ax, torch.zeros(3, 2), marker="x")
    plots.add_points(ax, torch.zeros(3, 2), marker="o")
    assert ax.collections[0].get_linewidths()[0] > 0  # an x with no edge draws nothing
    assert ax.collections[1].get_linewidths()[0] == 0


def test_loss_trace_zooms_on_the_tail():
    losses = np.concatenate([[1000.0], np.linspace(10, 9, 99)])
    ax = plots.plot_loss_trace(losses).axes[0]
    assert ax.get_ylim()[1] >= 1000  # the whole trace: the first spike sets the scale
    ax = plots.plot_loss_trace(losses, zoom_after=1).axes[0]
    low, high = ax.get_ylim()
    assert 8.9 < low < 9 and 10 < high < 10.1  # the tail fills the axes (5% padding)
    assert ax.lines[0].get_ydata()[0] == 1000  # the spike is still drawn, off the axes
    with pytest.raises(ValueError, match="zoom_after"):
        plots.plot_loss_trace(losses, zoom_after=100)


def test_loss_trace_smooths_with_a_running_mean():
    losses = np.tile([1.0, 3.0], 50)  # alternating minibatch noise around 2
    ax = plots.plot_loss_trace(losses, smooth=10).axes[0]
    raw, mean = ax.lines
    assert np.array_equal(raw.get_ydata(), losses)
    assert np.allclose(mean.get_ydata(), 2.0) and mean.get_xdata()[0] == 10
    with pytest.raises(ValueError, match="smooth"):
        plots.plot_loss_trace(losses, smooth=0)


def test_heldout_plot_puts_the_best_fit_on_top_with_its_error_bar():
    import pandas as pd

    table = pd.DataFrame({"heldout_lpd": [-100.0, -120.0], "se": [3.0, 4.0]}, index=["flow", "box"])
    ax = plots.plot_heldout(table, title="t").axes[0]
    labels = {tick.get_text(): tick.get_position()[1] for tick in ax.get_yticklabels()}
    assert labels["flow"] > labels["box"]  # best first, at the top
    points = ax.lines[0]
    assert list(points.get_xdata()) == [-100.0, -120.0]
    assert ax.get_xlim()[0] < -124 and ax.get_xlim()[1] > -97  # error bars inside the axes
    assert not plots.plot_heldout(table, title="t").axes[1].get_visible()  # no lpd_diff: no zoom


def test_heldout_plot_zooms_on_the_leaders_differences():
    from gdl_pyro import compare

    scores = {
        "a": torch.tensor([-1.0, -2.0, -3.0]),
        "b": torch.tensor([-1.5, -2.0, -2.0]),
        "c": torch.tensor([-9.0, -9.0, -9.0]),
    }
    table, _ = compare.compare_heldout(scores)
    zoom = plots.plot_heldout(table, title="t", num_leaders=2).axes[1]
    height = {tick.get_text(): tick.get_position()[1] for tick in zoom.get_yticklabels()}
    assert set(height) == {"a", "b"} and height["b"] > height["a"]  # best on top, "c" left out
    assert list(zoom.lines[0].get_xdata()) == [0.0, -0.5]  # b - b, a - b


def test_loo_plot_draws_every_fit_and_says_why_some_are_not_ranked():
    import pandas as pd

    table = pd.DataFrame(
        {"elpd_loo": [-120.0, -100.0], "se": [3.0, 4.0]}, index=["trusted", "doubtful"]
    )
    ax = plots.plot_loo(table, {"doubtful": "k-hat 1.20 > 0.70"}, title="t").axes[0]
    heights = {tick.get_text(): tick.get_position()[1] for tick in ax.get_yticklabels()}
    doubtful = "doubtful\n(not ranked: k-hat 1.20 > 0.70)"
    assert set(heights) == {"trusted", doubtful}
    assert heights[doubtful] > heights["trusted"]  # the best elpd (-100) on top
    assert len(ax.lines) >= 2  # both fits drawn, none dropped
