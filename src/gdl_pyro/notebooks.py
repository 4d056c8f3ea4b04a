"""Each chapter section as an executed notebook, and the chapter as a static site to read.

A section is one jupytext percent script (``chapters/ch01_generative_modeling/sNN_*.py``). This
module turns it into a notebook, puts the caller's settings in a cell after the cell tagged
``parameters`` (as papermill does), runs it with nbclient on this Python's own kernel, and
renders executed notebooks to HTML with nbconvert. nbconvert, not Sphinx: the pages are the
notebooks themselves (narrative, code, printed tables and figures inline), and one small index
page in reading order is all the site needs; it opens offline with no Node.js.

From the shell::

    python -m gdl_pyro.notebooks execute --quick --out-dir outputs/notebooks
    python -m gdl_pyro.notebooks book --notebooks outputs/notebooks --out-dir outputs/book

jupytext, nbclient, nbformat, ipykernel and nbconvert are imported here only, when called.
"""

import argparse
import html
import os
import re
from pathlib import Path

from gdl_pyro.scripting import REPO_ROOT

__all__ = [
    "CHAPTER",
    "build_book",
    "collapse_progress_bars",
    "execute_section",
    "figures_in",
    "inject_parameters",
    "sections",
]

CHAPTER = REPO_ROOT / "chapters" / "ch01_generative_modeling"
# Environment of the kernels: one torch thread each, so that tests running side by side on two
# cores do not slow each other down.
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def sections(chapter: Path = CHAPTER) -> list[Path]:
    """The chapter's section files, in reading order."""
    return sorted(chapter.glob("s[0-9][0-9]_*.py"))


def inject_parameters(notebook, parameters: dict):
    """Insert a cell that assigns ``parameters`` right after the cell tagged "parameters".

    The cell is tagged "injected-parameters", as papermill tags it. Raises ValueError when the
    notebook has no parameters cell.
    """
    import nbformat

    tagged = [
        i
        for i, cell in enumerate(notebook.cells)
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    if not tagged:
        raise ValueError("notebook has no cell tagged 'parameters'")
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, cell)
    return notebook


def execute_section(path, parameters: dict | None = None, *, timeout: int = 600):
    """Run a section as a notebook with ``parameters`` injected; return the executed notebook.

    The kernel is this interpreter's own (ipykernel's "python3"), started in the section's
    folder. A cell that raises stops the run with nbclient's CellExecutionError.
    """
    import jupytext
    from nbclient import NotebookClient

    path = Path(path)
    notebook = inject_parameters(jupytext.read(path), parameters or {})
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        # The kernel's own log warns that a local TCP socket is unencrypted: noise on a console.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    client.execute(env={**os.environ, **KERNEL_ENV})
    return collapse_progress_bars(notebook)


def collapse_progress_bars(notebook):
    """Keep each progress bar's last state: merge a cell's stream outputs and apply ``\\r``.

    tqdm redraws a bar by writing ``\\r`` and the new state; a terminal overwrites the line,
    but a saved notebook keeps every state, which buries the cell's real output.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (
                output.output_type == "stream"
                and previous is not None
                and previous.output_type == "stream"
                and previous.name == output.name
            ):
                previous.text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                lines = output.text.split("\n")
                output.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)
        cell.outputs = merged
    return notebook


def figures_in(notebook) -> int:
    """How many PNG figures the notebook's outputs hold."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def build_book(notebooks: list[Path], out_dir: Path) -> Path:
    """Render executed notebooks to HTML pages and an index in their order; return the index.

    Every page is self-contained (figures embedded), so ``index.html`` opens offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    entries = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        title = _title(notebook) or path.stem
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
        page = out_dir / f"{path.stem}.html"
        page.write_text(_with_navigation(body, title))
        entries.append((page.name, path.stem, title))
    items = "\n".join(
        f'<li><a href="{page}"><span class="id">{stem[:3]}</span> {html.escape(title)}</a></li>'
        for page, stem, title in entries
    )
    index = out_dir / "index.html"
    index.write_text(INDEX.format(items=items))
    return index


def _title(notebook) -> str | None:
    """The first markdown heading of the notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return None


def _with_navigation(body: str, title: str) -> str:
    """The nbconvert page with a link back to the index at its top."""
    link = (
        '<nav style="font-family: sans-serif; padding: 0.6em 1em; border-bottom: 1px solid #ddd">'
        f'<a href="index.html">Chapter 1: Generative Modeling</a> &rsaquo; {html.escape(title)}'
        "</nav>"
    )
    return re.sub(r"(<body[^>]*>)", r"\1" + link, body, count=1)


INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gdl-pyro: Chapter 1, Generative Modeling</title>
<style>
body {{ font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5;
       color: #222; padding: 0 1em; }}
li {{ margin: 0.5em 0; list-style: none; }}
a {{ color: #1f5fa8; text-decoration: none; font-size: 1.1em; }}
a:hover {{ text-decoration: underline; }}
.id {{ color: #888; font-family: monospace; margin-right: 0.5em; }}
</style>
</head>
<body>
<h1>Chapter 1: Generative Modeling</h1>
<p>The chapter of <em>Generative Deep Learning</em> (2nd ed.) taught as Pyro models: one
executed notebook per section, in reading order. Each page holds the narrative, the code, the
printed tables and every figure.</p>
<ol>
{items}
</ol>
</body>
</html>
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="run every section as a notebook")
    run.add_argument("--quick", action="store_true", help="the sections' small sizes")
    run.add_argument("--out-dir", type=Path, default=REPO_ROOT / "outputs" / "notebooks")
    run.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    book = commands.add_parser("book", help="render executed notebooks as a static site")
    book.add_argument("--notebooks", type=Path, default=REPO_ROOT / "outputs" / "notebooks")
    book.add_argument("--out-dir", type=Path, default=REPO_ROOT / "outputs" / "book")
    args = parser.parse_args(argv)
    if args.command == "execute":
        import nbformat

        args.out_dir.mkdir(parents=True, exist_ok=True)
        for path in sections():
            print(f"== {path.stem}{' (quick)' if args.quick else ''}", flush=True)
            notebook = execute_section(path, {"quick": args.quick}, timeout=args.timeout)
            nbformat.write(notebook, args.out_dir / f"{path.stem}.ipynb")
        print(f"executed notebooks in {args.out_dir}")
    else:
        notebooks = [args.notebooks / f"{path.stem}.ipynb" for path in sections()]
        missing = [str(p) for p in notebooks if not p.exists()]
        if missing:
            raise SystemExit(f"run `make notebooks` first; missing: {', '.join(missing)}")
        print(f"open {build_book(notebooks, args.out_dir)}")


if __name__ == "__main__":
    main()
