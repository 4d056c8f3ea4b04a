"""The project files agree: pinned packages, the Makefile's verbs, and the fast loop's selection."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_chapters import SCRIPTS

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _environment_pip_requirements() -> set[tuple[str, str]]:
    """The pip section of environment.yml (read by hand: PyYAML is not a dependency)."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    requirements = []
    for line in lines[start + 1 :]:
        if not line.strip().startswith("- "):
            break
        requirements.append(line.strip()[2:])
    return {_normalise(r) for r in requirements}


def test_environment_and_pyproject_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert {_normalise(r) for r in pinned} == _environment_pip_requirements()
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_torch_and_arviz_are_pinned_where_the_ecosystem_needs_it():
    deps = dict(
        _normalise(r)
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert deps["torch"] == "==2.13.0"  # the local CPU wheel; unpinned pulls CUDA
    assert deps["arviz"] == "==0.23.4"  # 1.x has no from_pyro and needs Python 3.12
    assert deps["matplotlib"] == ">=3.10,<3.13"  # ArviZ 0.23 plotting uses an API 3.13 removes


def test_makefile_has_the_learner_verbs():
    makefile = (ROOT / "Makefile").read_text()
    for target in ["help", "setup", "ch01", "quick", "test", "test-fast", "lint", "clean", "bench"]:
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert re.search(r"^ch01: \$\(STAMP\)", makefile, re.M) and re.search(
        r"^test: \$\(STAMP\)", makefile, re.M
    )


def test_slow_marker_is_registered(pytestconfig):
    # --strict-markers (pyproject's addopts) turns a mistyped @pytest.mark.slow into an error.
    assert "slow" in {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert "--strict-markers" in pytestconfig.getini("addopts")


@pytest.mark.slow  # a second pytest process that imports torch: seconds
def test_fast_loop_leaves_out_scripts_and_notebooks():
    # Collect these files with the marker expression `make test-fast` passes: none may be left.
    recipe = re.search(r"^test-fast:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    expression = re.search(r'-m "([^"]+)"', recipe).group(1)
    assert expression == "not slow"
    files = ["tests/test_chapters.py", "tests/test_notebooks.py", "tests/test_run_chapter.py"]
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    completed = subprocess.run(
        [*command, "-m", expression, *files], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert completed.returncode == 5, completed.stdout + completed.stderr  # 5: nothing selected
    assert "::" not in completed.stdout
    # They were collected and then left out: each section alone has a script and a notebook test.
    deselected = int(re.search(r"\((\d+) deselected\)", completed.stdout).group(1))
    assert deselected > 2 * len(SCRIPTS), completed.stdout
