"""A section's settings (its parameters cell, flags, quick sizes, checks) and results.json."""

import json
import math
import sys

import numpy as np
import pytest
import torch

from gdl_pyro import notebooks
from gdl_pyro.scripting import (
    REPO_ROOT,
    chapter_args,
    display_path,
    first_markdown_cell,
    parameters_cell,
    section_parser,
    title_and_summary,
    to_jsonable,
    write_results,
)


def test_non_finite_numbers_become_strings(tmp_path):
    results = {
        "ll": -math.inf,
        "nan": math.nan,
        "t": torch.tensor([1.0, -math.inf]),
        "n": np.float32(2.5),
        "nested": {"k": (1, 2)},
    }
    path = write_results(tmp_path / "out", results)
    loaded = json.loads(path.read_text())  # strict JSON: no -Infinity literals
    assert loaded == {
        "ll": "-inf",
        "nan": "nan",
        "t": [1.0, "-inf"],
        "n": 2.5,
        "nested": {"k": [1, 2]},
    }
    assert to_jsonable(float("inf")) == "inf"


SECTION = """# %% [markdown]
# # A section
#
# One line that says what it does.
#
# *Book: Figure 1-1.*

# %% tags=["parameters"]
seed = 0  # random seed
quick = False  # small sizes
quiet = False  # no progress bars
device = "cpu"  # torch device
out_dir = None  # output folder
ks = [1, 2, 5]  # components to try
num_data = 1000  # points
num_steps = 500  # steps
warmup = 300  # warm-up steps (>= 0)
lr = 0.1  # learning rate
quick_sizes = {"ks": [1, 3], "num_data": 100, "num_steps": 200}  # --quick's sizes

# %%
print("body")
"""


@pytest.fixture
def section(tmp_path):
    """A section file and the namespace its parameters cell makes, as a script sees it."""
    path = tmp_path / "s99_demo.py"
    path.write_text(SECTION)
    namespace = {"__name__": "__main__", "__file__": str(path)}
    exec(SECTION.split("# %%\n")[0], namespace)  # the title and parameters cells
    return path, namespace


def parse(section, *flags: str):
    """The section's settings from these flags, its output in the test's folder."""
    path, namespace = section
    return chapter_args("s99_demo", namespace, ["--out-dir", str(path.parent / "out"), *flags])


def test_the_cell_gives_the_flags_defaults_and_help(section):
    args = parse(section)
    assert (args.seed, args.ks, args.num_data, args.num_steps, args.lr) == (
        0,
        [1, 2, 5],
        1000,
        500,
        0.1,
    )
    assert not hasattr(args, "quick_sizes")
    assert args.out_dir.is_dir()
    path, _ = section
    cell = parameters_cell(path.read_text())
    parser = section_parser("d", {k: v for k, v in cell.items() if k != "quick_sizes"}, {"ks": [1]})
    text = parser.format_help()
    assert "components to try (default: [1, 2, 5]; with --quick: [1])" in " ".join(text.split())
    assert "--no-quick" in text


def test_quick_changes_only_the_defaults(section):
    args = parse(section, "--quick")
    assert (args.ks, args.num_data, args.num_steps, args.warmup) == ([1, 3], 100, 200, 300)
    args = parse(section, "--quick", "--ks", "2", "--num-steps", "7")
    assert (args.ks, args.num_data, args.num_steps) == ([2], 100, 7)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--seed", "-1"], "--seed"),
        (["--num-data", "0"], "--num-data"),
        (["--num-data", "-5"], "--num-data"),
        (["--quick", "--num-steps", "0"], "--num-steps"),
        (["--ks", "2", "0"], "--ks"),
        (["--lr", "0"], "--lr"),
        (["--num-data", "2.5"], "--num-data"),
        (["--out-dir", "/dev/null/x"], "--out-dir"),
        (["--device", "gpu"], "--device"),
        (["--device", "meta"], "--device"),  # torch names it, but nothing can be fitted on it
        (["--lr", "nan"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--num-data", "nan"], "--num-data"),
    ],
)
def test_a_bad_value_exits_2_with_one_line_naming_the_flag(section, capsys, flags, named):
    with pytest.raises(SystemExit) as stop:
        parse(section, *flags)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("s") or "error:" in error
    assert f"argument {named}" in error, error


def test_zero_where_the_comment_allows_it(section):
    assert parse(section, "--warmup", "0", "--seed", "0").warmup == 0


def test_a_device_torch_cannot_use_is_refused_by_name(section):
    if torch.cuda.is_available():
        pytest.skip("this machine can use cuda")
    with pytest.raises(SystemExit):
        parse(section, "--device", "cuda")


def notebook_namespace(section, **injected):
    """The namespace of the section run as a notebook, with ``injected`` after the cell."""
    path, namespace = section
    namespace = {**namespace, "__name__": "__main__", **injected}
    del namespace["__file__"]  # a kernel has none: the file is found by name
    return namespace


def test_in_a_notebook_injected_sizes_win_over_quick(section, monkeypatch):
    path, _ = section
    monkeypatch.chdir(path.parent)  # where nbclient starts the kernel
    monkeypatch.setitem(sys.modules, "ipykernel", sys)
    out = str(path.parent / "nb")
    args = chapter_args("s99_demo", notebook_namespace(section, quick=True, out_dir=out))
    assert (args.ks, args.num_data, args.num_steps) == ([1, 3], 100, 200)
    namespace = notebook_namespace(section, quick=True, out_dir=out, ks=[2], num_steps=0.0 + 9)
    args = chapter_args("s99_demo", namespace)
    assert (args.ks, args.num_data, args.num_steps) == ([2], 100, 9)
    assert isinstance(args.num_steps, int)
    with pytest.raises(ValueError, match="num_data = 0: must be at least 1"):
        chapter_args("s99_demo", notebook_namespace(section, num_data=0, out_dir=out))
    for key, value in [("lr", math.nan), ("lr", math.inf), ("num_steps", math.nan)]:
        with pytest.raises(ValueError, match=f"{key} = {value}: must be a finite number"):
            chapter_args("s99_demo", notebook_namespace(section, out_dir=out, **{key: value}))
    with pytest.raises(ValueError, match="device = 'meta'"):
        chapter_args("s99_demo", notebook_namespace(section, out_dir=out, device="meta"))


def test_in_a_notebook_an_injected_size_equal_to_the_default_wins_over_quick(section, monkeypatch):
    path, _ = section
    monkeypatch.chdir(path.parent)
    monkeypatch.setitem(sys.modules, "ipykernel", sys)
    out = str(path.parent / "nb")
    injected = {"quick": True, "out_dir": out, "num_steps": 500}  # 500 is the cell's own
    namespace = notebook_namespace(section, **injected, _injected_parameters=list(injected))
    assert chapter_args("s99_demo", namespace).num_steps == 500
    # Without the list (papermill's injection) the value cannot be told from the cell's own.
    assert chapter_args("s99_demo", notebook_namespace(section, **injected)).num_steps == 200


def test_the_injected_cell_lists_its_names():
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    )
    cell = notebooks.inject_parameters(notebook, {"x": 2, "quick": True}).cells[1]
    namespace = {}
    exec(cell.source, namespace)
    assert namespace["_injected_parameters"] == ["x", "quick"] and namespace["x"] == 2


def test_title_and_summary_of_a_section(section):
    path, _ = section
    assert title_and_summary(first_markdown_cell(path.read_text())) == (
        "A section",
        "One line that says what it does.",
    )


def test_paths_inside_the_repository_are_shown_relative():
    assert display_path(REPO_ROOT / "outputs" / "x") == "outputs/x"


CHAPTER = REPO_ROOT / "chapters" / "ch01_generative_modeling"
SECTIONS = sorted(CHAPTER.glob("s[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", SECTIONS, ids=lambda p: p.stem)
def test_every_section_opens_with_title_summary_and_parameters(path):
    source = path.read_text()
    title, summary = title_and_summary(first_markdown_cell(source))
    assert title and summary and "\n" not in summary
    assert not summary.startswith("Book:"), "the line after the title is the section's summary"
    cell = parameters_cell(source)
    assert {"seed", "quick", "quiet", "device", "out_dir", "quick_sizes"} <= set(cell)
    assert set(cell["quick_sizes"].default) <= set(cell), "quick_sizes names only settings"
    # The plumbing is one call in a cell the book hides, right after the parameters cell.
    after = source.split('# %% tags=["parameters"]', 1)[1].split("# %%", 2)[1]
    assert after.startswith(' tags=["remove-cell"]')
    assert f'chapter_args("{path.stem}", globals())' in after
    assert "if args.quick:\n    args." not in source, (
        "quick_sizes, not overrides, sets quick's sizes"
    )


def test_quick_with_ks_2_runs_k_2_only_in_s05(tmp_path):
    path = CHAPTER / "s05_latent_variables.py"
    namespace = {"__name__": "__main__", "__file__": str(path)}
    namespace.update({k: p.default for k, p in parameters_cell(path.read_text()).items()})
    args = chapter_args(path.stem, namespace, ["--quick", "--ks", "2", "--out-dir", str(tmp_path)])
    assert args.ks == [2] and args.num_steps == 200


@pytest.mark.slow
def test_s05_quick_ks_2_fits_k_2_only(tmp_path):
    import json
    import subprocess

    flags = ["--quick", "--quiet", "--ks", "2", "--num-steps", "20", "--num-data", "300"]
    flags += ["--num-heldout", "300", "--khat-draws", "50", "--num-shown", "100"]
    command = [sys.executable, str(CHAPTER / "s05_latent_variables.py"), *flags]
    subprocess.run([*command, "--out-dir", str(tmp_path)], check=True, timeout=600)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ks"] == [2]
    assert len(results["fits"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flag", "value"),
    [("--seed", "-1"), ("--num-data", "0"), ("--out-dir", "/dev/null/x"), ("--device", "gpu")],
)
def test_a_bad_flag_stops_a_section_with_status_2(flag, value):
    import subprocess

    command = [sys.executable, str(CHAPTER / "s01_hello_world.py"), flag, value]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert f"error: argument {flag}" in completed.stderr.strip().splitlines()[-1]
    assert "Traceback" not in completed.stderr
