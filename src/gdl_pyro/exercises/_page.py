"""The book's page of reference solutions: each exercise's title and its solution's source."""

import html
import inspect
import textwrap

from gdl_pyro.exercises._core import REGISTRY

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gdl-pyro: solutions to the exercises of Chapter 1</title>
<style>
body {{ font-family: sans-serif; max-width: 52em; margin: 2em auto; line-height: 1.5;
       color: #222; padding: 0 1em; }}
h2 {{ margin-top: 2em; border-bottom: 1px solid #ddd; }}
.id {{ color: #888; font-family: monospace; margin-right: 0.5em; }}
pre {{ background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.9em;
      line-height: 1.35; }}
a {{ color: #1f5fa8; text-decoration: none; }}
</style>
</head>
<body>
{nav}
<h1>Solutions to the exercises</h1>
<p>One reference solution for each exercise, as <code>gdl_pyro.exercises.solution(id)</code>
returns it. A check judges an answer by what it achieves (its held-out gap, its integral over the
map, its trace), so any answer that passes is as right as these. Try the exercise first: the
check's message says what your answer measured.</p>
{sections}
{nav}
</body>
</html>
"""


def _highlighted(obj) -> str:
    """The source of ``obj`` as self-contained highlighted HTML (inline styles)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    source = textwrap.dedent(inspect.getsource(obj)).rstrip()
    return highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=False))


def solutions_page(pages: list[tuple[str, str, str]], nav: str = "") -> str | None:
    """The solutions of the exercises of ``pages`` [(stem, title, file)], or None if none has any.

    ``nav`` is the book's navigation bar, placed at the top and the bottom.
    """
    from gdl_pyro.exercises import ids, solution

    parts = []
    for stem, title, file in pages:
        section = stem[:3]
        chosen = [id for id in ids() if REGISTRY[id].section == section]
        if not chosen:
            continue
        parts.append(
            f'<h2 id="{section}"><span class="id">{section}</span>'
            f'<a href="{file}">{html.escape(title)}</a></h2>'
        )
        for id in chosen:
            parts.append(
                f'<h3 id="{id}"><span class="id">{id}</span>{html.escape(REGISTRY[id].title)}</h3>'
            )
            parts.append(_highlighted(solution(id)))
    if not parts:
        return None
    return PAGE.format(nav=nav, sections="\n".join(parts))
