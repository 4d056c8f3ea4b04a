"""gdl_pyro.show: the library's source as it is, Pyro's shape table, a plate diagram, all sealed."""

import inspect

import matplotlib.figure
import pyro
import pytest
import torch
from pyro import poutine

from gdl_pyro import show
from gdl_pyro.data import world
from gdl_pyro.models import box, mixture


@pytest.fixture(scope="module")
def points():
    return world.sample_land(50, seed=0)


def test_source_is_the_library_s_own_text():
    shown = show.source(mixture.model, mixture.marginal_model)
    assert inspect.getsource(mixture.marginal_model).strip() in shown
    assert shown.startswith("@config_enumerate\ndef model(")
    # Highlighted in a notebook, plain text anywhere else.
    assert shown._repr_markdown_() == f"```python\n{shown}\n```"
    assert repr(shown) == str(shown)
    with pytest.raises(ValueError, match="at least one"):
        show.source()


def test_trace_shapes_is_pyro_s_table(points):
    table = show.trace_shapes(mixture.model, points, num_components=3)
    expected = poutine.trace(mixture.model).get_trace(points, num_components=3).format_shapes()
    assert table == expected
    assert "assignment" in table and "50" in table


def test_a_script_prints_the_program_and_quiet_or_a_notebook_does_not(points, capsys, monkeypatch):
    """A script drops an expression's value, so the text is printed there; IPython shows it."""
    monkeypatch.setattr(show, "_in_ipython", lambda: False)
    shown = show.source(box.model)
    table = show.trace_shapes(mixture.model, points, num_components=3)
    assert capsys.readouterr().out == f"{shown}\n\n{table}\n\n"
    assert "```" not in shown  # plain in a terminal
    show.source(box.model, quiet=True)
    show.trace_shapes(mixture.model, points, quiet=True, num_components=3)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(show, "_in_ipython", lambda: True)
    assert show.source(box.model) == shown
    assert capsys.readouterr().out == ""


def test_nothing_reaches_the_caller(points):
    """No parameter in the caller's store, no draw from their RNG, no site in their trace."""
    pyro.clear_param_store()
    rng = torch.get_rng_state()
    show.trace_shapes(box._margin_model, points, 1.0)
    show.plate_diagram(box._margin_model, points, 1.0)
    assert torch.equal(torch.get_rng_state(), rng)
    assert len(pyro.get_param_store()) == 0

    def caller():
        with pyro.plate("data", 3):
            pyro.sample("mine", pyro.distributions.Normal(0.0, 1.0))
            show.trace_shapes(box._margin_model, points, 1.0)  # its own "data" plate, sealed

    trace = poutine.trace(caller).get_trace()
    assert set(trace.nodes) == {"_INPUT", "data", "mine", "_RETURN"}  # the caller's plate and site
    assert len(pyro.get_param_store()) == 0


def test_plate_diagram_draws_sites_and_plates(points):
    figure = show.plate_diagram(mixture.model, points, num_components=3, title="mixture")
    assert isinstance(figure, matplotlib.figure.Figure)
    texts = {text.get_text() for text in figure.axes[0].texts}
    assert {"weights", "locs", "scales", "assignment", "obs"} <= texts
    assert {"components  (3)", "data  (50)"} <= texts
