"""Patterns over graphad graphs, with named captures.

A pattern is written as data:

- a string ``"x"`` captures any variable under the name ``x`` (a name used twice must
  capture the same variable both times);
- a number ``1`` matches a constant whose every element equals it;
- a tuple ``(op, p1, p2, ...)`` matches a variable computed by ``op`` from inputs
  matching ``p1, p2, ...``. ``op`` is a public function such as ``ga.log`` (anything
  with an ``.op``), a scalar op class such as ``Log`` (any Elemwise over it), an Op
  class (any instance) or an Op instance (equal ops). A commutative binary op also
  matches with its inputs swapped;
- ``P(op, *args, name="s", where=pred)`` is the tuple form with a capture of the
  matched variable itself and an extra condition on it.

>>> import graphad as ga
>>> x = ga.vector("x")
>>> pat = compile_pattern((ga.log, (ga.add, 1, "y")))
>>> [c["y"] is x for c in pat.match(ga.log(1 + x))]
[True]
"""

from __future__ import annotations

import numbers

import numpy as np

from ..graph.basic import Constant


class Pattern:
    """Base class: ``match(var)`` yields one dict of captures per way ``var`` matches."""

    def match(self, var, captures=None):
        yield from self._match(var, dict(captures or {}))

    def _match(self, var, captures):
        raise NotImplementedError

    def root_keys(self):
        """The op keys (see ``op_key``) a root node must have, or None for any."""
        return None


class Capture(Pattern):
    """Any variable, remembered under ``name``."""

    def __init__(self, name):
        self.name = name

    def _match(self, var, captures):
        seen = captures.get(self.name)
        if seen is None:
            captures[self.name] = var
            yield captures
        elif seen is var:
            yield captures

    def __repr__(self):
        return self.name


class ConstantValue(Pattern):
    """A constant whose every element equals ``value`` (``x * 1`` with any 1)."""

    def __init__(self, value):
        self.value = value

    def _match(self, var, captures):
        data = getattr(var, "data", None) if isinstance(var, Constant) else None
        if data is not None and np.size(data) > 0 and bool(np.all(data == self.value)):
            yield captures

    def __repr__(self):
        return repr(self.value)


class Apply(Pattern):
    """A variable computed by an op matching ``op`` from inputs matching ``args``."""

    def __init__(self, op, args, name=None, where=None):
        self.test, self.keys = _op_test(op)
        self.op = op
        self.args = [compile_pattern(a) for a in args]
        self.name = name
        self.where = where

    def root_keys(self):
        return self.keys

    def _match(self, var, captures):
        node = var.owner
        if node is None or len(node.outputs) != 1 or not self.test(node.op):
            return
        if len(node.inputs) != len(self.args):
            return
        orders = [node.inputs]
        if len(self.args) == 2 and getattr(node.op, "commutative", False):
            orders.append(node.inputs[::-1])
        for inputs in orders:
            for found in _match_all(self.args, inputs, captures):
                if self.name is not None:
                    if found.get(self.name, var) is not var:
                        continue
                    found = {**found, self.name: var}
                if self.where is None or self.where(var):
                    yield found

    def __repr__(self):
        name = getattr(self.op, "__name__", None) or str(self.op)
        return f"({name} {' '.join(map(repr, self.args))})"


def _match_all(patterns, inputs, captures):
    if not patterns:
        yield captures
        return
    for found in patterns[0]._match(inputs[0], dict(captures)):
        yield from _match_all(patterns[1:], inputs[1:], found)


def P(op, *args, name=None, where=None):
    """The pattern ``(op, *args)`` that also captures the matched variable as ``name``
    and holds only where ``where(var)`` is true."""
    return Apply(op, args, name=name, where=where)


def compile_pattern(spec) -> Pattern:
    """The Pattern for a data spec (string, number, tuple or Pattern)."""
    if isinstance(spec, Pattern):
        return spec
    if isinstance(spec, str):
        return Capture(spec)
    if isinstance(spec, numbers.Number):
        return ConstantValue(spec)
    if isinstance(spec, tuple) and spec:
        return Apply(spec[0], spec[1:])
    raise TypeError(f"cannot read {spec!r} as a pattern (use a string, number or tuple)")


def op_key(op):
    """What rule tables index nodes by: the scalar op class of an Elemwise, else the
    op class."""
    scalar = getattr(op, "scalar_op", None)
    return type(scalar) if scalar is not None else type(op)


def _op_test(spec):
    """(predicate on an op, root keys) for an op spec of a pattern."""
    op = getattr(spec, "op", spec)  # a public function built on one op
    if isinstance(op, type):
        from ..graph.op import Op

        if issubclass(op, Op):
            return (lambda o: isinstance(o, op)), (op,)
        # a scalar op class: any Elemwise over an instance of it
        return (lambda o: isinstance(getattr(o, "scalar_op", None), op)), (op,)
    if callable(op) and not hasattr(op, "make_node") and not hasattr(op, "impl"):
        raise TypeError(f"pattern op {spec!r} is neither an op, an op class nor a ga function")
    if hasattr(op, "impl"):  # a scalar op instance
        return (lambda o: getattr(o, "scalar_op", None) == op), (type(op),)
    return (lambda o: o == op), (op_key(op),)
