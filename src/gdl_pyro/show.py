"""Show a reader the Pyro program behind a fit: its source, its trace's shapes, its plates.

Sections call these so that the notebook (and the book made from it) shows the library's own
code and structure, taken at run time rather than pasted, so what the page shows is what runs:

- ``source(obj, ...)``: the source of functions or classes (``inspect.getsource``). A notebook
  renders it as a highlighted Python block; ``str()`` and ``print`` give the plain text.
- ``trace_shapes(model, *args, **kwargs)``: Pyro's own table of every site's batch and event
  shapes (``Trace.format_shapes``), with the plates each site sits in.
- ``plate_diagram(model, *args, **kwargs)``: the model's graph as a matplotlib Figure: latent
  sites as circles, observed ones shaded, ``pyro.param`` values as small squares, plates as
  boxes labelled with their size (a network's weights, from ``pyro.module``, are left out).
  It is drawn from Pyro's own ``get_model_relations`` (what
  ``pyro.render_model`` draws), with matplotlib rather than Graphviz: ``render_model`` needs
  Graphviz's ``dot`` program, which pip cannot install, so a learner would have to install it
  by hand.

``source`` and ``trace_shapes`` return their text for a notebook to show as the cell's value;
run as a script, where an expression's value is discarded, they also print it (plain), unless
``quiet=True``, so that a reader at a terminal sees the same programs.

Each runs the model once, sealed (``gdl_pyro._sealed``), in a param store of its own and on an
RNG of its own: the caller's param store, RNG and Pyro program are left as they were.
"""

import inspect
import textwrap
from collections.abc import Callable

import matplotlib.figure
import torch
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle
from pyro import poutine
from pyro.infer.inspect import generate_graph_specification, get_model_relations

from gdl_pyro._sealed import sealed
from gdl_pyro._state import ParamState, seeded
from gdl_pyro.scripting import in_kernel

__all__ = ["Source", "Text", "plate_diagram", "source", "trace_shapes"]


class Text(str):
    """A str that a notebook shows as it is (not as a quoted repr)."""

    def __repr__(self) -> str:
        return str(self)


class Source(Text):
    """Python source: highlighted in a notebook (a Markdown code block), plain text elsewhere."""

    def _repr_markdown_(self) -> str:
        return f"```python\n{self}\n```"


def _in_ipython() -> bool:
    """Whether a notebook shows a cell's value itself: chapter_args' own rule."""
    return in_kernel()


def _shown(text: Text, quiet: bool) -> Text:
    """``text``, printed first outside IPython unless ``quiet``: a script drops a cell's value."""
    if not quiet and not _in_ipython():
        print(text, end="\n\n")
    return text


def source(*objs, quiet: bool = False) -> Source:
    """The source of functions, methods or classes, as the library defines them now.

    Parameters
    ----------
    *objs : function, method or class
        One or more; their sources are joined by a blank line.
    quiet : bool
        Outside IPython the source is printed as plain text, unless this is True.

    Returns
    -------
    Source
        A str; a notebook shows it as a highlighted Python block.
    """
    if not objs:
        raise ValueError("source needs at least one function or class")
    text = "\n\n".join(textwrap.dedent(inspect.getsource(obj)).rstrip() for obj in objs)
    return _shown(Source(text), quiet)


def _run(function: Callable, *args, **kwargs):
    """Call ``function`` sealed, in a param store and on an RNG of its own, without gradients."""
    with sealed(), ParamState().active(), seeded(0), torch.no_grad():
        return function(*args, **kwargs)


def trace_shapes(model: Callable, *args, quiet: bool = False, **kwargs) -> Text:
    """Pyro's table of the model's sites: distribution, value and log-density shapes.

    Parameters
    ----------
    model : callable
        A Pyro model (or guide); run once on ``*args, **kwargs``.
    quiet : bool
        Outside IPython the table is printed, unless this is True (not passed to the model).

    Returns
    -------
    Text
        ``poutine.trace(model).get_trace(...).format_shapes()``.
    """
    trace = _run(lambda: poutine.trace(model).get_trace(*args, **kwargs))
    return _shown(Text(trace.format_shapes()), quiet)


def _plate_sizes(model: Callable, args, kwargs) -> dict[str, int]:
    trace = _run(lambda: poutine.trace(model).get_trace(*args, **kwargs))
    sizes = {}
    for site in trace.nodes.values():
        for frame in site.get("cond_indep_stack", ()):
            sizes[frame.name] = frame.size
    return sizes


def _layout(nodes: list[str], edges, groups: dict[str, tuple[str, ...]]):
    """(x, y) of each node: x its depth along the edges, y a row within its band of plates."""
    depth = dict.fromkeys(nodes, 0)
    for _ in nodes:  # longest path from a root; the graph is acyclic
        for parent, child in edges:
            depth[child] = max(depth[child], depth[parent] + 1)
    bands = sorted(set(groups.values()), key=lambda key: (len(key), key))
    positions, top = {}, 0.0
    for band in bands:
        members = [node for node in nodes if groups[node] == band]
        rows = {}
        for node in members:
            rows.setdefault(depth[node], []).append(node)
        height = max(len(column) for column in rows.values())
        for column, names in rows.items():
            for row, name in enumerate(names):
                positions[name] = (1.6 * column, -(top + 1.2 * row))
        top += 1.2 * height + 0.5 * (len(band) > 0) + 0.3
    return positions


def plate_diagram(model: Callable, *args, title: str | None = None, **kwargs):
    """The model's plate diagram, drawn with matplotlib from Pyro's model relations.

    Parameters
    ----------
    model : callable
        A Pyro model, run once (sealed) on ``*args, **kwargs``.
    title : str, optional
        The axes' title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    relations = _run(get_model_relations, model, args, kwargs)
    spec = generate_graph_specification(relations, render_params=True)
    # A network's weights (pyro.module's "name$$$layer.weight") are not drawn one by one.
    networks = {node for node in spec["node_data"] if "$$$" in node}
    spec["node_data"] = {n: d for n, d in spec["node_data"].items() if n not in networks}
    spec["edge_list"] = [edge for edge in spec["edge_list"] if not networks & set(edge)]
    sizes = _plate_sizes(model, args, kwargs)
    nodes = list(spec["node_data"])
    plates_of = {node: () for node in nodes}
    for plate, members in spec["plate_groups"].items():
        for node in members:
            if plate is not None and node in plates_of:
                plates_of[node] += (plate,)
    groups = {node: tuple(sorted(plates)) for node, plates in plates_of.items()}
    positions = _layout(nodes, spec["edge_list"], groups)

    figure = matplotlib.figure.Figure(
        figsize=(1.0 + 1.6 * _columns(positions), 0.5 + _rows(positions))
    )
    ax = figure.add_subplot()
    radius = 0.42
    for plate in sorted({p for ps in plates_of.values() for p in ps}):
        inside = [positions[node] for node in nodes if plate in plates_of[node]]
        nesting = 0.55 - 0.1 * min(len(groups[n]) for n in nodes if plate in plates_of[n])
        x0 = min(x for x, _ in inside) - nesting
        y0 = min(y for _, y in inside) - nesting - 0.45  # room for a distribution's name
        width = max(x for x, _ in inside) - x0 + nesting
        height = max(y for _, y in inside) - y0 + nesting
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                width,
                height,
                boxstyle="round,pad=0,rounding_size=0.08",
                fill=False,
                lw=1.0,
            )
        )
        label = f"{plate}  ({sizes[plate]})" if plate in sizes else plate
        ax.text(x0 + width - 0.05, y0 + 0.05, label, ha="right", va="bottom", fontsize=8)
    for parent, child in spec["edge_list"]:
        (x1, y1), (x2, y2) = positions[parent], positions[child]
        length = max(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 1e-9)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        ax.annotate(
            "",
            xy=(x2 - radius * ux, y2 - radius * uy),
            xytext=(x1 + radius * ux, y1 + radius * uy),
            arrowprops={"arrowstyle": "-|>", "lw": 0.9, "color": "0.2"},
        )
    for node in nodes:
        x, y = positions[node]
        data = spec["node_data"][node]
        if data["distribution"] is None:  # a pyro.param: a point value, no distribution
            side = 0.4
            ax.add_patch(Rectangle((x - side / 2, y - side / 2), side, side, fc="white", ec="k"))
            ax.text(x, y - 0.32, node, ha="center", va="top", fontsize=8)
            continue
        shade = "0.8" if data["is_observed"] else "white"
        ax.add_patch(Circle((x, y), radius, fc=shade, ec="k", lw=1.0))
        # The site's name inside the circle, its distribution's under it: both readable.
        ax.text(x, y, node, ha="center", va="center", fontsize=8 if len(node) <= 8 else 6.5)
        name = data["distribution"]
        ax.text(x, y - radius - 0.06, name, ha="center", va="top", fontsize=7, style="italic")
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 1.25, max(ys) + 0.7)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return figure


def _columns(positions) -> float:
    xs = [x for x, _ in positions.values()]
    return (max(xs) - min(xs)) / 1.6 + 1


def _rows(positions) -> float:
    ys = [y for _, y in positions.values()]
    return max(ys) - min(ys) + 1.5
