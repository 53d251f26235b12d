"""Random expression graphs: graphad, compiled in every mode, against NumPy.

Hypothesis draws 1-3 inputs (float32/float64/int32/int64; small shapes; some dims
declared None, among them size-1 dims that broadcast only at run time) and an expression
tree over them of depth <= 6: elementwise ops, comparisons and ``where``, reductions,
shape ops and basic indexing. A tree is nested tuples ``(op, args, *children)``;
``to_graphad`` and ``to_numpy`` are its two interpreters.

The generator keeps every domain safe (log of ``|x| + 1``, exp of a bounded value,
divisors away from 0, values within +-50) and keeps rounding noise away from every
discontinuity: floor, comparisons, argmax and float->int casts see either *exact* values
(no rounding anywhere below them, see ``Sub.exact``) or values at a safe distance from
the jump. So NumPy's answer is finite and well conditioned, and a difference beyond
rounding is a graphad bug. A failing example prints as a small graphad program.

Examples are derandomized (the same ones on every run, no example database); set
GRAPHAD_RANDOM_GRAPH_EXAMPLES to run more of them when hunting for bugs.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st

import graphad as ga
from tests.util import MODES

# examples per run (each compiles one function per mode); raise it to hunt for bugs
EXAMPLES = int(os.environ.get("GRAPHAD_RANDOM_GRAPH_EXAMPLES", "500"))
MAX_DEPTH, MAX_NDIM, MAX_SIZE = 6, 4, 256
BOUND = 50.0  # float values stay within +-BOUND (tanh or clip beyond it)
NODES = 30  # at most this many ops in one tree
# rtol, and atol per unit of the largest magnitude met anywhere in the tree
TOLERANCE = {"float32": 2e-4, "float64": 1e-9}
# a value this close to a discontinuity (relative to 1 + that magnitude) is not safe
MARGIN = 2e-4


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _relu(x):
    return np.maximum(x, 0)


def _softplus(x):
    return np.logaddexp(0, x)


# name: (NumPy reference, domain guard the generator applies to the argument)
UNARY = {
    "neg": (np.negative, "free"), "abs": (np.abs, "free"), "sqr": (np.square, "free"),
    "tanh": (np.tanh, "free"), "sin": (np.sin, "free"), "cos": (np.cos, "free"),
    "arctan": (np.arctan, "free"), "arcsinh": (np.arcsinh, "free"),
    "sigmoid": (_sigmoid, "free"), "softplus": (_softplus, "free"), "relu": (_relu, "free"),
    "erf": (sps.erf, "free"),
    "exp": (np.exp, "small"), "exp2": (np.exp2, "small"), "expm1": (np.expm1, "small"),
    "sinh": (np.sinh, "small"), "cosh": (np.cosh, "small"),
    "log": (np.log, "log"), "log2": (np.log2, "log"), "log10": (np.log10, "log"),
    "log1p": (np.log1p, "log1p"), "sqrt": (np.sqrt, "sqrt"),
    "tan": (np.tan, "unit"), "arcsin": (np.arcsin, "unit"), "arccos": (np.arccos, "unit"),
    "arctanh": (np.arctanh, "unit"), "arccosh": (np.arccosh, "acosh"),
    "floor": (np.floor, "step"), "ceil": (np.ceil, "step"), "round": (np.round, "step"),
    "sign": (np.sign, "step"),
}  # fmt: skip
BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
    "minimum": np.minimum, "true_divide": np.true_divide, "pow": np.power,
    "floor_divide": np.floor_divide, "mod": np.mod, "arctan2": np.arctan2,
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "neq": np.not_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "logical_not": np.logical_not,
}  # fmt: skip
# the Python operator for an op, and how it prints
OPERATORS = {
    "add": (operator.add, "+"), "sub": (operator.sub, "-"), "mul": (operator.mul, "*"),
    "true_divide": (operator.truediv, "/"), "floor_divide": (operator.floordiv, "//"),
    "mod": (operator.mod, "%"), "pow": (operator.pow, "**"), "lt": (operator.lt, "<"),
    "le": (operator.le, "<="), "gt": (operator.gt, ">"), "ge": (operator.ge, ">="),
    "logical_and": (operator.and_, "&"), "logical_or": (operator.or_, "|"),
    "logical_xor": (operator.xor, "^"), "logical_not": (operator.invert, "~"),
    "neg": (operator.neg, "-"), "abs": (abs, "abs"),
}  # fmt: skip
REDUCE = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "any": np.any, "all": np.all, "argmax": np.argmax, "argmin": np.argmin,
}  # fmt: skip
# what the generator builds, weighted by repetition; the first is what shrinking prefers
KINDS = ("unary", "binary", "shape", "reduce", "unary", "binary", "shape", "reduce", "where",
         "mask", "clip", "cast", "argreduce", "unary", "binary", "shape")  # fmt: skip
# ops that never round: exact inputs give an exact result
KEEP = {"neg", "abs", "relu", "floor", "ceil", "round", "sign", "maximum", "minimum",
        "max", "min", "any", "all", "argmax", "argmin"}  # fmt: skip
# ops that are exact when inputs and result lie on the grid (see ``on_grid``)
ON_GRID = {"sqr", "add", "sub", "mul", "floor_divide", "mod", "sum"}


# --- the two interpreters ------------------------------------------------------------------
def _index_item(c):
    if c[0] == "s":
        return slice(*c[1:])
    if c[0] == "i":
        return c[1]
    return None if c[0] == "n" else Ellipsis


def _index(components):
    """The Python index for a tuple of ("s", start, stop, step) / ("i", k) / ("n",) / ("e",)."""
    out = [_index_item(c) for c in components]
    return out[0] if len(out) == 1 else tuple(out)


def _shape_entries(x, entries, shape):
    """Reshape entries: ints, or ("dim", k) for ``x.shape[k]``."""
    return tuple(shape(x)[e[1]] if isinstance(e, tuple) else e for e in entries)


def _ga_named(name, use_operator):
    return OPERATORS[name][0] if use_operator else getattr(ga, name)


def _ga_transpose(args, x):
    axes, form = args
    if form == "T":
        return x.T
    if form == "method":
        return x.transpose() if axes is None else x.transpose(*axes)
    return ga.transpose(x, axes)


def _ga_reshape(args, x):
    entries = _shape_entries(x, args[0], lambda v: v.shape)
    if args[1] == "method":
        return x.reshape(entries)
    if args[1] == "star":
        return x.reshape(*entries)
    return ga.reshape(x, entries)


def _ga_reduce(args, x):
    kind, axis, keepdims, method = args
    fn = getattr(x, kind) if method else lambda **kw: getattr(ga, kind)(x, **kw)
    return fn(axis=axis, keepdims=keepdims)


_GA = {
    "unary": lambda a, *xs: _ga_named(*a)(*xs),
    "binary": lambda a, *xs: _ga_named(*a)(*xs),
    "where": lambda a, c, x, y: getattr(ga, a[0])(c, x, y),
    "clip": lambda a, x: x.clip(a[0], a[1]) if a[2] else ga.clip(x, a[0], a[1]),
    "cast": lambda a, x: x.astype(a[0]) if a[1] else ga.cast(x, a[0]),
    "reduce": _ga_reduce,
    "transpose": _ga_transpose,
    "dimshuffle": lambda a, x: x.dimshuffle(*a[0]) if a[1] else ga.dimshuffle(x, a[0]),
    "reshape": _ga_reshape,
    "flatten": lambda a, x: x.flatten(a[0]) if a[1] else ga.flatten(x, a[0]),
    "expand_dims": lambda a, x: ga.expand_dims(x, a[0]),
    "squeeze": lambda a, x: x.squeeze(a[0]) if a[2] else ga.squeeze(x, a[0]),
    "index": lambda a, x: x[_index(a[0])],
    "broadcast_to": lambda a, x: ga.broadcast_to(x, a[0]),
}


def _np_dimshuffle(x, pattern):
    kept = [p for p in pattern if p != "x"]
    x = np.squeeze(x, axis=tuple(a for a in range(x.ndim) if a not in kept))
    rank = {a: i for i, a in enumerate(sorted(kept))}
    x = np.transpose(x, [rank[a] for a in kept])
    return np.expand_dims(x, tuple(i for i, p in enumerate(pattern) if p == "x"))


_NP = {
    "unary": lambda a, x: UNARY[a[0]][0](x),
    "binary": lambda a, *xs: BINARY[a[0]](*xs),
    "where": lambda a, c, x, y: np.where(c, x, y),
    "clip": lambda a, x: np.clip(x, a[0], a[1]),
    "cast": lambda a, x: x.astype(a[0]),
    "reduce": lambda a, x: REDUCE[a[0]](x, axis=a[1], keepdims=a[2]),
    "transpose": lambda a, x: np.transpose(x, a[0]),
    "dimshuffle": lambda a, x: _np_dimshuffle(x, a[0]),
    "reshape": lambda a, x: np.reshape(x, _shape_entries(x, a[0], np.shape)),
    "flatten": lambda a, x: np.reshape(x, x.shape[: a[0] - 1] + (-1,)),
    "expand_dims": lambda a, x: np.expand_dims(x, a[0]),
    "squeeze": lambda a, x: np.squeeze(x, axis=a[1]),
    "index": lambda a, x: x[_index(a[0])],
    "broadcast_to": lambda a, x: np.broadcast_to(x, a[0]),
}


def ga_const(value, dtype):
    """A weak Python scalar when ``dtype`` is None, else a typed graphad constant."""
    return value if dtype is None else ga.constant(value, dtype=dtype)


def np_const(value, dtype):
    return value if dtype is None else np.asarray(value, dtype=dtype)


def ga_apply(op, args, kids):
    return _GA[op](args, *kids)


def np_apply(op, args, kids):
    # integer division by zero is defined (it gives 0); anything else is a generator bug
    with np.errstate(divide="ignore", under="ignore", over="raise", invalid="raise"):
        return np.asarray(_NP[op](args, *kids))


def evaluate(tree, leaves, apply, const):
    op, args, *kids = tree
    if op == "input":
        return leaves[args[0]]
    if op == "const":
        return const(*args)
    return apply(op, args, [evaluate(k, leaves, apply, const) for k in kids])


def to_graphad(tree, variables):
    """The graphad expression for ``tree`` (shared subtrees are built twice: merge's job)."""
    return evaluate(tree, variables, ga_apply, ga_const)


def to_numpy(tree, arrays):
    return evaluate(tree, arrays, np_apply, np_const)


def input_indices(tree):
    op, args, *kids = tree
    found = {args[0]} if op == "input" else set()
    for k in kids:
        found |= input_indices(k)
    return found


# --- printing a tree as a graphad program --------------------------------------------------
def _show_index(components):
    def one(c):
        if c[0] == "s":
            return ":".join("" if b is None else str(b) for b in c[1:])
        return {"i": lambda: str(c[1]), "n": lambda: "None", "e": lambda: "..."}[c[0]]()

    return ", ".join(one(c) for c in components)


def show(tree):
    """``tree`` as the graphad expression ``to_graphad`` builds."""
    op, args, *kids = tree
    k = [show(c) for c in kids]
    if op == "input":
        return f"x{args[0]}"
    if op == "const":
        return repr(args[0]) if args[1] is None else f"ga.constant({args[0]!r}, dtype={args[1]!r})"
    if op in ("unary", "binary") and args[1]:
        sym = OPERATORS[args[0]][1]
        if len(k) == 1:
            return f"abs({k[0]})" if sym == "abs" else f"({sym}{k[0]})"
        return f"({k[0]} {sym} {k[1]})"
    if op in ("unary", "binary", "where"):
        return f"ga.{args[0]}({', '.join(k)})"
    x = k[0]
    if op == "reduce":
        kw = f"axis={args[1]!r}, keepdims={args[2]}"
        return f"{x}.{args[0]}({kw})" if args[3] else f"ga.{args[0]}({x}, {kw})"
    if op == "reshape":
        entries = ", ".join(f"{x}.shape[{e[1]}]" if isinstance(e, tuple) else str(e)
                            for e in args[0])  # fmt: skip
        return f"ga.reshape({x}, ({entries}{',' if len(args[0]) == 1 else ''}))"
    if op == "index":
        return f"{x}[{_show_index(args[0])}]"
    if op == "transpose" and args[1] == "T":
        return f"{x}.T"
    if op == "clip":
        return f"ga.clip({x}, {args[0]!r}, {args[1]!r})"
    return f"ga.{op}({x}, {args[0]!r})"


# --- the generator ---------------------------------------------------------------------------
def maxabs(v):
    v = np.asarray(v, dtype="float64")
    return float(np.max(np.abs(v))) if v.size else 0.0


def on_grid(v):
    """True for small multiples of 1/8: sums, products and casts of these are exact in
    float32 and float64 in any order, so no backend can round them differently."""
    v = np.asarray(v, dtype="float64")
    return bool(np.all(v * 8 == np.round(v * 8)) and maxabs(v) <= 4096)


def _tolerance(v):
    return TOLERANCE.get(np.asarray(v).dtype.name, 0.0)


def is_int(v):
    return np.asarray(v).dtype.kind in "iu"


def fits(*shapes):
    """True when the shapes broadcast to at most MAX_NDIM dims and MAX_SIZE elements."""
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return len(shape) <= MAX_NDIM and int(np.prod(shape)) <= MAX_SIZE


@dataclass
class Sub:
    """A subtree with its graphad variable, its NumPy value and what the generator
    needs to know about it. ``exact``: no rounding happened anywhere below, so every
    correct evaluation gives exactly ``val``. ``scale``: the largest magnitude seen below
    (rounding errors are relative to it). ``tol``: the relative tolerance of the least
    precise float dtype below (a float32 step inside a float64 tree rounds as float32)."""

    tree: tuple
    var: object
    val: object
    exact: bool
    scale: float
    tol: float

    @property
    def shape(self):
        return np.shape(self.val)

    def margin(self):
        return MARGIN * (1 + self.scale)


class Case:
    """Inputs and 1-3 output trees, compiled together as one function; its repr is the
    graphad program (a plain class: Hypothesis prints dataclasses field by field)."""

    def __init__(self, variables, arrays, roots):
        self.variables, self.arrays = variables, arrays
        self.trees = [r.tree for r in roots]
        self.tolerances = [(r.tol, r.tol * (1 + r.scale)) for r in roots]  # rtol, atol

    def __repr__(self):
        lines = ["", "import numpy as np", "import graphad as ga"]
        for i, (var, arr) in enumerate(zip(self.variables, self.arrays)):
            lines.append(f"x{i} = ga.tensor('x{i}', {var.dtype!r}, shape={var.type.shape})")
            lines.append(f"v{i} = np.array({arr.tolist()!r}, dtype={arr.dtype.name!r})")
        outs = ", ".join(show(tree) for tree in self.trees)
        lines.append(f"outs = [{outs}]" if len(self.trees) > 1 else f"out = {outs}")
        names, values = (", ".join(f"{c}{i}" for i in self.used()) for c in "xv")
        lines.append(
            f"ga.function([{names}], {'outs' if len(self.trees) > 1 else 'out'})({values})"
        )
        return "\n".join(lines)

    def used(self):
        return sorted(set().union(*(input_indices(tree) for tree in self.trees)))


class Builder:
    """Draws a Case. Every node is built at once as a graphad variable and a NumPy value,
    so guards can look at the values they protect."""

    def __init__(self, draw):
        self._draw = draw
        self.leaves = []
        self.budget = NODES

    def pick(self, options):
        return self._draw(st.sampled_from(options))

    def num(self, lo, hi):
        return self._draw(st.integers(lo, hi))

    def coin(self):
        return self._draw(st.booleans())

    # --- leaves and nodes --------------------------------------------------------------------
    def draw_inputs(self):
        master = [self.num(1, 4) for _ in range(self.num(0, 3))]
        rng = np.random.default_rng(self.num(0, 2**16))
        for i in range(self.num(1, 3)):
            ndim = self.num(0, len(master))
            shape = [1 if self.num(0, 3) == 0 else d for d in master[len(master) - ndim :]]
            static = tuple(s if self.coin() else None for s in shape)
            dtype = self.pick(["float64", "float32", "float64", "float32", "int64", "int32"])
            if dtype.startswith("int"):
                value = rng.integers(-5, 6, size=shape)
            elif self.coin():
                value = rng.uniform(-3, 3, size=shape)
            else:  # on the grid: ties, exact halves, integers
                value = rng.integers(-12, 13, size=shape) / 4
            value = np.asarray(value).astype(dtype)
            var = ga.tensor(f"x{i}", dtype, shape=static)
            tol = _tolerance(value)
            self.leaves.append(Sub(("input", (i,)), var, value, True, maxabs(value), tol))

    def leaf(self):
        return self.leaves[self.num(0, len(self.leaves) - 1)]

    def const(self, value, dtype=None):
        var, val = ga_const(value, dtype), np_const(value, dtype)
        return Sub(("const", (value, dtype)), var, val, True, maxabs(val), _tolerance(val))

    def make(self, op, args, *kids, rule=None):
        self.budget -= 1
        tree = (op, args) + tuple(k.tree for k in kids)
        var = ga_apply(op, args, [k.var for k in kids])
        val = np_apply(op, args, [k.val for k in kids])
        assert val.dtype.kind != "f" or np.all(np.isfinite(val)), f"generator: {show(tree)}"
        name = args[0] if op in ("unary", "binary", "reduce") else None
        rule = rule or ("keep" if name is None or name in KEEP else
                        "grid" if name in ON_GRID else "none")  # fmt: skip
        if val.dtype.kind in "biu":  # integers and bools never round
            exact = True
        else:
            exact = rule != "none" and all(k.exact for k in kids)
            if rule == "grid":
                exact = exact and all(on_grid(k.val) for k in kids) and on_grid(val)
        scale = max([k.scale for k in kids] + [maxabs(val)])
        tol = max([k.tol for k in kids] + [_tolerance(val)])
        return Sub(tree, var, val, exact, scale, tol)

    def un(self, name, x):
        return self.make("unary", (name, False), x)

    def binop(self, name, *kids, rule=None):
        use_operator = name in OPERATORS and self.coin()
        return self.make("binary", (name, use_operator), *kids, rule=rule)

    def add_const(self, x, c):
        return self.binop("add", x, self.const(c)) if self.coin() else (
            self.binop("add", self.const(c), x))  # fmt: skip

    def squash(self, x, limit):
        """``x`` itself when within +-limit, else tanh(x) * limit or a clip."""
        if maxabs(x.val) <= limit:
            return x
        if is_int(x.val):
            return self.make("clip", (-int(limit), int(limit), self.coin()), x)
        if self.coin():
            return self.make("clip", (-float(limit), float(limit), self.coin()), x)
        return self.binop("mul", self.un("tanh", x), self.const(float(limit)))

    def bound(self, x):
        return self.squash(x, 100 if is_int(x.val) else BOUND)

    # --- subtrees ------------------------------------------------------------------------------
    def gen(self, depth, root=False):
        if not root and (depth <= 0 or self.budget <= 0 or self.num(0, 7) == 0):
            return self.leaf()
        for _ in range(3):
            sub = getattr(self, "gen_" + self.pick(KINDS))(depth - 1)
            if sub is not None:
                return self.bound(sub)
        return self.leaf()

    def tree_like(self, depth, shape):
        """A subtree whose shape broadcasts with ``shape`` (a full reduction if need be)."""
        for _ in range(2):
            b = self.gen(depth)
            if fits(shape, b.shape):
                return b
        return self.bound(self.make("reduce", (self.pick(["max", "sum"]), None, False, False), b))

    def operand(self, depth, shape):
        """A second operand for ``shape``: a subtree, a weak Python scalar or a typed
        constant (0-d or a vector along the last axis)."""
        kind = self.num(0, 5)
        if kind == 1:
            return self.const(self.pick([2, 1, -1, 3, 0.5, 2.5, -1.5, 0.25]))
        if kind == 2:
            dtype = self.pick(["float64", "float32", "int64", "int32"])
            n = shape[-1] if shape and self.coin() else None
            grid = [-2, -1, 0, 1, 2, 3] if dtype.startswith("int") else [-1.5, -0.5, 0.25, 1.0]
            if n is None:
                return self.const(self.pick(grid), dtype)
            return self.const(tuple(self.pick(grid) for _ in range(n)), dtype)
        return self.tree_like(depth, shape)

    def gen_unary(self, depth):
        name = self.pick(list(UNARY))
        x = self.gen(depth)
        guard = UNARY[name][1]
        if guard == "small":
            x = self.squash(x, 3.0)
        elif guard in ("log", "log1p", "acosh"):
            x = self.un("abs", x)
            x = {"log": lambda: self.add_const(x, 1), "log1p": lambda: x,
                 "acosh": lambda: self.add_const(x, 1.5)}[guard]()  # fmt: skip
        elif guard == "sqrt":
            safe = x.exact or np.min(np.abs(x.val)) > x.margin()
            x = self.un("abs", x)
            x = x if safe and self.coin() else self.add_const(x, 0.5)
        elif guard == "unit":
            x = self.binop("mul", self.un("tanh", x), self.const(0.9))
        elif guard == "step":
            if name == "round" and self.coin():  # halves of integers: ties to even
                x = self.binop("true_divide", x, self.const(2), rule="grid")
            if not (x.exact or self.step_is_safe(name, x)):
                return None
        return self.make("unary", (name, name in ("neg", "abs") and self.coin()), x)

    def step_is_safe(self, name, x):
        v = np.asarray(x.val, dtype="float64")
        gap = {"floor": lambda: np.abs(v - np.round(v)), "ceil": lambda: np.abs(v - np.round(v)),
               "round": lambda: np.abs(np.abs(v - np.floor(v)) - 0.5),
               "sign": lambda: np.abs(v)}[name]()  # fmt: skip
        return bool(np.min(gap) > x.margin())

    def gen_binary(self, depth):
        name = self.pick(["add", "sub", "mul", "maximum", "minimum", "true_divide", "pow",
                          "floor_divide", "mod", "arctan2", "floor_divide", "mod"])  # fmt: skip
        a = self.gen(depth)
        if name == "pow":
            return self.gen_pow(depth, a)
        if name in ("floor_divide", "mod"):
            return self.gen_divmod(name, depth, a)
        if name == "true_divide":
            b = self.divisor(depth, a.shape)
            rule = "grid" if b.tree[0] == "const" and b.val in (2, 4, 0.5, -4.0) else None
            return self.binop(name, a, b, rule=rule)
        if name == "arctan2":
            b = self.add_const(self.un("abs", self.tree_like(depth, a.shape)), 0.5)
            return self.binop(name, a, b)
        b = self.operand(depth, a.shape)
        return self.binop(name, *((a, b) if self.coin() else (b, a)))

    def divisor(self, depth, shape):
        kind = self.num(0, 3)
        if kind == 0:
            return self.add_const(self.un("abs", self.tree_like(depth, shape)), 0.5)
        if kind == 1:
            b = self.squash(self.tree_like(depth, shape), 5.0)
            return self.add_const(self.un("sqr", b), 1)
        if kind == 2:
            return self.const(self.pick([2, 4, 0.5, -4.0, 3.0, -1.5]))
        return self.un("exp", self.squash(self.tree_like(depth, shape), 2.0))

    def gen_pow(self, depth, a):
        if is_int(a.val):  # integer powers: non-negative constant exponents
            return self.binop("pow", self.squash(a, 4), self.const(self.pick([2, 0, 1, 3])))
        if self.coin():  # any sign of base, small integral exponent
            return self.binop("pow", self.squash(a, 6.0), self.const(self.pick([2, 3, 2.0])))
        base = self.add_const(self.un("abs", self.squash(a, 6.0)), 0.5)
        if self.coin():
            exponent = self.const(self.pick([0.5, -1, -0.5, 1.5, 2.5, -2]))
        else:
            exponent = self.squash(self.tree_like(depth, base.shape), 2.0)
        return self.binop("pow", base, exponent)

    def gen_divmod(self, name, depth, a):
        """Integers: any divisor, 0 included (NumPy gives 0). Floats: exact operands on the
        grid and a divisor >= 0.5 in magnitude, so the floor has no rounding to flip."""
        b = self.operand(depth, a.shape)
        if is_int(a.val) and self.coin():
            b = self.const(self.pick([0, 2, -3]))
        if is_int(a.val) and is_int(b.val):
            return self.binop(name, a, b)

        def small_exact(x):
            return x.exact and on_grid(x.val) and maxabs(x.val) <= 64

        if not small_exact(a):
            return None
        if self.coin() or b.tree[0] == "const" or not small_exact(b):
            b = self.const(self.pick([2, 0.5, 1.5, -2, -0.75, 3]))
        else:
            b = self.add_const(self.un("abs", b), 0.5)
        return self.binop(name, a, b)

    def gen_where(self, depth):
        cond = self.gen_cond(depth)
        a = self.operand(depth, cond.shape)
        b = self.operand(depth, np.broadcast_shapes(cond.shape, a.shape))
        return self.make("where", (self.pick(["where", "switch"]),), cond, a, b)

    def gen_cond(self, depth):
        """A bool subtree: a comparison, a logical op or any/all of one."""
        kind = self.num(0, 3) if depth > 0 else 0
        if kind == 2:
            name = self.pick(["logical_and", "logical_or", "logical_xor", "logical_not"])
            c = self.gen_cond(depth - 1)
            if name == "logical_not":
                return self.binop(name, c)
            d = self.gen_cond(depth - 1)
            if not fits(c.shape, d.shape):
                d = self.make("reduce", ("any", None, False, False), d)
            return self.binop(name, c, d)
        if kind == 3:
            c = self.gen_cond(depth - 1)
            kind = self.pick(["any", "all"])
            return self.make("reduce", (kind, self.axes(c), self.coin(), self.coin()), c)
        name = self.pick(["lt", "le", "gt", "ge", "eq", "neq"])
        a = self.gen(depth)
        b = self.operand(depth, a.shape)
        if not (a.exact and b.exact):
            gap = np.abs(np.asarray(a.val, "float64") - np.asarray(b.val, "float64"))
            if np.min(gap) <= max(a.margin(), b.margin()):
                b = self.const(self.split_point(a))
        return self.binop(name, *((a, b) if self.coin() else (b, a)))

    def split_point(self, a):
        """A threshold far from every value of ``a``: the middle of its widest gap."""
        v = np.unique(np.asarray(a.val, dtype="float64"))
        points = np.concatenate([[v[0] - 1], v, [v[-1] + 1]])
        i = int(np.argmax(np.diff(points)))
        return round(float(points[i] + points[i + 1]) / 2, 3)

    def gen_mask(self, depth):
        """Bools in arithmetic: cast, multiply, count."""
        cond = self.gen_cond(depth)
        kind = self.num(0, 2)
        if kind == 0:
            dtype = self.pick(["float64", "float32", "int32"])
            return self.make("cast", (dtype, self.coin()), cond)
        if kind == 1:
            return self.binop("mul", cond, self.tree_like(depth, cond.shape))
        kind = self.pick(["sum", "mean"])
        return self.make("reduce", (kind, self.axes(cond), self.coin(), self.coin()), cond)

    def gen_clip(self, depth):
        x = self.gen(depth)
        lo = self.pick([-2.0, -1, -0.5, 0, 0.25])
        hi = lo + self.pick([0.5, 1, 2.5, 3])
        return self.make("clip", (lo, hi, self.coin()), x)

    def gen_cast(self, depth):
        x = self.gen(depth)
        dtype = self.pick(["float32", "float64", "int32", "int64"])
        if dtype.startswith("int") and not x.exact:
            return None  # truncation would amplify rounding noise
        return self.make("cast", (dtype, self.coin()), x)

    def axes(self, x):
        """None, an int or a tuple of distinct axes (any order, some negative)."""
        ndim = len(x.shape)
        kind = self.num(0, 2)
        if kind == 0:
            return None
        if ndim == 0:
            return ()
        if kind == 1:
            a = self.num(0, ndim - 1)
            return a - ndim if self.coin() else a
        chosen = [a for a in self._draw(st.permutations(range(ndim))) if self.coin()]
        return tuple(a - ndim if self.coin() else a for a in chosen)

    def gen_reduce(self, depth):
        x = self.gen(depth)
        kind = self.pick(["sum", "mean", "max", "min", "prod", "var"])
        axis = self.axes(x)
        if kind == "prod":  # keep |prod| <= 1e4
            reduced = np.sum(np.zeros(x.shape), axis=axis, keepdims=True)
            n = max(1, int(np.prod(x.shape)) // max(1, reduced.size))
            x = self.squash(x, max(1.0, 1e4 ** (1 / n)))
        return self.make("reduce", (kind, axis, self.coin(), self.coin()), x)

    def gen_argreduce(self, depth):
        x = self.gen(depth)
        if not x.exact:
            return None  # ties broken by rounding noise
        ndim = len(x.shape)
        axis = None if ndim == 0 or self.coin() else self.num(-ndim, ndim - 1)
        kind = self.pick(["argmax", "argmin"])
        return self.make("reduce", (kind, axis, self.coin(), self.coin()), x)

    def gen_shape(self, depth):
        x = self.gen(depth)
        kind = self.pick(["transpose", "dimshuffle", "reshape", "flatten", "expand_dims",
                          "squeeze", "index", "broadcast_to"])  # fmt: skip
        args = getattr(self, "args_" + kind)(x)
        return None if args is None else self.make(kind, args, x)

    def args_transpose(self, x):
        form = self.pick(["fn", "method", "T"])
        if form == "T" or self.coin():
            return (None, form)
        ndim = len(x.shape)
        perm = self._draw(st.permutations(range(ndim)))
        return (tuple(a - ndim if self.coin() else a for a in perm), form)

    def args_dimshuffle(self, x):
        kept = [a for a, n in enumerate(x.shape) if n != 1 or self.coin()]
        pattern = list(self._draw(st.permutations(kept)))
        for _ in range(self.num(0, min(2, MAX_NDIM - len(pattern)))):
            pattern.insert(self.num(0, len(pattern)), "x")
        return (tuple(pattern), self.coin())

    def args_reshape(self, x):
        n = int(np.prod(x.shape))
        ndim, entries, rest = self.num(0 if n == 1 else 1, MAX_NDIM), [], n
        for _ in range(ndim - 1):
            entries.append(self.pick([d for d in range(1, rest + 1) if rest % d == 0]))
            rest //= entries[-1]
        entries += [rest] if ndim else []
        if entries and self.coin():
            entries[self.num(0, len(entries) - 1)] = -1
        for i, e in enumerate(entries):
            if e in x.shape and self.coin():
                entries[i] = ("dim", x.shape.index(e))
        return (tuple(entries), self.pick(["fn", "method", "star"]))

    def args_flatten(self, x):
        return (self.num(1, max(1, len(x.shape))), self.coin())

    def args_expand_dims(self, x):
        ndim = len(x.shape)
        if ndim >= MAX_NDIM:
            return None
        out_ndim = ndim + self.num(1, min(2, MAX_NDIM - ndim))
        chosen = self._draw(st.permutations(range(out_ndim)))[: out_ndim - ndim]
        axes = tuple(a - out_ndim if self.coin() else a for a in chosen)
        return (axes[0] if len(axes) == 1 and self.coin() else axes,)

    def args_squeeze(self, x):
        ones = [a for a, n in enumerate(x.shape) if n == 1]
        if not ones:
            return None
        if self.coin():  # no axis: drops the axes known to be 1 at graph-build time
            static = tuple(a for a, s in enumerate(x.var.type.shape) if s == 1)
            return (None, static, self.coin())
        chosen = [a for a in ones if self.coin()] or ones[:1]
        axis = tuple(a - len(x.shape) if self.coin() else a for a in chosen)
        if len(axis) == 1 and self.coin():
            axis = axis[0]
        return (axis, tuple(chosen), self.coin())

    def args_index(self, x):
        components = []
        for n in x.shape[: self.num(0, len(x.shape))]:
            kind = self.num(0, 2)
            if kind == 0:
                components.append(("s", None, None, None))
            elif kind == 1:
                bounds = [None] + list(range(-n - 1, n + 2))
                start, stop = self.pick(bounds), self.pick(bounds)
                step = self.pick([None, 2, -1, 1, 3, -2])
                if not range(*slice(start, stop, step).indices(n)):
                    start, stop = (start, None) if self.coin() else (None, stop)
                components.append(("s", start, stop, step))
            else:
                components.append(("i", self.num(-n, n - 1)))
        if self.coin():
            components.append(("e",))
        if self.coin():
            components.insert(self.num(0, len(components)), ("n",))
        shape = np.shape(np.zeros(x.shape)[_index(components)])
        if 0 in shape or len(shape) > MAX_NDIM or not components:
            return None
        return (tuple(components),)

    def args_broadcast_to(self, x):
        lead = [self.pick([2, 1, 3]) for _ in range(self.num(0, MAX_NDIM - len(x.shape)))]
        shape = tuple(lead + [self.pick([2, 1, 3]) if n == 1 else n for n in x.shape])
        return (shape,) if int(np.prod(shape)) <= MAX_SIZE else None


@st.composite
def cases(draw):
    builder = Builder(draw)
    builder.draw_inputs()
    roots = []
    for _ in range(builder.num(1, 3)):
        builder.budget = NODES
        # deep by default: shrinking still cuts the tree through the leaf draws
        roots.append(builder.gen(MAX_DEPTH - builder.num(0, MAX_DEPTH - 1), root=True))
    variables = [leaf.var for leaf in builder.leaves]
    arrays = [leaf.val for leaf in builder.leaves]
    return Case(variables, arrays, roots)


# --- the test --------------------------------------------------------------------------------
def assert_matches(got, expected, tolerance, mode):
    got_array = np.asarray(got)
    assert isinstance(got, (np.ndarray, np.generic)), f"{mode}: returned {type(got)}"
    assert got_array.dtype == expected.dtype, f"{mode}: dtype {got_array.dtype}"
    assert got_array.shape == expected.shape, f"{mode}: shape {got_array.shape}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got_array, expected, err_msg=mode)
    else:
        rtol, atol = tolerance
        np.testing.assert_allclose(got_array, expected, rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=mode)  # fmt: skip


def strided(a):
    """A copy of ``a`` that is a view with strides 2x the natural ones, the last axis
    reversed (negative stride)."""
    if a.ndim == 0:
        return a.copy()
    big = np.empty(tuple(2 * n for n in a.shape), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)][..., ::-1]
    view[...] = a
    return view


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(cases())
def test_random_graph_matches_numpy(case):
    check_case(case, MODES)


@pytest.fixture(scope="module")
def emulated_gpu(tmp_path_factory):
    """``device=cuda`` on the host emulation of a GPU (tests/backend/cuda_device.py)."""
    from tests.backend.cuda_device import EmulatedDevice, on_device

    with on_device(EmulatedDevice(tmp_path_factory.mktemp("gpu"))) as device:
        yield device


@settings(max_examples=max(EXAMPLES // 10, 1), deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_random_graph_on_the_cuda_backend(emulated_gpu, case):
    """The CUDA backend (kernels, cuBLAS's contract, views, host steps, transfers) on
    the host emulation; tests/backend/test_cuda_gpu.py runs all examples on a GPU."""
    check_case(case, ["FAST_RUN"])


def check_case(case, modes):
    """Compile ``case`` in each of ``modes`` and compare with NumPy, on the arrays and
    on strided views of them."""
    expected = [to_numpy(tree, case.arrays) for tree in case.trees]
    outs = [to_graphad(tree, case.variables) for tree in case.trees]
    for k, (out, want) in enumerate(zip(outs, expected)):
        assert out.dtype == want.dtype.name, (
            f"output {k}: static dtype {out.dtype}, NumPy {want.dtype}"
        )
        static = out.type.shape
        assert len(static) == want.ndim and all(
            s is None or s == n for s, n in zip(static, want.shape)
        ), f"output {k}: static shape {static} contradicts the computed shape {want.shape}"
    used = case.used()
    for mode in modes:
        # one output is passed as a variable (the call returns an array), several as a list
        f = ga.function([case.variables[i] for i in used], outs if len(outs) > 1 else outs[0],
                        mode=mode)  # fmt: skip
        assert (f.maker.vm.device is not None) == (ga.config.device == "cuda"), mode
        args = [case.arrays[i].copy() for i in used]
        got = f(*args)
        for i, arg in zip(used, args):
            assert np.array_equal(arg, case.arrays[i]), f"{mode}: the call changed input x{i}"
        got = got if len(outs) > 1 else [got]
        assert isinstance(got, list) and len(got) == len(outs), f"{mode}: returned {got!r}"
        for k, (value, want, tol) in enumerate(zip(got, expected, case.tolerances)):
            assert_matches(value, want, tol, f"{mode}, output {k}")
        # the same values in non-contiguous layouts (every other element, last axis
        # reversed): compiled loops must follow any strides
        again = f(*[strided(a) for a in args])
        again = again if len(outs) > 1 else [again]
        for k, (value, want, tol) in enumerate(zip(again, expected, case.tolerances)):
            assert_matches(value, want, tol, f"{mode}, strided inputs, output {k}")


# --- gradients compiled with their outputs ---------------------------------------------------
# examples of the gradient test (each compiles one function in two modes); reverting
# the fusion fix of the MSE program's crash fails it at the second example
GRAD_EXAMPLES = max(EXAMPLES // 5, 1)


@settings(max_examples=GRAD_EXAMPLES, deadline=None, derandomize=True, database=None)
@given(case=cases(), data=st.data())
def test_random_graph_with_its_gradients_matches_the_reference(case, data):
    """The outputs *and* the gradients of a cost built from them, compiled in one
    function, as users write training steps: ``[loss, grad(loss, x)]``. FAST_RUN's
    gradients must equal the NumPy reference backend's (FAST_COMPILE), its outputs
    NumPy's. The cost weights each float output by a projection given as an input of
    unknown shape, or takes its sum or mean of squares, so reductions over unknown
    lengths meet their own gradients inside one graph (the MSE program's crash)."""
    used = case.used()
    wrt = [case.variables[i] for i in used if case.variables[i].dtype.startswith("float")]
    outs = [to_graphad(tree, case.variables) for tree in case.trees]
    expected = [to_numpy(tree, case.arrays) for tree in case.trees]
    floats = [k for k, out in enumerate(outs) if out.dtype.startswith("float")]
    if not wrt or not floats:
        return
    projections, terms, values = [], [], []
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    for k in floats:
        out, kind = outs[k], data.draw(st.sampled_from(["projection", "sum", "mean_sqr"]))
        if kind == "projection":
            p = ga.tensor(f"p{k}", out.dtype, shape=(None,) * out.ndim)
            projections.append(p)
            values.append(rng.normal(size=expected[k].shape).astype(out.dtype))
            terms.append((out * p).sum())
        else:
            terms.append(out.sum() if kind == "sum" else (out * out).mean())
    cost = terms[0]
    for t in terms[1:]:
        cost = cost + t
    grads = ga.grad(cost, wrt, disconnected_inputs="ignore")
    inputs = [case.variables[i] for i in used] + projections
    args = [case.arrays[i].copy() for i in used] + values
    ref = ga.function(inputs, outs + [cost] + grads, mode="FAST_COMPILE")(*args)
    got = ga.function(inputs, outs + [cost] + grads, mode="FAST_RUN")(*args)
    for k, (value, want, tol) in enumerate(zip(got, expected, case.tolerances)):
        assert_matches(value, want, tol, f"FAST_RUN, output {k}")
    rtol = max(tol for tol, _ in case.tolerances)
    for k, (value, want) in enumerate(zip(got[len(outs) :], ref[len(outs) :])):
        what = "the cost" if k == 0 else f"the gradient wrt {wrt[k - 1].name}"
        want = np.asarray(want)
        scale = 1 + (float(np.max(np.abs(want))) if want.size else 0.0)
        assert_matches(value, want, (rtol, rtol * scale), f"FAST_RUN, {what}")
