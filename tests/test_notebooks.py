"""Every section runs top to bottom as a notebook, with its parameters injected, and shows figures.

The scripts' own results are checked in test_chapters.py; here each section is executed the way
a learner opens it (jupytext -> notebook -> kernel), with the same tiny sizes.
"""

import json

import pytest

from gdl_pyro import notebooks
from tests.test_chapters import SCRIPTS

# Most tests here execute a section in a kernel: `make test-fast` leaves the file out.
pytestmark = pytest.mark.slow

# The VAE's results are checked in test_chapters.py; as a notebook it only has to run.
FEWER_STEPS = {"s07_representation.py": {"num_steps": 100}}


def as_parameters(flags: list[str]) -> dict:
    """Command-line flags as notebook parameters: ["--ks", "1", "4"] -> {"ks": [1, 4]}."""
    parameters, name = {}, None
    for token in flags:
        if token.startswith("--"):
            name = token[2:].replace("-", "_")
            parameters[name] = []
            continue
        value = float(token) if "." in token else int(token)
        parameters[name].append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in parameters.items()}


def test_flags_become_parameters():
    assert as_parameters(["--ks", "1", "4", "--grid-step", "0.25", "--seed", "3"]) == {
        "ks": [1, 4],
        "grid_step": 0.25,
        "seed": 3,
    }


def test_every_section_is_executed_here_and_run_as_a_script():
    on_disk = {path.name for path in notebooks.sections()}
    assert on_disk == set(SCRIPTS), "list new sections in test_chapters.SCRIPTS"
    assert [p.name for p in notebooks.sections()] == sorted(SCRIPTS), "reading order"


def test_a_notebook_without_a_parameters_cell_is_refused():
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="parameters"):
        notebooks.inject_parameters(notebook, {"x": 2})


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_section_runs_as_a_notebook(name, tmp_path):
    parameters = {
        **as_parameters(SCRIPTS[name]),
        **FEWER_STEPS.get(name, {}),
        "seed": 1,
        "quiet": True,
        "out_dir": str(tmp_path),
    }
    notebook = notebooks.execute_section(notebooks.CHAPTER / name, parameters, timeout=300)
    injected = notebook.cells[
        next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
        + 1
    ]
    assert "injected-parameters" in injected.metadata["tags"]
    assert notebooks.figures_in(notebook) >= 1, "no figure among the notebook's outputs"
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert not errors
    results = json.loads((tmp_path / "results.json").read_text())
    assert results, "results.json is empty"
    # The figures went to the injected out_dir, as from the shell.
    assert list(tmp_path.glob("*.png"))


def test_progress_bars_keep_their_last_state_only():
    import nbformat

    cell = nbformat.v4.new_code_cell("fit()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="\rfit:   0%| 0/9"),
        nbformat.v4.new_output("stream", name="stderr", text="\rfit:  50%| 4/9"),
        nbformat.v4.new_output("stream", name="stderr", text="\rfit: 100%| 9/9\n"),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebooks.collapse_progress_bars(notebook)
    assert [(o.name, o.text) for o in notebook.cells[0].outputs] == [
        ("stderr", "fit: 100%| 9/9\n"),
        ("stdout", "done\n"),
    ]
