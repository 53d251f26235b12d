"""The public API is documented: every name of ``graphad.__all__`` (and of
``graphad.printing.__all__``) has a docstring with a runnable example.

The examples themselves run as doctests (``--doctest-modules``, pyproject.toml); these
tests check that they exist, that the doctest run collects them, and that ``__all__``
names every public attribute, so a new public name without an entry or an example
fails here.
"""

from __future__ import annotations

import doctest
import sys
import types

import pytest

import graphad as ga

# subpackages that are part of the user API: ga.printing.write_graph(...), ga.nnet
# (Theano's namespace of the neural-net functions), and ga.tensor, which is also the
# constructor ga.tensor("x", shape=(None, 3))
USER_SUBPACKAGES = {"nnet", "printing", "tensor"}

# public names whose examples belong in files outside this change; each xfails (strict:
# once the example is there, the test passes and the entry must go)
MISSING_EXAMPLES: dict = {}  # name -> its file, while an example is being written


def _public(module):
    """The public non-module attributes of ``module``."""
    return {
        n
        for n in dir(module)
        if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)
    }


def _params(names, missing=()):
    marks = {
        n: pytest.mark.xfail(strict=True, reason=f"no example yet: add one in {missing[n]}")
        for n in missing
    }
    return [pytest.param(n, id=n, marks=marks.get(n, ())) for n in names]


def test_all_has_no_duplicates():
    assert len(ga.__all__) == len(set(ga.__all__))
    assert len(ga.printing.__all__) == len(set(ga.printing.__all__))


def test_all_names_every_public_attribute():
    names = set(ga.__all__)
    assert not _public(ga) - names, "public names missing from graphad.__all__"
    modules = {n for n in names if isinstance(getattr(ga, n, None), types.ModuleType)}
    assert modules == USER_SUBPACKAGES, "only the user-facing subpackages belong in __all__"
    assert not names - _public(ga) - modules, "graphad.__all__ names what graphad lacks"


def test_printing_all_names_every_public_function():
    assert set(ga.printing.__all__) == _public(ga.printing)


@pytest.mark.parametrize("name", _params(sorted(set(ga.__all__)), MISSING_EXAMPLES))
def test_public_name_has_an_example(name):
    obj = getattr(ga, name)
    doc = obj.__doc__ or ""
    if isinstance(obj, types.ModuleType):
        assert doc.strip(), f"ga.{name} has no module docstring"
    else:
        assert ">>>" in doc, f"the docstring of ga.{name} has no >>> example"


@pytest.mark.parametrize("name", _params(sorted(set(ga.printing.__all__))))
def test_printing_name_has_an_example(name):
    assert ">>>" in (getattr(ga.printing, name).__doc__ or "")


def _collected_docstrings():
    """The docstrings with examples that ``--doctest-modules`` runs, over every
    graphad module imported now."""
    finder = doctest.DocTestFinder()
    docs = set()
    for mod_name, module in list(sys.modules.items()):
        if mod_name == "graphad" or mod_name.startswith("graphad."):
            docs.update(t.docstring for t in finder.find(module) if t.examples)
    return docs


def test_examples_run_as_doctests():
    """Each example is collected by the doctest run of the module defining the object
    (not, e.g., an object whose ``__module__`` points elsewhere)."""
    docs = _collected_docstrings()
    skipped = set(MISSING_EXAMPLES) | USER_SUBPACKAGES
    objects = [getattr(ga, n) for n in ga.__all__ if n not in skipped]
    objects += [getattr(ga.printing, n) for n in ga.printing.__all__]
    objects.append(ga.tensor)  # its module docstring has an example too
    lost = [o for o in objects if o.__doc__ not in docs]
    assert not lost, f"examples the doctest run does not collect: {lost}"
