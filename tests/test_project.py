"""The project files agree: pyproject.toml and environment.yml pin the same packages."""

import re
import tomllib
from pathlib import Path

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
    for target in ["help", "setup", "ch01", "quick", "test", "lint", "clean", "bench"]:
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert re.search(r"^ch01: \$\(STAMP\)", makefile, re.M) and re.search(
        r"^test: \$\(STAMP\)", makefile, re.M
    )
