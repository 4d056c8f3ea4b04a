"""Each chapter section as an executed notebook, and the chapter as a static site to read.

A section is one jupytext percent script (``chapters/ch01_generative_modeling/sNN_*.py``). This
module turns it into a notebook, puts the caller's settings in a cell after the cell tagged
``parameters`` (as papermill does), runs it with nbclient on this Python's own kernel, and
renders executed notebooks to HTML with nbconvert. nbconvert, not Sphinx: the pages are the
notebooks themselves (narrative, code, printed tables and figures inline), and one small index
page in reading order is all the site needs; it opens offline with no Node.js.

The pages load nothing from the network: nbconvert's lab template is used without its CDN
scripts (require.js, MathJax, mermaid), and the markdown's LaTeX becomes MathML at build time
(latex2mathml), which browsers render natively. Each page is one self-contained file.

From the shell::

    python -m gdl_pyro.notebooks execute --quick --out-dir outputs/notebooks [SECTION ...]
    python -m gdl_pyro.notebooks book --notebooks outputs/notebooks --out-dir outputs/book

Each section writes its figures and results.json to ``<out-dir>/<section>/`` of the build, never
to ``outputs/ch01`` (``make ch01``'s). jupytext, nbclient, nbformat, ipykernel, nbconvert and
latex2mathml are imported here only, when called.
"""

import argparse
import base64
import html
import io
import os
import re
from pathlib import Path

from gdl_pyro.scripting import INJECTED, REPO_ROOT, title_and_summary

__all__ = [
    "CHAPTER",
    "build_book",
    "collapse_progress_bars",
    "drop_library_warnings",
    "execute_section",
    "figures_in",
    "inject_parameters",
    "latex_to_mathml",
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

    The cell is tagged "injected-parameters", as papermill tags it, and lists the names it
    assigns in ``_injected_parameters``, so that ``chapter_args`` lets an injected size win over
    ``quick`` even when it equals the cell's default. Raises ValueError when the notebook has no
    parameters cell.
    """
    import nbformat

    tagged = [
        i
        for i, cell in enumerate(notebook.cells)
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    if not tagged:
        raise ValueError("notebook has no cell tagged 'parameters'")
    lines = [f"{name} = {value!r}" for name, value in parameters.items()]
    source = "\n".join([*lines, f"{INJECTED} = {list(parameters)!r}"])
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
    notebook.metadata["gdl_pyro"] = {"parameters": dict(parameters or {})}
    return drop_library_warnings(collapse_progress_bars(notebook))


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


# A line as Python's warnings module prints it ("/abs/path/file.py:12: UserWarning: text"), and
# the source line it quotes after it.
WARNING_LINE = re.compile(r"^[^\n]*\.py:\d+: \w*Warning: [^\n]*\n(?:  [^\n]*\n)?", re.M)


def drop_library_warnings(notebook):
    """Remove warnings printed by libraries from the outputs, and local folders from the rest.

    A page should show the section's own words, not a library's warning with the absolute
    path of the file that raised it; a warning that teaches is printed by the section itself.
    Paths inside the repository are shown relative to it, the home folder as ``~``.
    """
    home = str(Path.home())
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = _hide_local_paths(WARNING_LINE.sub("", output.text), home)
                if not output.text.strip():
                    continue
            elif "text/plain" in output.get("data", {}):
                output.data["text/plain"] = _hide_local_paths(output.data["text/plain"], home)
            kept.append(output)
        cell.outputs = kept
    return notebook


def _hide_local_paths(text: str, home: str) -> str:
    """``text`` with the repository's folder dropped and the home folder written ``~``."""
    text = text.replace(str(REPO_ROOT) + os.sep, "").replace(str(REPO_ROOT), ".")
    return text.replace(home + os.sep, "~" + os.sep) if home not in ("", os.sep) else text


def figures_in(notebook) -> int:
    """How many PNG figures the notebook's outputs hold."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


# nbconvert's lab template without what it fetches from a CDN: require.js, MathJax (the math is
# MathML already), mermaid and the widgets' manager.
BOOK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
# Cells a page leaves out: the plumbing cell and the settings a build injected (the banner says
# when they were quick ones).
HIDDEN_TAGS = {"remove-cell", "injected-parameters"}
THUMBNAIL_WIDTH = 360  # pixels


def build_book(notebooks: list[Path], out_dir: Path) -> Path:
    """Render executed notebooks to HTML pages and an index in their order; return the index.

    Every page is one self-contained file (figures embedded, math as MathML, no script or style
    from the network) with links to the previous and next sections at its top and bottom. A
    page executed with ``quick`` carries a banner saying so. The index lists each section with
    its one-line summary and a thumbnail of its main figure (the first figure of a cell tagged
    ``main-figure``, or else its first figure).
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"book.html.j2": BOOK_TEMPLATE})],
        template_file="book.html.j2",
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=HIDDEN_TAGS, enabled=True), enabled=True
    )
    pages = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        first = next((c.source for c in notebook.cells if c.cell_type == "markdown"), "")
        title, summary = title_and_summary(first)
        quick = bool(notebook.metadata.get("gdl_pyro", {}).get("parameters", {}).get("quick"))
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = latex_to_mathml(cell.source)
        pages.append(
            {
                "stem": path.stem,
                "file": f"{path.stem}.html",
                "title": title or path.stem,
                "summary": summary,
                "quick": quick,
                "thumbnail": _thumbnail(notebook),
                "notebook": notebook,
            }
        )
    from gdl_pyro.exercises._page import solutions_page

    solutions = solutions_page(
        [(page["stem"], page["title"], page["file"]) for page in pages], _SOLUTIONS_NAV
    )
    for page in pages:
        anchor = page["stem"][:3]
        has_exercises = solutions is not None and f'id="{anchor}"' in solutions
        page["solutions"] = f"{SOLUTIONS}#{anchor}" if has_exercises else None
    for i, page in enumerate(pages):
        before = pages[i - 1] if i > 0 else None
        after = pages[i + 1] if i + 1 < len(pages) else None
        body, _ = exporter.from_notebook_node(
            page["notebook"], resources={"metadata": {"name": page["title"]}}
        )
        nav = _navigation(page, before, after)
        banner = QUICK_BANNER if page["quick"] else ""
        opening = re.search(r"<body[^>]*>", body).end()
        body = body[:opening] + nav + banner + body[opening:]
        body = body.replace("</body>", nav + "</body>", 1)
        (out_dir / page["file"]).write_text(body)
    items = "\n".join(
        '<li><a href="{file}">{img}<span class="id">{id}</span> {title}</a>'
        '<p class="summary">{summary}</p></li>'.format(
            file=page["file"],
            img=(
                f'<img src="data:image/png;base64,{page["thumbnail"]}" alt="">'
                if page["thumbnail"]
                else ""
            ),
            id=page["stem"][:3],
            title=html.escape(page["title"]),
            summary=html.escape(page["summary"]),
        )
        for page in pages
    )
    if solutions is not None:
        (out_dir / SOLUTIONS).write_text(solutions)
        items += (
            f'\n<li><a href="{SOLUTIONS}"><span class="id">&#10003;</span> Solutions to the '
            'exercises</a><p class="summary">A reference solution for every exercise of these '
            "sections, on a page of its own.</p></li>"
        )
    banner = QUICK_BANNER if any(page["quick"] for page in pages) else ""
    index = out_dir / "index.html"
    index.write_text(INDEX.format(items=items, banner=banner))
    return index


def latex_to_mathml(markdown: str) -> str:
    """Markdown with its ``$$...$$`` and ``$...$`` LaTeX as MathML, code spans left alone.

    Raises ValueError naming the formula when latex2mathml does not know one of its commands
    (it would otherwise print the command as text), and on a ``$`` left unpaired, such as an
    inline formula wrapped across two lines (it would show as raw LaTeX).
    """
    from latex2mathml.converter import convert

    def to_mathml(match: re.Match) -> str:
        display = match.group(1) is not None
        latex = match.group(1) if display else match.group(2)
        mathml = convert(latex.strip(), display="block" if display else "inline")
        if "\\" in mathml:
            raise ValueError(f"latex2mathml cannot render {latex.strip()!r}")
        return mathml

    parts = re.split(r"(```.*?```|`[^`\n]*`)", markdown, flags=re.S)
    math = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$", re.S)
    converted = [part if i % 2 else math.sub(to_mathml, part) for i, part in enumerate(parts)]
    for i, part in enumerate(converted):
        left = re.search(r"(?<!\\)\$[^\n]*", part) if i % 2 == 0 else None
        if left:  # an inline formula wrapped across lines: it would show as raw LaTeX
            raise ValueError(f"an unpaired $ (an inline formula split across lines?): {left[0]!r}")
    return "".join(converted)


def _thumbnail(notebook) -> str:
    """The main figure as a base64 PNG ``THUMBNAIL_WIDTH`` pixels wide, or "" if none."""
    from PIL import Image

    figures = [
        (("main-figure" in cell.metadata.get("tags", [])), output["data"]["image/png"])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    if not figures:
        return ""
    data = next((png for tagged, png in figures if tagged), figures[0][1])
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def _navigation(page: dict, before: dict | None, after: dict | None) -> str:
    """The chapter's links: back to the index, and to the previous and next sections."""

    def link(target, arrow):
        if target is None:
            return "<span></span>"
        label = f"{target['stem'][:3]} {html.escape(target['title'])}"
        return f'<a href="{target["file"]}">{arrow} {label}</a>'

    solutions = (
        f' &middot; <a href="{page["solutions"]}">Solutions</a>' if page.get("solutions") else ""
    )
    return (
        '<nav class="book-nav" style="font-family: sans-serif; padding: 0.6em 1em; '
        "display: flex; justify-content: space-between; gap: 1em; border-bottom: 1px solid "
        '#ddd; border-top: 1px solid #ddd">'
        f"{link(before, '&larr;')}"
        f'<span><a href="index.html">Chapter 1: Generative Modeling</a>{solutions}</span>'
        f"{link(after, '&rarr;')}</nav>"
    )


SOLUTIONS = "solutions.html"
_SOLUTIONS_NAV = (
    '<nav class="book-nav" style="padding: 0.6em 0; border-bottom: 1px solid #ddd">'
    '<a href="index.html">Chapter 1: Generative Modeling</a></nav>'
)

QUICK_BANNER = (
    '<div class="quick-banner" style="font-family: sans-serif; background: #fff3cd; '
    'border: 1px solid #e0c060; padding: 0.6em 1em; margin: 0.6em 1em">'
    "<strong>Quick build.</strong> This page ran with <code>quick = True</code>: small sizes "
    "that take seconds. Its tables, printed numbers and figures are this quick run's; numbers "
    "quoted in the text are the full run's (<code>make book</code> without QUICK, or "
    "<code>make ch01</code>), so the two can differ.</div>"
)

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gdl-pyro: Chapter 1, Generative Modeling</title>
<style>
body {{ font-family: sans-serif; max-width: 50em; margin: 3em auto; line-height: 1.5;
       color: #222; padding: 0 1em; }}
ol {{ padding: 0; }}
li {{ margin: 1.2em 0; list-style: none; overflow: hidden; }}
li img {{ float: left; width: 180px; margin-right: 1em; border: 1px solid #ddd; }}
a {{ color: #1f5fa8; text-decoration: none; font-size: 1.1em; }}
a:hover {{ text-decoration: underline; }}
.id {{ color: #888; font-family: monospace; margin-right: 0.5em; }}
.summary {{ margin: 0.3em 0; color: #444; }}
</style>
</head>
<body>
{banner}
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
    run.add_argument(
        "sections", nargs="*", help="section names (default: all), e.g. s01_hello_world"
    )
    book = commands.add_parser("book", help="render executed notebooks as a static site")
    book.add_argument("--notebooks", type=Path, default=REPO_ROOT / "outputs" / "notebooks")
    book.add_argument("--out-dir", type=Path, default=REPO_ROOT / "outputs" / "book")
    book.add_argument("sections", nargs="*", help="section names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "execute":
        import nbformat

        args.out_dir.mkdir(parents=True, exist_ok=True)
        chosen = [p for p in sections() if not args.sections or p.stem in args.sections]
        unknown = set(args.sections) - {p.stem for p in chosen}
        if unknown:
            parser.error(f"no such section: {', '.join(sorted(unknown))}")
        for path in chosen:
            print(f"== {path.stem}{' (quick)' if args.quick else ''}", flush=True)
            # The build's own results: never make ch01's outputs/ch01/<section>.
            parameters = {"quick": args.quick, "out_dir": str(args.out_dir / path.stem)}
            notebook = execute_section(path, parameters, timeout=args.timeout)
            nbformat.write(notebook, args.out_dir / f"{path.stem}.ipynb")
        print(f"executed notebooks in {args.out_dir}")
    else:
        notebooks = [
            args.notebooks / f"{path.stem}.ipynb"
            for path in sections()
            if not args.sections or path.stem in args.sections
        ]
        missing = [str(p) for p in notebooks if not p.exists()]
        if missing:
            raise SystemExit(f"run `make notebooks` first; missing: {', '.join(missing)}")
        print(f"open {build_book(notebooks, args.out_dir)}")


if __name__ == "__main__":
    main()
