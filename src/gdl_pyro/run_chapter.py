"""Run the chapter's sections as scripts, in reading order, in one Python process.

``make ch01`` and ``make quick`` call this. Each section runs as ``python sNN_name.py --out-dir
DIR [--quick] [--quiet]`` would: through ``runpy`` with ``__name__ == "__main__"``, its own
``sys.argv`` and a fresh namespace, so its flags, its seed (set at its top) and its numbers are
the same. What is shared is the imports: on 2 cores a fresh process spent about 2.5 s importing
torch, Pyro, ArviZ and matplotlib, and the first optimiser of a process 1.4 s more importing
torch._dynamo, in every one of nine sections.

    python -m gdl_pyro.run_chapter [--quick] [--quiet] [--out-root DIR] [SECTION ...]
"""

import argparse
import gc
import runpy
import sys
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

from gdl_pyro.notebooks import CHAPTER, sections
from gdl_pyro.scripting import REPO_ROOT

__all__ = ["main", "run_section"]


def run_section(path: Path, flags: list[str]) -> float:
    """Run one section file as ``__main__`` with ``flags`` as its command line; its seconds."""
    path = Path(path)
    saved_argv = sys.argv
    sys.argv = [str(path), *flags]
    start = time.perf_counter()
    try:
        # A section's warning filters and open figures stay with it.
        with warnings.catch_warnings():
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved_argv
        plt.close("all")
        gc.collect()
    return time.perf_counter() - start


def main(argv=None) -> None:
    """The command line: every section (or those named) in reading order, stopping at a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", type=Path, help="section files (default: all)")
    parser.add_argument("--quick", action="store_true", help="the sections' small sizes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")
    parser.add_argument(
        "--out-root",
        type=Path,
        default=REPO_ROOT / "outputs" / "ch01",
        help="each section writes to OUT_ROOT/<section>/",
    )
    args = parser.parse_args(argv)
    paths = args.sections or sections(CHAPTER)
    missing = [str(path) for path in paths if not Path(path).is_file()]
    if missing:
        parser.error(f"no such section file: {', '.join(missing)}")
    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    total = 0.0
    for path in paths:
        name = Path(path).stem
        say(f"== {name}{' (quick)' if args.quick else ''}")
        flags = ["--out-dir", str(args.out_root / name)]
        flags += ["--quick"] * args.quick + ["--quiet"] * args.quiet
        seconds = run_section(path, flags)
        total += seconds
        say(f"   {name}: {seconds:.1f} s")
    say(f"== {len(paths)} sections in {total:.1f} s; outputs in {args.out_root}")


if __name__ == "__main__":
    main()
