"""Variable, Constant and Apply: the nodes of every graphad graph.

An ``Apply`` is one use of an ``Op`` on input variables; it owns its output variables.
Each Apply records where the user built it (file and line of the first stack frame
outside graphad), so errors and dumps can point at the user's code.

Variables and Apply nodes pickle flat: the nodes a pickled one depends on are written
one after another in topological order, each naming its inputs by the nodes written
before it, so a chain of 100,000 nodes pickles without deep recursion (pickle's default
walk goes through ``owner`` and ``inputs``, one level of recursion per node).
"""

from __future__ import annotations

import itertools
import os
import sys
import weakref
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

    def __reduce_ex__(self, protocol):
        if self.owner is None:  # a leaf: pickle's default (or a subclass's __reduce__)
            return super().__reduce_ex__(protocol)
        return (_output_of, (_pickle_order(self.owner), _record(self.owner), self.index))

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

    def __reduce_ex__(self, protocol):
        return (_node_of, (_pickle_order(self), _record(self)))

    def __repr__(self) -> str:
        return f"Apply({self.op}, inputs={self.inputs}, outputs={self.outputs})"


# --- pickling ------------------------------------------------------------------------------
#
# A pickled variable with an owner (or a pickled Apply) is written as the records of the
# nodes it depends on, in topological order, then a reference to its own. A record
# writes its node's op, attributes and output variables, and names each input either
# as a leaf variable (pickled as usual) or as (record of the owner, output index). The
# owner's record was written before, so pickle writes a back-reference, not a nested
# graph: the recursion depth stays constant. Records are kept per node (weakly), so
# two variables of one graph pickled together share their nodes after loading, as they
# did before pickling; ``copy.deepcopy`` goes the same flat way.

_records: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _NodeRecord:
    """What pickle writes for one Apply node in the flat form (see above)."""

    __slots__ = ("node", "__weakref__")

    def __init__(self, node):
        self.node = weakref.ref(node)

    def __reduce__(self):
        node = self.node()
        inputs = [v if v.owner is None else (_record(v.owner), v.index) for v in node.inputs]
        outputs = [(type(v), _state(v, "owner")) for v in node.outputs]
        return (_make_node, (_state(node, "inputs", "outputs"), inputs, outputs))


def _record(node) -> _NodeRecord:
    # setdefault: two threads pickling one graph still get one record per node
    return _records.get(node) or _records.setdefault(node, _NodeRecord(node))


def _state(obj, *skip) -> dict:
    state = obj.__dict__.copy()
    for key in skip:
        del state[key]
    return state


def inputs_first(outputs, stop=frozenset()) -> list:
    """The Apply nodes ``outputs`` depend on (not through a variable in ``stop``), each
    after the owners of its inputs: traversal.toposort's walk, without recursion."""
    order, done = [], set()
    # Each stack entry is (node, expanded?): a node is emitted on its second visit.
    stack = [
        (v.owner, False) for v in reversed(list(outputs)) if v.owner is not None and v not in stop
    ]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        for inp in reversed(node.inputs):
            if inp.owner is not None and inp not in stop and inp.owner not in done:
                stack.append((inp.owner, False))
    return order


def _pickle_order(node) -> tuple:
    """The records of ``node`` and of every node it depends on, inputs first."""
    return tuple(_record(n) for n in inputs_first(node.outputs))


def _make_node(state, inputs, outputs):
    node = Apply.__new__(Apply)  # not __init__: it would record the loader's line
    node.__dict__.update(state)
    node.inputs = [v if isinstance(v, Variable) else v[0].outputs[v[1]] for v in inputs]
    node.outputs = []
    for index, (cls, var_state) in enumerate(outputs):
        var = cls.__new__(cls)
        var.__dict__.update(var_state)
        var.owner, var.index = node, index
        node.outputs.append(var)
    return node


def _node_of(order, node):
    """The loaded ``node`` (``order`` loaded its graph); under ``copy.copy``, which
    hands over the records themselves, a shallow copy of the node as before."""
    if isinstance(node, _NodeRecord):
        return _shallow_copy(node.node())
    return node


def _output_of(order, node, index):
    """Output ``index`` of the loaded ``node``; see ``_node_of``."""
    if isinstance(node, _NodeRecord):
        return _shallow_copy(node.node().outputs[index])
    return node.outputs[index]


def _shallow_copy(obj):
    copy = obj.__class__.__new__(obj.__class__)
    copy.__dict__.update(obj.__dict__)
    return copy


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
