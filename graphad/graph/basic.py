"""Variable, Constant and Apply: the nodes of every graphad graph.

An ``Apply`` is one use of an ``Op`` on input variables; it owns its output variables.
Each Apply records where the user built it (file and line of the first stack frame
outside graphad), so errors and dumps can point at the user's code.
"""

from __future__ import annotations

import itertools
import os
import sys
from types import SimpleNamespace

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_ids = itertools.count()


class Type:
    """What a variable can hold. Subclasses define ``filter`` and ``variable_class``."""

    variable_class: type = None  # set by subclasses
    constant_class: type = None

    def make_variable(self, name=None):
        return self.variable_class(self, name=name)

    def filter(self, value, strict=False, allow_downcast=None):
        raise NotImplementedError


class Variable:
    """A symbolic value of a given ``Type``; ``owner`` is the Apply computing it (or None).

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> (x.name, x.owner)
    ('x', None)
    """

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = SimpleNamespace()
        self.auto_name = f"v{next(_ids)}"

    def clone(self):
        """A new variable of the same type and name with no owner."""
        cp = self.__class__.__new__(self.__class__)
        cp.__dict__.update(self.__dict__)
        cp.owner = None
        cp.index = None
        cp.tag = SimpleNamespace(**vars(self.tag))
        cp.auto_name = f"v{next(_ids)}"
        return cp

    def __repr__(self) -> str:
        return f"{self.name or self.auto_name}::{self.type}"

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return self.auto_name

    # identity semantics: variables live in dicts and sets
    __hash__ = object.__hash__


class Constant(Variable):
    """A variable with a fixed value ``data``; two equal constants merge."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = data

    def signature(self):
        """What identifies this constant's value (for merging and hashing)."""
        return (self.type, _data_key(self.data))

    def clone(self):
        cp = super().clone()
        cp.data = self.data
        return cp

    def __str__(self) -> str:
        if self.name:
            return self.name
        text = repr(self.data) if getattr(self.data, "size", 1) <= 8 else "<array>"
        return text.replace("\n", "")


def _data_key(data):
    try:
        import numpy as np

        arr = np.asarray(data)
        return (arr.dtype.str, arr.shape, arr.tobytes())
    except Exception:  # a non-array constant (e.g. a Python object) keys by identity
        return id(data)


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``.

    ``source`` is ``(filename, lineno)`` of the user's code that built the node, or
    None; rewrites copy it onto the nodes they create.
    """

    def __init__(self, op, inputs, outputs, source=None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            out.owner = self
            out.index = i
        self.source = source if source is not None else user_source()
        self.tag = SimpleNamespace()

    @property
    def out(self):
        """The only output (raises if the node has several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def nin(self) -> int:
        return len(self.inputs)

    def clone_with_new_inputs(self, inputs, strict=True):
        """A copy of this node on ``inputs``; outputs are fresh variables.

        With ``strict`` the input types must equal the old ones; otherwise the op's
        ``make_node`` rebuilds the node so the output types follow the new inputs.
        """
        inputs = list(inputs)
        same = all(a.type == b.type for a, b in zip(inputs, self.inputs))
        if strict or same:
            outs = [o.clone() for o in self.outputs]
            node = Apply(self.op, inputs, outs, self.source)
        else:
            node = self.op.make_node(*inputs)
            node.source = self.source
        node.tag = SimpleNamespace(**vars(self.tag))
        return node

    def __repr__(self) -> str:
        return f"Apply({self.op}, inputs={self.inputs}, outputs={self.outputs})"


def user_frame(depth=1):
    """(frame, level) of the innermost stack frame outside the graphad package, the
    search starting ``depth`` levels above the function calling ``user_frame`` (1: its
    caller); ``level`` counts the same way (a ``warnings.warn`` stacklevel from there).
    The frame is None when every frame is graphad's."""
    frame, level = sys._getframe(depth + 1), depth
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return frame, level


def user_source():
    """The (file, line) of the innermost stack frame outside the graphad package."""
    frame, _ = user_frame(1)
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


def format_source(source) -> str:
    """``"file.py:12"`` for a recorded source, or a phrase saying it is unknown."""
    if not source:
        return "<unknown location>"
    return f"{source[0]}:{source[1]}"
