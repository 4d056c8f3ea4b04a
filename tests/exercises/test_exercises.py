"""Every exercise: its solution passes, its stub fails, wrong answers fail with their message.

Each section's wrong answers live in tests/exercises/test_sNN.py as ``WRONG = {id: [(answer,
words of the message), ...]}``; this file holds the tests that apply to every exercise.
"""

import ast
import importlib
import math
import re
import subprocess
import sys

import numpy as np
import pyro
import pytest
import torch

from gdl_pyro import exercises, notebooks
from gdl_pyro.exercises import _stubs
from gdl_pyro.exercises._core import STUB_HINT
from gdl_pyro.scripting import REPO_ROOT

IDS = exercises.ids()
SECTIONS = sorted({id.split(".")[0] for id in IDS})


def _param(id):
    return pytest.param(id, marks=pytest.mark.slow) if id in SLOW else id


def _param_case(id, index, answer, words):
    # The unit loop tries the first wrong answer of each exercise; make test tries them all.
    marks = [pytest.mark.slow] if id in SLOW or index >= 1 else []
    return pytest.param(id, answer, words, marks=marks, id=f"{id}-{index}")


def _gather(name: str, empty):
    """One name from every section's test module: WRONG answers, or the SLOW exercises."""
    found = empty
    for section in SECTIONS:
        found |= getattr(importlib.import_module(f"tests.exercises.test_{section}"), name, empty)
    return found


def wrong_answers() -> dict:
    """{id: [(answer, expected words), ...]} gathered from every section's test module."""
    return _gather("WRONG", {})


# Exercises whose check trains a model for a second or more: the slow loop only.
SLOW = _gather("SLOW", set())


def test_two_to_four_exercises_in_every_section_from_s02_on():
    assert SECTIONS == [f"s0{n}" for n in range(2, 10)]
    for section in SECTIONS:
        count = sum(id.startswith(section + ".") for id in IDS)
        assert 2 <= count <= 4, (section, count)
    assert all(re.fullmatch(r"s\d\d\.\d", id) for id in IDS)


@pytest.mark.parametrize("id", [_param(id) for id in IDS])
def test_the_solution_passes(id):
    result = exercises.check(id, exercises.solution(id))
    assert result.passed, result.message


@pytest.mark.parametrize("id", IDS)
def test_the_sections_stub_fails_and_says_to_fill_it_in(id):
    result = exercises.check(id, exercises.stub(id))
    assert not result.passed
    assert STUB_HINT in result.message


WRONG = wrong_answers()


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            names.add(statement.name)
        for target in getattr(statement, "targets", []):
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


@pytest.mark.parametrize("path", notebooks.sections()[1:], ids=lambda p: p.stem)
def test_a_stub_never_replaces_a_name_the_section_defines(path):
    # A learner runs the exercise cells in the section's own namespace: a stub named like the
    # section's model would replace it there, and tests reading the section's program with it.
    cells = [ast.parse(cell) for cell in _stubs._cells(path)]
    stubs = [tree for tree in cells if any(_stubs._attempted(s) for s in tree.body)]
    section_names = set().union(*(_top_level_names(t) for t in cells if t not in stubs))
    stub_names = [name for tree in stubs for name in _top_level_names(tree)]
    assert len(stub_names) == len(set(stub_names))
    assert not section_names & set(stub_names)


def test_every_exercise_has_at_least_two_wrong_answers():
    assert sorted(WRONG) == IDS
    assert all(len(answers) >= 2 for answers in WRONG.values())


@pytest.mark.parametrize(
    ("id", "answer", "words"),
    [
        _param_case(id, index, answer, words)
        for id, answers in WRONG.items()
        for index, (answer, words) in enumerate(answers)
    ],
)
def test_a_wrong_answer_fails_with_the_message_that_names_its_mistake(id, answer, words):
    result = exercises.check(id, answer)
    assert not result.passed
    assert words in result.message, result.message


def _raises(*args, **kwargs):
    raise RuntimeError("my bug")


@pytest.mark.parametrize("id", IDS)
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (None, STUB_HINT),
        (..., STUB_HINT),
        (_raises, "raised RuntimeError: my bug"),
        (lambda *args, **kwargs: math.nan, ""),
        (lambda *args, **kwargs: "text", ""),
    ],
    ids=["None", "Ellipsis", "raises", "nan", "a string"],
)
def test_any_answer_gets_a_message_never_a_traceback(id, answer, words):
    result = exercises.check(id, answer)
    assert not result.passed
    assert words in result.message
    assert "Traceback" not in result.message and result.message


# The stubs return at once; the solutions draw random numbers and run Pyro programs.
@pytest.mark.parametrize(
    "answers",
    [exercises.stub, pytest.param(exercises.solution, marks=pytest.mark.slow)],
    ids=["stubs", "solutions"],
)
def test_checking_leaves_the_callers_rng_and_param_store_alone(answers):
    pyro.param("mine", torch.ones(2))
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    for id in IDS:
        exercises.check(id, answers(id))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002
    assert list(pyro.get_param_store().keys()) == ["mine"]


def test_the_same_answer_gets_the_same_message():
    id = IDS[0]
    first, second = (exercises.check(id, exercises.solution(id)) for _ in range(2))
    assert first == second


def test_an_unknown_id_is_a_value_error_that_lists_the_ids():
    with pytest.raises(ValueError, match=r"^id must be one of the exercises s02\.1"):
        exercises.check("s99.1", None)


def test_a_script_run_checks_the_solution_and_says_so(capsys):
    exercises.attempt(IDS[0], exercises.stub(IDS[0]))
    out = capsys.readouterr().out
    assert out.startswith(f"[script run: the reference solution is checked] {IDS[0]} passed: ")
    exercises.attempt(IDS[0], None, quiet=True)
    assert capsys.readouterr().out == ""


def test_a_notebook_checks_the_learners_answer_and_prints_it_once(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", sys)
    assert exercises.attempt(IDS[0], None) is None  # no cell value: the message shows once
    assert capsys.readouterr().out == f"{exercises.check(IDS[0], None)}\n"


@pytest.mark.slow
def test_make_exercises_prints_a_line_each_and_the_summary():
    done = subprocess.run(
        [sys.executable, "-m", "gdl_pyro.exercises"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0] for line in lines[:-1]] == IDS
    n = len(IDS)
    assert lines[-1] == f"{n} exercises: {n} solutions pass, {n} stubs fail"


def test_make_exercises_fails_when_a_stub_passes(monkeypatch, capsys):
    from gdl_pyro.exercises.__main__ import main

    monkeypatch.setattr(exercises, "stub", exercises.solution)
    assert main([IDS[0]]) == 1
    assert "stub PASSES" in capsys.readouterr().out


def _raises_like_pyro(*args, **kwargs):
    raise ValueError(
        "Error while computing log_prob at site 'obs':\nExpected value to be within the support"
        ", but found invalid values:\ntensor([[1.0, 2.0]])\n Trace Shapes:\n Param Sites:"
    )


@pytest.mark.parametrize("id", IDS)
def test_a_long_error_is_cut_to_its_first_sentence(id):
    message = exercises.check(id, _raises_like_pyro).message
    assert "at site 'obs': Expected value to be within the support" in message
    assert "tensor(" not in message and "Trace Shapes" not in message
