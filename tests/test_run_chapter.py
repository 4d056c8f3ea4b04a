"""The chapter runner: sections in one process give the numbers they give on their own."""

import json
import os
import subprocess
import sys

import pytest

from tests.test_chapters import CHAPTER

# Every test here starts the runner in a subprocess (seconds of imports each, minutes for one).
pytestmark = pytest.mark.slow

ENV = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")


def runner(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gdl_pyro.run_chapter", *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


def without_timings(value):
    """results.json without the keys that hold wall-clock times."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if "second" not in k}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_sections_in_one_process_give_their_standalone_numbers(tmp_path):
    sections = [CHAPTER / "s01_hello_world.py", CHAPTER / "s04_mle.py"]
    together = tmp_path / "together"
    completed = runner(
        "--quick", "--quiet", "--out-root", str(together), *map(str, sections), cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "", "--quiet must silence the runner too"
    for section in sections:
        alone = tmp_path / "alone" / section.stem
        command = [sys.executable, str(section), "--quick", "--quiet", "--out-dir", str(alone)]
        subprocess.run(command, check=True, env=ENV, cwd=tmp_path, timeout=300)
        expected = json.loads((alone / "results.json").read_text())
        got = json.loads((together / section.stem / "results.json").read_text())
        assert without_timings(got) == without_timings(expected), section.name
        assert sorted(p.name for p in (together / section.stem).iterdir()) == sorted(
            p.name for p in alone.iterdir()
        )


def test_a_failing_section_stops_the_run_with_an_error(tmp_path):
    failing, after = tmp_path / "s01_fails.py", tmp_path / "s02_after.py"
    failing.write_text("raise RuntimeError('section failed')\n")
    after.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    completed = runner("--out-root", str(tmp_path / "out"), str(failing), str(after), cwd=tmp_path)
    assert completed.returncode != 0
    assert "section failed" in completed.stderr
    assert "== s01_fails" in completed.stdout
    assert not (tmp_path / "ran").exists(), "the run must stop at the first failure"


def test_a_missing_section_is_refused(tmp_path):
    completed = runner(str(tmp_path / "s99_nowhere.py"), cwd=tmp_path)
    assert completed.returncode == 2
    assert "no such section file" in completed.stderr
