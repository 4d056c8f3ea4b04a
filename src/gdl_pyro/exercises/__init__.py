r"""Exercises that check themselves against the known p_data.

Each section from s02 on ends with a few exercises. The question is a markdown cell; a code cell
holds a stub for the learner to fill in, and a call checks it::

    def log_likelihood(x, low, high):
        ...  # your code here

    exercises.attempt("s03.1", log_likelihood)

p_data is known exactly here, so a check judges an answer by what it achieves (its held-out gap
to the entropy bound, which is a true KL; its integral over the map; its Pyro trace; its log
density against a closed form), with tolerances that admit every correct answer. A wrong answer
gets a message that says what was measured and what to try, never a traceback: an answer that
raises, returns None or NaN, or has the wrong shape is a wrong answer like any other.

    check(id, answer)     # -> Result(passed, message, measured); printed in a notebook
    ids()                 # ["s02.1", "s02.2", ...]
    solution(id)          # the reference solution (gdl_pyro.exercises.solutions)
    stub(id)              # the section's stub, read from its file (a repository checkout only)
    attempt(id, answer)   # what a section's cell calls: in a notebook, check(id, answer);
                          # in a script run, check(id, solution(id)), and it says so; it
                          # prints and returns nothing

A check runs the learner's code on an RNG of its own (seed 0), in a param store of its own and
outside any Pyro program of the caller's (``gdl_pyro.fitting``'s seals), so checking leaves the
notebook's RNG, param store and traces as they were, and the same answer always gets the same
message. ``make exercises`` (``python -m gdl_pyro.exercises``) runs every solution and every stub
through its check.
"""

import importlib

from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, seeded
from gdl_pyro.exercises import s02, s03, s04, s05, s06, s07, s08, s09  # noqa: F401 (registers)
from gdl_pyro.exercises._core import REGISTRY, Exercise, Result, Wrong
from gdl_pyro.exercises._stubs import stub
from gdl_pyro.scripting import in_kernel

__all__ = ["Result", "attempt", "check", "get", "ids", "solution", "stub"]


def ids() -> list[str]:
    """Every exercise's id, "sNN.k", in reading order."""
    return sorted(REGISTRY, key=lambda id: tuple(int(part) for part in id[1:].split(".")))


def get(id: str) -> Exercise:
    """The exercise ``id`` (its title, section, the name its stub defines, its check)."""
    if id not in REGISTRY:
        raise ValueError(f"id must be one of the exercises {', '.join(ids())}; got {id!r}")
    return REGISTRY[id]


def solution(id: str):
    """The reference solution of exercise ``id``, from ``gdl_pyro.exercises.solutions``."""
    exercise = get(id)
    module = importlib.import_module(f"gdl_pyro.exercises.solutions.{exercise.section}")
    return getattr(module, exercise.answer_name)


def check(id: str, answer) -> Result:
    """Check ``answer`` to exercise ``id``: measure what it achieves and say so.

    Parameters
    ----------
    id : str
        The exercise, "sNN.k" (see ``ids()``).
    answer
        What the exercise's stub defines: usually a function, sometimes a value.

    Returns
    -------
    Result
        ``passed`` (bool), ``message`` (str: what was measured, and a hint when it failed) and
        ``measured`` (dict of the numbers). In a notebook the message is printed as well.
    """
    exercise = get(id)
    with seeded(0), ParamState().active(), sealed():
        try:
            message, measured = exercise.check(answer)
            result = Result(id, True, message, measured)
        except Wrong as wrong:
            result = Result(id, False, wrong.message, wrong.measured)
        except Exception as error:  # the answer broke the check itself: still a message
            result = Result(
                id, False, f"the check could not use your answer ({type(error).__name__}: {error})"
            )
    if in_kernel():
        print(result)
    return result


def attempt(id: str, answer, *, quiet: bool = False) -> None:
    """What a section's exercise cell calls: it prints what the check found, and returns nothing.

    In a notebook it checks the learner's ``answer`` (the stub, until it is filled in). A script
    run (``make ch01``, ``python sNN_name.py``) has no learner at the keyboard: it checks the
    reference solution instead and says so, unless ``quiet``. (Nothing is returned, so that a
    notebook shows the message once; ``check`` returns the ``Result``.)
    """
    if in_kernel():
        check(id, answer)
        return
    result = check(id, solution(id))
    if not quiet:
        print(f"[script run: the reference solution is checked] {result}")
