"""What every chapter section shares: its settings (parameters cell or flags) and results.json.

A section is one file that is both a script and a notebook (jupytext percent format). Its cell
tagged ``parameters`` is the one place its settings live; one call, ``chapter_args``, turns that
cell into flags from the shell or reads it (and what papermill or nbclient injected) in a
notebook, applies ``--quick``'s sizes to the settings nobody gave, and checks every value.
"""

import argparse
import ast
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from gdl_pyro._state import as_device

__all__ = [
    "INJECTED",
    "Parameter",
    "chapter_args",
    "display_path",
    "first_markdown_cell",
    "parameters_cell",
    "prepare_out_dir",
    "section_parser",
    "title_and_summary",
    "to_jsonable",
    "write_results",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

# The settings every section's parameters cell declares, before its own sizes.
STANDARD_PARAMETERS = ("seed", "quick", "quiet", "device", "out_dir")
# The parameters cell's entry for --quick's sizes: a setting of the cell, not a flag.
QUICK_SIZES = "quick_sizes"
# A parameter's comment that ends in "(>= 0)" lets it be 0; other sizes must be positive.
ZERO_ALLOWED = "(>= 0)"
# The name under which a notebook's injected cell lists the settings it assigns
# (``gdl_pyro.notebooks.inject_parameters`` writes it; papermill does not).
INJECTED = "_injected_parameters"


@dataclass(frozen=True)
class Parameter:
    """One line of a parameters cell: ``name = default  # help``."""

    name: str
    default: object
    help: str


def parameters_cell(source: str) -> dict[str, Parameter]:
    """The assignments of the cell tagged ``parameters`` in a jupytext percent file's text.

    Values are Python literals (``ast.literal_eval``); the comment after each is its help.
    """
    lines, inside = [], False
    for line in source.splitlines():
        if line.startswith("# %%"):
            inside = line.startswith("# %% tags=") and '"parameters"' in line
            continue
        if inside:
            lines.append(line)
    cell = "\n".join(lines)
    comments = {}
    for line in lines:
        match = re.match(r"^(\w+)\s*=.*?#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    found = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            default = ast.literal_eval(node.value)
            found[name] = Parameter(name, default, comments.get(name, name.replace("_", " ")))
    return found


def title_and_summary(markdown: str) -> tuple[str, str]:
    """A section's first markdown cell: its ``# `` heading and the paragraph right after it."""
    text = markdown
    match = re.search(r"^#\s+(.+)$", text, re.M)
    if not match:
        return "", ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text[match.end() :]) if p.strip()]
    summary = re.sub(r"\s+", " ", paragraphs[0]).strip("*_ ") if paragraphs else ""
    return match.group(1).strip(), summary


def first_markdown_cell(source: str) -> str:
    """The first ``# %% [markdown]`` cell of a jupytext percent file, as markdown."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.startswith("# %%"):
            if inside:
                break
            inside = line.startswith("# %% [markdown]")
            continue
        if inside:
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return "\n".join(lines)


def in_kernel() -> bool:
    """Whether a Jupyter kernel runs this code: a notebook, which shows a cell's value itself.

    A script, and ``%run`` in an IPython terminal, show nothing they do not print.
    """
    return "ipykernel" in sys.modules


def chapter_args(name: str, namespace: dict, argv: list[str] | None = None) -> argparse.Namespace:
    """A section's settings: its parameters cell, what the caller gave, and ``quick``'s sizes.

    The section's cell tagged ``parameters`` assigns ``seed``, ``quick``, ``quiet``, ``device``,
    ``out_dir``, its own sizes, and ``quick_sizes``: the sizes ``quick`` uses. Run from the shell
    (``python sNN_name.py --num-data 50``), every setting but ``quick_sizes`` is a kebab-case
    flag whose default is the cell's value and whose help is the cell's comment. In a notebook
    the cell's values are used as they stand, with those papermill or nbclient injected after it.

    ``quick`` changes only the defaults: a size given as a flag, or injected, wins over
    ``quick_sizes``. A notebook run by ``gdl_pyro.notebooks.execute_section`` says which names
    it injected (the injected cell assigns them in ``_injected_parameters``), so an injected
    value wins even when it equals the cell's default. Other injectors (papermill, a reader
    editing the cell) leave no such list: there a value wins only where it differs from the
    cell's, so ``quick=True, num_steps=<the cell's default>`` runs quick's size. Every value is
    checked: the seed and the sizes must be finite numbers of at least 0 and 1 (0 where the
    comment says ``(>= 0)``; a float size must be above 0), the device one a fit can run on
    here (``gdl_pyro._state.as_device``'s rule), ``out_dir`` a folder that can be made. From the
    shell a bad value stops with argparse's one-line error naming the flag (exit status 2); in a
    notebook with a ValueError naming the parameter. No matplotlib backend is chosen.

    Parameters
    ----------
    name : str
        The section's file name without ``.py``; the default output folder is
        ``outputs/ch01/<name>/`` at the repository root, whatever the working directory.
    namespace : dict
        The section's ``globals()``, read for the parameters' values; nothing in it is changed.
    argv : list of str, optional
        Flags to parse instead of ``sys.argv[1:]``; given, the shell's rules apply.

    Returns
    -------
    argparse.Namespace
        Every parameter but ``quick_sizes``, with ``out_dir`` as an existing Path.
    """
    path = _section_file(name, namespace)
    source = path.read_text() if path else ""
    cell = parameters_cell(source) if source else {}
    names = [key for key in cell if key != QUICK_SIZES] or [
        key for key in STANDARD_PARAMETERS if key in namespace
    ]
    missing = [key for key in (*STANDARD_PARAMETERS, QUICK_SIZES, *names) if key not in namespace]
    if missing:
        raise ValueError(f"the parameters cell must assign {missing}")
    quick_sizes = dict(namespace[QUICK_SIZES])
    unknown = sorted(set(quick_sizes) - set(names))
    if unknown:
        raise ValueError(f"quick_sizes names settings the parameters cell lacks: {unknown}")
    values = {key: namespace[key] for key in names}
    from_shell = argv is not None or (namespace.get("__name__") == "__main__" and not in_kernel())
    if from_shell:
        parser = section_parser(
            title_and_summary(first_markdown_cell(source))[1] or name,
            {key: cell.get(key, Parameter(key, values[key], key)) for key in names},
            quick_sizes,
        )
        given = vars(parser.parse_args(sys.argv[1:] if argv is None else argv))
    else:
        # An injected value wins; so does one other than the cell's own (papermill's injection,
        # or a value typed into the cell), which leaves no list of the names it assigned.
        injected = set(namespace.get(INJECTED, ()))
        given = {
            key: value
            for key, value in values.items()
            if key in injected or key not in cell or not _same(value, cell[key].default)
        }
        for key, value in given.items():
            try:
                given[key] = _checker(key, cell.get(key, Parameter(key, value, "")))(value)
            except argparse.ArgumentTypeError as error:
                raise ValueError(f"{key} = {value!r}: {error}") from None
    quick = given.get("quick", values["quick"])
    values.update({**(quick_sizes if quick else {}), **given})
    out_dir = values["out_dir"]
    values["out_dir"] = prepare_out_dir(
        REPO_ROOT / "outputs" / "ch01" / name if out_dir is None else out_dir
    )
    return argparse.Namespace(**values)


def section_parser(
    description: str, parameters: dict[str, Parameter], quick_sizes: dict
) -> argparse.ArgumentParser:
    """The flags of a parameters cell: one per setting, given ones only in the parsed result.

    Defaults are left out of the parse (``argparse.SUPPRESS``) so that the caller can tell a
    size given on the command line from one that ``--quick`` may replace; the help says both.
    """
    parser = argparse.ArgumentParser(description=description, argument_default=argparse.SUPPRESS)
    for key, parameter in parameters.items():
        flag = "--" + key.replace("_", "-")
        default = parameter.default
        shown = f"default: {default}" + (
            f"; with --quick: {quick_sizes[key]}" if key in quick_sizes else ""
        )
        help_text = f"{parameter.help} ({shown})".replace("%", "%%")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif isinstance(default, list | tuple):
            parser.add_argument(flag, type=_checker(key, parameter), nargs="+", help=help_text)
        else:
            parser.add_argument(flag, type=_checker(key, parameter), help=help_text)
    return parser


def _checker(key: str, parameter: Parameter):
    """The argparse ``type`` of one setting: it converts a flag's text and checks its value."""
    if key == "device":
        return _device
    if key == "out_dir":
        return _folder
    default = parameter.default
    kind = type(default[0] if isinstance(default, list | tuple) and default else default)
    if kind is bool or default is None:
        return lambda value: value
    zero_allowed = key == "seed" or parameter.help.endswith(ZERO_ALLOWED)

    def check(value):
        if isinstance(value, list | tuple):  # an injected list: each element is checked
            return [check(element) for element in value]
        if kind in (int, float) and isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {value}")
        if kind is int and isinstance(value, float) and value != int(value):
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value}")
        value = kind(value)
        if kind is float and not math.isfinite(value):  # "nan" and "inf" parse as floats
            raise argparse.ArgumentTypeError(f"must be a finite number, got {value}")
        if kind in (int, float) and (value < 0 or (value == 0 and not zero_allowed)):
            bound = "at least 0" if zero_allowed else ("above 0" if kind is float else "at least 1")
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    check.__name__ = kind.__name__  # argparse's "invalid int value: 'x'"
    return check


def _device(text: str) -> str:
    """A device a fit can run on here, by the library's own rule (``as_device``).

    "cpu"; "cuda" or "cuda:N" when torch sees that CUDA device; "mps" when that backend is
    available. Devices torch can name but not fit on ("meta", "xla") are refused.
    """
    try:
        as_device(text, None)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _folder(text) -> Path | None:
    """A path that is a folder or can be made one (nothing is created here)."""
    if text is None:
        return None
    path = Path(text)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    if existing is not None and not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{text} cannot be a folder: {existing} is a file")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be made: {existing} is not writable")
    return path


def _same(value, default) -> bool:
    """Whether an injected value is the cell's own (1000 and 1000.0, [1, 2] and (1, 2) alike)."""
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) == list(default)
    return (
        type(value) is type(default)
        and value == default
        or (isinstance(value, int | float) and not isinstance(value, bool) and value == default)
    )


def _section_file(name: str, namespace: dict) -> Path | None:
    """The section's own file: ``__file__`` in a script, by its name in a notebook's folder."""
    candidates = [namespace.get("__file__"), Path.cwd() / f"{name}.py"]
    candidates += sorted((REPO_ROOT / "chapters").glob(f"*/{name}.py"))
    return next((Path(p) for p in candidates if p and Path(p).is_file()), None)


def display_path(path) -> str:
    """A path as a reader may see it: relative to the repository when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


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
