"""``write_graph(x, path)``: a graph dump in the format the file's extension names.

``.txt`` (dprint's text), ``.dot`` (DOT text), ``.json`` (networkx node-link data),
``.html`` (the self-contained interactive view), and ``.svg``, ``.png``, ``.pdf`` drawn
by Graphviz's ``dot`` program, which must be installed (MissingToolError says how).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ..errors import GraphadValueError, KernelError, MissingToolError

FORMATS = ("txt", "dot", "json", "html", "svg", "png", "pdf")

INSTALL_GRAPHVIZ = (
    "install Graphviz: apt-get install graphviz (Debian, Ubuntu), brew install graphviz "
    "(macOS), conda install graphviz; or write a .html, .dot or .json dump, which need "
    "no Graphviz"
)


def write_graph(obj, path, format=None) -> str:
    """Write the graph of ``obj`` (a variable, a list of them, a FunctionGraph or a
    compiled Function) to ``path`` and return the path; ``format`` overrides the
    extension.

    >>> import os, tempfile
    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> path = os.path.join(tempfile.mkdtemp(), "g.html")
    >>> _ = ga.printing.write_graph(ga.exp(x) + 1, path)
    >>> "Elemwise{exp}" in open(path).read()
    True
    """
    from .dprint import dprint
    from .export import to_dot, to_json
    from .page import to_html

    text_formats = {
        "txt": lambda: dprint(obj, file=False),
        "dot": lambda: to_dot(obj),
        "json": lambda: to_json(obj),
        "html": lambda: to_html(obj, title=os.path.basename(path)),
    }

    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if fmt not in FORMATS:
        raise GraphadValueError(
            f"write_graph cannot tell the format of {path!r}: give the file one of the "
            f"extensions {', '.join('.' + f for f in FORMATS)} (or pass format=...)"
        )
    if fmt in text_formats:
        text = text_formats[fmt]()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path
    run_dot(to_dot(obj), fmt, path)
    return path


def dot_program() -> str:
    """The path of Graphviz's ``dot``; MissingToolError with the install command."""
    found = shutil.which("dot")
    if found is None:
        raise MissingToolError(f"Graphviz's dot program was not found on PATH; {INSTALL_GRAPHVIZ}")
    return found


def run_dot(text, fmt, path):
    """Draw DOT ``text`` into ``path`` in format ``fmt`` with Graphviz's ``dot``."""
    proc = subprocess.run(
        [dot_program(), f"-T{fmt}", "-o", path], input=text.encode(), capture_output=True
    )
    if proc.returncode != 0:
        raise KernelError(
            f"Graphviz's dot failed to draw {path!r} (exit status {proc.returncode}):\n"
            f"{proc.stderr.decode(errors='replace')[-2000:]}"
        )
