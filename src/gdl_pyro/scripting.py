"""What every chapter script shares: its standard flags and how it writes results.json."""

import argparse
import json
import math
import os
from pathlib import Path

import matplotlib
import torch

__all__ = [
    "chapter_parser",
    "prepare_out_dir",
    "to_jsonable",
    "use_file_backend",
    "write_results",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


def chapter_parser(script_file: str, description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with --seed, --out-dir, --quick, --quiet and --device; scripts add more.

    The default output folder is ``outputs/ch01/<script name>/`` at the repository root, so a
    script writes to the same place whatever the working directory.
    """
    name = Path(script_file).stem
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same numbers)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO_ROOT / "outputs" / "ch01" / name,
        help="folder for figures and results.json",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: seconds, for CI and a first look"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars and no printed summary"
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device for the fits (e.g. cuda); results on cpu"
    )
    return parser


def use_file_backend() -> None:
    """For a script run from the shell: draw to files with Agg, unless MPLBACKEND chooses.

    Called by the chapter scripts under ``if __name__ == "__main__"``, never by the library, so
    importing gdl_pyro leaves a notebook's backend as it was.
    """
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def prepare_out_dir(out_dir) -> Path:
    """Create the output folder and return it as a Path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def to_jsonable(value):
    """Tensors and numbers as plain JSON; a non-finite float becomes "inf", "-inf" or "nan".

    JSON has no infinity, and a log-likelihood of -inf is a result worth keeping.
    """
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return to_jsonable(value.item())
    return value


def write_results(out_dir, results: dict) -> Path:
    """Write ``results`` as ``results.json`` in ``out_dir`` and return the file's path."""
    path = prepare_out_dir(out_dir) / "results.json"
    path.write_text(json.dumps(to_jsonable(results), indent=2) + "\n")
    return path
