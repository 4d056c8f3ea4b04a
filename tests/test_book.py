"""The book: offline pages (no network resource, math as MathML), navigation, a quick banner,
no library warnings or local paths, and builds that never touch make ch01's outputs/ch01."""

import hashlib
import html.parser
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from gdl_pyro import notebooks
from gdl_pyro.scripting import REPO_ROOT

# A resource the browser fetches: src (img, script, iframe...), a stylesheet's href, an object's
# data, CSS url() and @import, a module script's import.
NETWORK = re.compile(r"^\s*(https?:)?//", re.I)
CSS_NETWORK = re.compile(r"""(url\(\s*['"]?|@import\s+['"]?)(https?:)?//""", re.I)
JS_NETWORK = re.compile(r"""(from|import)\s*\(?\s*['"](https?:)?//""", re.I)


class Resources(html.parser.HTMLParser):
    """Every network resource a page would load."""

    def __init__(self):
        super().__init__()
        self.found, self._in = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "data", "poster", "srcset"):
            if attrs.get(name) and NETWORK.match(attrs[name]):
                self.found.append(f"<{tag} {name}={attrs[name]}>")
        if tag == "link" and attrs.get("href") and NETWORK.match(attrs["href"]):
            self.found.append(f"<link href={attrs['href']}>")
        if attrs.get("style") and CSS_NETWORK.search(attrs["style"]):
            self.found.append(f"<{tag} style>")
        self._in = tag

    def handle_data(self, data):
        if self._in == "style" and CSS_NETWORK.search(data):
            self.found.append("<style> url()")
        if self._in == "script" and JS_NETWORK.search(data):
            self.found.append("<script> import")


def network_resources(page: str) -> list[str]:
    parser = Resources()
    parser.feed(page)
    return parser.found


def test_the_resource_finder_finds_what_nbconvert_loads_by_default():
    page = (
        '<script src="https://cdnjs.cloudflare.com/require.js"></script>'
        '<script type="module">import m from "https://cdn/mermaid.mjs"</script>'
        '<link rel="stylesheet" href="//fonts/x.css"><style>@import "https://x/y.css";</style>'
        '<a href="https://example.org">a link is not a resource</a>'
        '<math xmlns="http://www.w3.org/1998/Math/MathML"></math>'
    )
    assert len(network_resources(page)) == 4


def section_notebook(quick: bool):
    """A small executed-looking notebook with the cells and outputs a section has."""
    new = nbformat.v4
    warning = (
        f"{REPO_ROOT}/.venv/lib/python3.11/site-packages/arviz/stats.py:797: UserWarning: "
        "Estimated shape parameter of Pareto distribution is greater than 0.70\n"
        "  warnings.warn(\n"
    )
    code = new.new_code_cell("fit()")
    code.outputs = [
        new.new_output("stream", name="stderr", text=warning),
        new.new_output("stream", name="stdout", text=f"figures in {REPO_ROOT}/outputs/x\n"),
    ]
    notebook = new.new_notebook(
        cells=[
            new.new_markdown_cell("# A section\n\nWhat it does, in one line.\n\n*Book: none.*"),
            new.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
            new.new_code_cell("quick = True", metadata={"tags": ["injected-parameters"]}),
            new.new_code_cell("args = chapter_args()", metadata={"tags": ["remove-cell"]}),
            new.new_markdown_cell(r"The gap is $\mathrm{KL}(p \,\|\, q)$ and $$\hat\theta = 1$$"),
            code,
        ]
    )
    notebook.metadata["gdl_pyro"] = {"parameters": {"quick": quick}}
    return notebooks.drop_library_warnings(notebook)


def test_library_warnings_and_local_paths_leave_the_outputs():
    notebook = section_notebook(quick=False)
    outputs = notebook.cells[-1].outputs
    assert [o.name for o in outputs] == ["stdout"], "the library's warning is dropped"
    assert outputs[0].text == "figures in outputs/x\n"


def test_latex_becomes_mathml_and_code_is_left_alone():
    converted = notebooks.latex_to_mathml(r"a $x_i$ b `$not math$` c $$\sum_i x_i$$")
    assert converted.count("<math") == 2 and 'display="block"' in converted
    assert "`$not math$`" in converted
    with pytest.raises(ValueError, match="cannot render"):
        notebooks.latex_to_mathml(r"$\notacommand x$")
    with pytest.raises(ValueError, match="unpaired"):  # raw LaTeX on the page otherwise
        notebooks.latex_to_mathml("since $p(x) = a\\,\nb$, points")


@pytest.mark.parametrize("path", notebooks.sections(), ids=lambda p: p.stem)
def test_every_equation_of_the_sections_renders(path):
    import jupytext

    for cell in jupytext.read(path).cells:
        if cell.cell_type == "markdown":
            notebooks.latex_to_mathml(cell.source)  # raises on a formula it cannot render


def build(tmp_path, quick: bool) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for stem in ("s01_a", "s02_b", "s03_c"):
        nbformat.write(section_notebook(quick), folder / f"{stem}.ipynb")
    return notebooks.build_book(sorted(folder.glob("*.ipynb")), tmp_path / "book")


# Converts notebooks with nbconvert (seconds, most of them importing it): the slow loop.
@pytest.mark.slow
def test_pages_link_to_their_neighbours_and_load_nothing_from_the_network(tmp_path):
    index = build(tmp_path, quick=False)
    pages = {p.stem: p.read_text() for p in index.parent.glob("*.html")}
    assert set(pages) == {"index", "s01_a", "s02_b", "s03_c", "solutions"}
    for name, page in pages.items():
        assert network_resources(page) == [], name
        assert "quick-banner" not in page
        assert str(REPO_ROOT) not in page and "Warning" not in page
    middle = pages["s02_b"]
    assert middle.count('href="s01_a.html"') == 2 and middle.count('href="s03_c.html"') == 2
    assert "<math" in middle and "$" not in re.sub(r"<[^>]+>", "", middle.split("<body")[1])
    assert "chapter_args" not in middle and "injected-parameters" not in middle
    assert "What it does, in one line." in pages["index"]
    assert pages["index"].count("data:image/png;base64") == 0  # these notebooks have no figure
    # The solutions of the sections' exercises, on a page of their own, linked from the pages
    # of sections that have exercises (s01 has none).
    solutions = pages["solutions"]
    assert 'id="s02"' in solutions and 'id="s03"' in solutions and 'id="s01"' not in solutions
    assert 'id="s03.1"' in solutions and "def log_likelihood" in re.sub(r"<[^>]+>", "", solutions)
    assert 'href="solutions.html#s02"' in middle and "solutions.html" not in pages["s01_a"]
    assert 'href="solutions.html"' in pages["index"]


# Converts notebooks with nbconvert (seconds, most of them importing it): the slow loop.
@pytest.mark.slow
def test_a_quick_build_has_its_banner_on_every_page(tmp_path):
    index = build(tmp_path, quick=True)
    for page in index.parent.glob("*.html"):
        if page.stem != "solutions":  # the solutions ran nothing of this build
            assert "quick-banner" in page.read_text(), page.name


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its relative path, as a SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_make_book_writes_only_its_own_folders():
    commands = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "book", "QUICK=1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "outputs/notebooks" in commands and "outputs/book" in commands
    assert "outputs/ch01" not in commands


@pytest.mark.slow
def test_a_quick_make_book_leaves_outputs_ch01_byte_for_byte(tmp_path):
    ch01 = REPO_ROOT / "outputs" / "ch01"
    before = tree_digest(ch01) if ch01.exists() else None
    command = ["make", "-o", ".venv/.installed", "book", "QUICK=1", "SECTIONS=s01_hello_world"]
    command += [f"NOTEBOOKS={tmp_path / 'notebooks'}", f"BOOK={tmp_path / 'book'}"]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, timeout=900)
    after = tree_digest(ch01) if ch01.exists() else None
    assert after == before
    assert (tmp_path / "notebooks" / "s01_hello_world" / "results.json").exists()
    page = (tmp_path / "book" / "s01_hello_world.html").read_text()
    assert network_resources(page) == []
    assert "quick-banner" in page and "<math" in page
    assert str(REPO_ROOT) not in page
    assert "data:image/png;base64" in (tmp_path / "book" / "index.html").read_text()
