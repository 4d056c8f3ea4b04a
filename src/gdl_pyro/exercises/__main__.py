"""``make exercises``: every reference solution and every stub through its check.

One line per exercise, then ``N exercises: N solutions pass, N stubs fail``. Exits with 1 when a
solution fails or a stub passes: either means the exercise, not the learner, is wrong.
"""

import argparse
import sys
import time

from gdl_pyro import exercises


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdl_pyro.exercises", description=__doc__)
    parser.add_argument("ids", nargs="*", help="exercises to run (default: all), e.g. s03.1")
    args = parser.parse_args(argv)
    chosen = args.ids or exercises.ids()
    for id in chosen:
        exercises.get(id)  # an unknown id is an error before anything runs
    solutions_pass = stubs_fail = 0
    for id in chosen:
        start = time.perf_counter()
        solved = exercises.check(id, exercises.solution(id))
        stubbed = exercises.check(id, exercises.stub(id))
        seconds = time.perf_counter() - start
        solutions_pass += solved.passed
        stubs_fail += not stubbed.passed
        title = exercises.get(id).title
        print(
            f"{id:6} {title[:44]:44} solution {'passes' if solved.passed else 'FAILS '}  "
            f"stub {'fails ' if not stubbed.passed else 'PASSES'}  {seconds:4.1f} s",
            flush=True,
        )
        if not solved.passed:
            print(f"       the solution: {solved.message}")
        if stubbed.passed:
            print(f"       the stub: {stubbed.message}")
    print(
        f"{len(chosen)} exercises: {solutions_pass} solutions pass, {stubs_fail} stubs fail",
        flush=True,
    )
    return 0 if solutions_pass == stubs_fail == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
