"""The stubs, read from the sections themselves: the one copy a learner edits.

``make exercises`` and the tests check each stub as the section holds it, so a stub cannot drift
from what the notebook shows. The exercise's code cell is the one that calls
``exercises.attempt("sNN.k", name)``; the cell's other statements (the stub's ``def``) run in a
namespace that holds the section's imports, as they would in the notebook, and ``name`` is read
from it. This is what otter-grader's ``otter assign`` does with a master notebook, for the
jupytext files this project keeps.
"""

import ast
from functools import cache
from pathlib import Path

from gdl_pyro.scripting import REPO_ROOT

CHAPTER = REPO_ROOT / "chapters" / "ch01_generative_modeling"


def _cells(path: Path) -> list[str]:
    """The code cells of a jupytext percent file, as source strings."""
    cells, lines, code = [], [], False
    for line in path.read_text().splitlines():
        if line.startswith("# %%"):
            if code:
                cells.append("\n".join(lines))
            lines, code = [], not line.startswith("# %% [markdown]")
            continue
        lines.append(line)
    if code:
        cells.append("\n".join(lines))
    return cells


def _attempted(statement: ast.stmt) -> str | None:
    """The id of an ``exercises.attempt("sNN.k", ...)`` statement, else None."""
    value = getattr(statement, "value", None)
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "attempt" or not value.args or not isinstance(value.args[0], ast.Constant):
        return None
    return value.args[0].value


@cache
def _section_stubs(path: Path) -> dict[str, tuple[ast.Module, str]]:
    """{id: (the stub's statements, the name passed to attempt)} of one section file."""
    cells = [ast.parse(cell) for cell in _cells(path)]
    imports = [s for tree in cells for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)]
    stubs = {}
    for tree in cells:
        for statement in tree.body:
            id = _attempted(statement)
            if id is None:
                continue
            answer = statement.value.args[1]
            if not isinstance(answer, ast.Name):
                raise ValueError(f"{path.name}: attempt({id!r}, ...) must pass a name")
            body = [s for s in tree.body if _attempted(s) is None and s not in imports]
            stubs[id] = (ast.Module(body=imports + body, type_ignores=[]), answer.id)
    return stubs


def stub(id: str, chapter: Path = CHAPTER):
    """The stub of exercise ``id`` as its section's notebook defines it.

    Needs the chapter's files: a repository checkout, not an installed wheel.
    """
    section = id.split(".")[0]
    paths = sorted(Path(chapter).glob(f"{section}_*.py"))
    if not paths:
        raise ValueError(f"id {id!r}: no section file {section}_*.py in {chapter}")
    stubs = _section_stubs(paths[0])
    if id not in stubs:
        raise ValueError(f"id {id!r}: {paths[0].name} has no exercises.attempt({id!r}, ...) cell")
    module, name = stubs[id]
    namespace: dict = {}
    exec(compile(module, str(paths[0]), "exec"), namespace)  # the learner's cell, as Jupyter would
    return namespace[name]


def section_ids(path: Path) -> list[str]:
    """The exercise ids that a section file attempts, in the order its cells hold them."""
    return list(_section_stubs(Path(path)))
