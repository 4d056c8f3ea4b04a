"""What every chapter section shares: its settings (parameters cell or flags) and results.json.

A section is one file that is both a script and a notebook (jupytext percent format):
``chapter_args`` reads its parameters cell in a notebook and its flags from the shell.
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path

import torch

__all__ = [
    "chapter_args",
    "prepare_out_dir",
    "to_jsonable",
    "write_results",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


# The settings every section's parameters cell declares, before its own sizes.
STANDARD_PARAMETERS = ("seed", "quick", "quiet", "device", "out_dir")


def chapter_args(
    name: str, description: str, namespace: dict, sizes: list[str]
) -> argparse.Namespace:
    """A section's settings: its parameters cell's values, or from the shell, its flags.

    Every section is a jupytext percent script whose cell tagged ``parameters`` assigns
    ``seed``, ``quick``, ``quiet``, ``device``, ``out_dir`` and the section's ``sizes``. In a
    notebook those values are used as they stand (papermill or nbclient inject theirs in a cell
    after the parameters cell). Run from the shell (``python sNN_name.py --num-data 50``), each
    becomes a flag whose default is the cell's value and whose help is the cell's comment.
    Nothing in ``namespace`` is changed, and no matplotlib backend is chosen: sections save and
    close their figures and never show them, so any backend (Agg on a headless machine) works.

    Parameters
    ----------
    name : str
        The section's file name without ``.py``; the default output folder is
        ``outputs/ch01/<name>/`` at the repository root, whatever the working directory.
    description : str
        One line for ``--help``.
    namespace : dict
        The section's ``globals()``, read for the parameters' values.
    sizes : list of str
        The section's own parameters, in the order of its parameters cell.

    Returns
    -------
    argparse.Namespace
        Every parameter, with ``out_dir`` as an existing Path.
    """
    missing = [key for key in (*STANDARD_PARAMETERS, *sizes) if key not in namespace]
    if missing:
        raise ValueError(f"the parameters cell must assign {missing}")
    values = {key: namespace[key] for key in (*STANDARD_PARAMETERS, *sizes)}
    if namespace.get("__name__") == "__main__" and "ipykernel" not in sys.modules:
        helps = _parameter_comments(namespace.get("__file__"))
        parser = argparse.ArgumentParser(
            description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        for key, default in values.items():
            _add_flag(parser, key, default, helps.get(key, key.replace("_", " ")))
        values = vars(parser.parse_args())
    out_dir = values["out_dir"]
    values["out_dir"] = prepare_out_dir(
        REPO_ROOT / "outputs" / "ch01" / name if out_dir is None else out_dir
    )
    return argparse.Namespace(**values)


def _add_flag(parser: argparse.ArgumentParser, key: str, default, help_text: str) -> None:
    """One kebab-case flag whose type follows the parameters cell's value."""
    flag = "--" + key.replace("_", "-")
    if isinstance(default, bool):
        parser.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
        )
    elif isinstance(default, list | tuple):
        kind = type(default[0]) if default else str
        parser.add_argument(flag, type=kind, nargs="+", default=list(default), help=help_text)
    elif default is None:
        parser.add_argument(flag, type=Path, default=None, help=help_text)
    else:
        parser.add_argument(flag, type=type(default), default=default, help=help_text)


def _parameter_comments(path) -> dict[str, str]:
    """``name = value  # help`` lines of the file's parameters cell, as {name: help}."""
    if not path:
        return {}
    helps, inside = {}, False
    for line in Path(path).read_text().splitlines():
        if line.startswith("# %%"):
            inside = line.startswith('# %% tags=["parameters"]')
            continue
        match = re.match(r"^(\w+)\s*=.*?#\s*(.+)$", line) if inside else None
        if match:
            helps[match.group(1)] = match.group(2).strip()
    return helps


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
