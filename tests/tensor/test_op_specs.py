"""Every row of op_specs.py through every check: values and dtypes vs NumPy, broadcasting,
non-contiguous inputs, zero-size inputs, infer_shape, static shapes, gradients vs finite
differences and R_op vs L_op."""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import graphad as ga
from graphad.graph.traversal import toposort
from graphad.tensor.shape import shape_tuple
from tests.tensor.op_specs import (
    BROADCAST,
    CHECKS,
    DTYPE,
    GRAD,
    INFER,
    LAYOUT,
    ROP,
    ROWS,
    ROWS_BY_NAME,
    STATIC,
    VALUE,
    ZERO,
)
from tests.util import verify_grad, verify_rop

MODE = "FAST_COMPILE"

# DESIGN §1 "Operations", less conv2d, max_pool2d and RandomStream and the "more
# NumPy/SciPy names" not written yet, plus the indexing forms and the operators that map
# to ops of their own
DESIGN_FUNCTIONS = """
add sub mul true_divide floor_divide mod neg abs sign exp exp2 expm1 log log2 log10 log1p
sqrt sqr square pow sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh
arctanh sigmoid softplus relu erf erfc floor ceil round maximum minimum clip switch where eq
neq lt le gt ge logical_and logical_or logical_xor logical_not isnan isinf cast
sum prod mean var std max min argmax argmin all any logsumexp
reshape transpose dimshuffle flatten expand_dims squeeze broadcast_to concatenate stack split
tile repeat zeros ones zeros_like ones_like full alloc arange eye shape
set_subtensor inc_subtensor take
dot matmul outer tensordot
softmax log_softmax categorical_crossentropy binary_crossentropy
logaddexp log_sigmoid gammaln digamma one_hot
""".split()
DESIGN_FORMS = ["getitem_basic", "getitem_advanced", "getitem_mask", "&", "|", "^", "~", "@"]


# --- helpers --------------------------------------------------------------------------------
def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _dtype_id(run):
    return "-".join(run) if isinstance(run, tuple) else run


def _skip_if(row, check):
    if check in row.skip:
        pytest.skip(row.skip[check])


def _symbols(row, run, shapes, static=None):
    static = row.static if static is None else static
    return [
        ga.tensor(f"x{i}", dt, shape=tuple(s) if static else (None,) * len(s))
        for i, (s, dt) in enumerate(zip(shapes, row.input_dtypes(run)))
    ]


def _reference(row, values):
    # NumPy's own warnings (mean of an empty slice, division by zero) are not under test
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return [np.asarray(w) for w in _as_list(row.ref(*values))]


def _run(row, run, values, static=None):
    """The row's outputs, compiled and run on ``values``."""
    xs = _symbols(row, run, [v.shape for v in values], static)
    f = ga.function(xs, _as_list(row.build(*xs)), mode=MODE, on_unused_input="ignore")
    return f(*values)


def _assert_matches(row, got, want, what):
    assert len(got) == len(want), f"{what}: {len(got)} outputs, NumPy gives {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        msg = f"{what}, output {k}"
        assert g.dtype == w.dtype, f"{msg}: dtype {g.dtype}, NumPy gives {w.dtype}"
        assert g.shape == w.shape, f"{msg}: shape {g.shape}, NumPy gives {w.shape}"
        if w.dtype.kind in "fc":
            rtol, atol = row.tolerance(w.dtype.name)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=msg)
        else:
            np.testing.assert_array_equal(g, w, err_msg=msg)


def _check_against_numpy(row, run, values, what, static=None):
    _assert_matches(row, _run(row, run, values, static), _reference(row, values), what)


def _value_params():
    return [
        pytest.param(row, run, id=f"{row.name}-{_dtype_id(run)}")
        for row in ROWS
        for run in row.dtypes
    ]


def _row_params():
    return [pytest.param(row, id=row.name) for row in ROWS]


# --- (1) values and (2) dtypes ---------------------------------------------------------------
@pytest.mark.parametrize("row, run", _value_params())
def test_value(row, run):
    _skip_if(row, VALUE)
    values = row.sample(_rng(row.name, run), run)
    _check_against_numpy(row, run, values, f"{row.name} with {_dtype_id(run)} inputs")


@pytest.mark.parametrize("row, run", _value_params())
def test_dtype(row, run):
    """The graph-build dtype is NumPy's for the same inputs (NumPy 2 promotion)."""
    _skip_if(row, DTYPE)
    values = row.sample(_rng(row.name, run), run)
    want = [w.dtype.name for w in _reference(row, values)]
    outs = _as_list(row.build(*_symbols(row, run, row.shapes)))
    assert [o.dtype for o in outs] == want


# --- (3) broadcasting ------------------------------------------------------------------------
BROADCAST_CASES = {
    # name: (shape of the broadcast input, its declared shape, shape of the others)
    "none_dim_is_1": ((1, 4), (None, None), (3, 4)),
    "static_1": ((1, 4), (1, None), (3, 4)),
    "lower_rank": ((4,), (None,), (3, 4)),
    "scalar": ((), (), (3, 4)),
    "others_1": ((3, 4), (None, None), (1, 4)),
}


@pytest.mark.parametrize("row", _row_params())
def test_broadcast(row):
    """Each input in turn broadcasts against the others, in every case above; float64
    gradients reduce back to the runtime shape of a ``None`` dimension that is 1."""
    if not row.elemwise:
        pytest.skip("not an elementwise op: its inputs do not broadcast against each other")
    if row.nin < 2:
        pytest.skip("one input: nothing to broadcast against")
    _skip_if(row, BROADCAST)
    run = row.dtypes[0]
    failures = []
    for case, (shape, declared, other) in BROADCAST_CASES.items():
        for k in range(row.nin):
            shapes = [shape if i == k else other for i in range(row.nin)]
            what = f"{case}, input {k} of shape {shape}, the others {other}"
            try:
                _check_broadcast(row, run, k, shapes, declared, what)
                if k in row.grad and case in ("none_dim_is_1", "lower_rank", "others_1"):
                    values = row.sample(_rng(row.name, case, k), "float64", shapes, kind="grad")
                    _check_grads(row, values, f"gradient, {what}")
            except Exception as exc:  # report every case, not only the first
                failures.append(f"{type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures)


def _check_broadcast(row, run, k, shapes, declared, what):
    values = row.sample(_rng(row.name, what), run, shapes)
    xs = [
        ga.tensor(f"x{i}", dt, shape=declared if i == k else (None,) * len(shapes[i]))
        for i, dt in enumerate(row.input_dtypes(run))
    ]
    outs = _as_list(row.build(*xs))
    want = _reference(row, values)
    _assert_matches(row, ga.function(xs, outs, mode=MODE)(*values), want, what)
    _check_infer_shape(xs, outs, values, what)
    for o, w in zip(outs, want):
        assert o.ndim == w.ndim, f"{what}: static type {o.type}, NumPy's result is {w.shape}"
        assert all(s is None or s == n for s, n in zip(o.type.shape, w.shape)), (
            f"{what}: static type {o.type}, NumPy's result is {w.shape}"
        )


# --- (4) non-contiguous inputs ---------------------------------------------------------------
def _strided(v):
    buf = np.empty((2 * v.shape[0],) + v.shape[1:], dtype=v.dtype)
    buf[::2] = v
    return buf[::2]


LAYOUTS = {
    "transposed": lambda v: np.asfortranarray(v) if v.ndim >= 2 else v,
    "strided": lambda v: _strided(v) if v.ndim >= 1 else v,
    "reversed": lambda v: v[::-1].copy()[::-1] if v.ndim >= 1 else v,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("row", _row_params())
def test_noncontiguous(row, layout):
    _skip_if(row, LAYOUT)
    run = row.dtypes[0]
    values = [LAYOUTS[layout](v) for v in row.sample(_rng(row.name, layout), run)]
    if not any(v.ndim >= (2 if layout == "transposed" else 1) for v in values):
        pytest.skip(f"no input has the dimensions a {layout} layout needs")
    _check_against_numpy(row, run, values, f"{layout} inputs")


# --- (5) zero-size inputs --------------------------------------------------------------------
@pytest.mark.parametrize("row", _row_params())
def test_zero_size(row):
    _skip_if(row, ZERO)
    shapes = row.zero_shapes()
    assert shapes is not None, "the row must give zero-size shapes or a skip reason"
    run = row.dtypes[0]
    values = row.sample(_rng(row.name, "zero"), run, shapes, kind="zero")
    want = _reference(row, values)
    assert any(a.size == 0 for a in values + want), "the zero-size case must hold an empty array"
    xs = _symbols(row, run, [v.shape for v in values])
    outs = _as_list(row.build(*xs))
    got = ga.function(xs, outs, mode=MODE, on_unused_input="ignore")(*values)
    _assert_matches(row, got, want, "zero-size inputs")
    _check_infer_shape(xs, outs, values, "zero-size inputs")


# --- (6) infer_shape and (7) static shapes, for every node the row builds ---------------------
def _nodes_and_values(row, run, values, static):
    xs = _symbols(row, run, [v.shape for v in values], static)
    outs = _as_list(row.build(*xs))
    nodes = toposort(outs, xs)
    return xs, outs, nodes


@pytest.mark.parametrize("row", _row_params())
def test_infer_shape(row):
    _skip_if(row, INFER)
    run = row.dtypes[0]
    values = row.sample(_rng(row.name, "infer"), run)
    xs, outs, _ = _nodes_and_values(row, run, values, static=False)
    _check_infer_shape(xs, outs, values)


def _check_infer_shape(xs, outs, values, what="infer_shape"):
    """Every node's infer_shape, compiled, against the shapes its outputs really have."""
    checked, scalars = [], []
    for node in toposort(outs, xs):
        shapes = node.op.infer_shape(node, [shape_tuple(i) for i in node.inputs])
        assert len(shapes) == len(node.outputs), f"{node.op}: one shape per output"
        for out, shp in zip(node.outputs, shapes):
            assert len(shp) == out.ndim, f"{node.op}: {len(shp)} entries for a {out.ndim}-d output"
            for s in shp:
                assert s.ndim == 0 and s.dtype.startswith(("int", "uint")), (
                    f"{node.op}: shape entry {s} ({s.type}) is not an integer scalar"
                )
            checked.append((node, out, len(scalars), len(shp)))
            scalars.extend(shp)
    f = ga.function(
        xs, [out for _, out, _, _ in checked] + scalars, mode=MODE, on_unused_input="ignore"
    )
    results = f(*values)
    actual, inferred = results[: len(checked)], results[len(checked) :]
    for (node, _, start, n), value in zip(checked, actual):
        got = tuple(int(s) for s in inferred[start : start + n])
        assert got == np.shape(value), (
            f"{what}: {node.op} infers shape {got}, its output has shape {np.shape(value)}"
        )


@pytest.mark.parametrize("declared", ["static", "unknown"])
@pytest.mark.parametrize("row", _row_params())
def test_static_shape(row, declared):
    _skip_if(row, STATIC)
    run = row.dtypes[0]
    values = row.sample(_rng(row.name, "static"), run)
    static = True if declared == "static" else None
    xs, _, nodes = _nodes_and_values(row, run, values, static)
    variables = [out for node in nodes for out in node.outputs]
    f = ga.function(xs, variables, mode=MODE, on_unused_input="ignore")
    for var, value in zip(variables, f(*values)):
        value = np.asarray(value)
        node = var.owner
        assert var.ndim == value.ndim, f"{node.op}: {var.type} holds a {value.ndim}-d value"
        for axis, (s, n) in enumerate(zip(var.type.shape, value.shape)):
            assert s is None or s == n, (
                f"{node.op}: static shape {var.type.shape} but the value has shape "
                f"{value.shape} (axis {axis})"
            )
        assert var.dtype == value.dtype.name, (
            f"{node.op}: type {var.type} but perform returns dtype {value.dtype}"
        )


# --- (8) gradients ---------------------------------------------------------------------------
def _differentiable(row, values):
    """A builder on the differentiable inputs (the others fixed as constants) and their
    float64 values. A multi-output row is reduced to one scalar with random weights."""
    fixed = {i: ga.constant(v) for i, v in enumerate(values) if i not in row.grad}
    weights = None
    outs = _reference(row, values)
    if len(outs) > 1:
        rng = _rng(row.name, "weights")
        weights = [rng.normal(size=w.shape) for w in outs]

    def build(*diff):
        it = iter(diff)
        args = [fixed[i] if i in fixed else next(it) for i in range(row.nin)]
        out = row.build(*args)
        if weights is None:
            return _as_list(out)[0]
        total = 0.0
        for o, w in zip(out, weights):
            total = total + (o * w).sum()
        return total

    return build, [values[i].astype("float64") for i in row.grad]


def _check_grads(row, values, what, rop=False):
    build, diff = _differentiable(row, values)
    try:
        if rop:
            verify_rop(build, diff)
        else:
            verify_grad(build, diff)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def _grad_values(row, key):
    if not row.grad:
        pytest.fail("a row without differentiable inputs must give a skip reason")
    return row.sample(_rng(row.name, key), "float64", kind="grad")


@pytest.mark.parametrize("row", _row_params())
def test_grad(row):
    _skip_if(row, GRAD)
    _check_grads(row, _grad_values(row, "grad"), "L_op vs finite differences")


@pytest.mark.parametrize("row", _row_params())
def test_rop(row):
    _skip_if(row, ROP)
    _check_grads(row, _grad_values(row, "rop"), "R_op vs L_op", rop=True)


@pytest.mark.parametrize("row", _row_params())
def test_grad_float32_stays_float32(row):
    """The gradient of a float32 graph is float32 and agrees with the float64 one."""
    _skip_if(row, GRAD)
    build, diff = _differentiable(row, _grad_values(row, "grad32"))
    xs32 = [ga.tensor(f"a{i}", "float32", shape=v.shape) for i, v in enumerate(diff)]
    out32 = build(*xs32)
    if out32.dtype != "float32":
        pytest.skip("the row mixes in float64 constants, so its output is float64 by promotion")
    xs64 = [ga.tensor(f"b{i}", "float64", shape=v.shape) for i, v in enumerate(diff)]
    out64 = build(*xs64)
    values64 = [v.astype("float32").astype("float64") for v in diff]
    out_shape = ga.function(xs64, out64, mode="FAST_COMPILE")(*values64).shape
    proj = _rng(row.name, "proj32").normal(size=out_shape)
    g32 = ga.grad((out32 * proj.astype("float32")).sum(), xs32, disconnected_inputs="ignore")
    g64 = ga.grad((out64 * proj).sum(), xs64, disconnected_inputs="ignore")
    assert [g.dtype for g in g32] == ["float32"] * len(xs32)
    f32 = ga.function(xs32, g32, mode="FAST_COMPILE", on_unused_input="ignore")
    f64 = ga.function(xs64, g64, mode="FAST_COMPILE", on_unused_input="ignore")
    got = f32(*[v.astype("float32") for v in diff])
    want = f64(*values64)
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3 * (1 + np.abs(b).max(initial=0)))


# --- the table itself ------------------------------------------------------------------------
def test_every_design_op_has_a_row():
    covered = {name for row in ROWS for name in row.covers}
    missing = [n for n in DESIGN_FUNCTIONS + DESIGN_FORMS if n not in covered]
    assert not missing, f"ops of DESIGN §1 without a row in op_specs.py: {missing}"
    absent = [n for n in DESIGN_FUNCTIONS if not callable(getattr(ga, n, None))]
    assert not absent, f"ops of DESIGN §1 missing from the graphad namespace: {absent}"


def test_rows_are_well_formed():
    assert len(ROWS_BY_NAME) == len(ROWS), "row names must be unique"
    for row in ROWS:
        n = row.nin
        assert not row.domains or len(row.domains) == n, row.name
        assert not row.fixed or len(row.fixed) == n, row.name
        assert all(0 <= i < n for i in row.grad), row.name
        assert set(row.skip) <= set(CHECKS), f"{row.name}: unknown checks in skip"
        assert all(isinstance(r, str) and r for r in row.skip.values()), row.name
        if not row.grad:
            assert GRAD in row.skip and ROP in row.skip, f"{row.name}: why no gradient?"
        if row.zero_shapes() is None:
            assert ZERO in row.skip, f"{row.name}: give zero-size shapes or a skip reason"
        for run in row.dtypes:
            assert len(row.input_dtypes(run)) == n, f"{row.name}: dtypes {run}"
