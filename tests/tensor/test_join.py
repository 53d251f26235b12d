"""Tests for graphad/tensor/join.py: concatenate, stack, split, tile, repeat.

NumPy is the oracle for values and dtypes; infer_shape is checked against computed
shapes; gradients against finite differences; R_op against L_op.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphad as ga
from graphad.errors import GraphadTypeError, GraphadValueError, ShapeError
from graphad.tensor.join import Concatenate, Repeat, Split
from graphad.tensor.shape import shape_tuple
from tests.util import MODES, random_value, verify_grad, verify_rop

MODE = "FAST_COMPILE"
RNG = np.random.default_rng(42)


def sym(value, name="x"):
    """A symbolic input of ``value``'s dtype and rank, with unknown static shape."""
    return ga.tensor(name, value.dtype, shape=(None,) * value.ndim)


def run(inputs, outputs, *values):
    return ga.function(inputs, outputs, mode=MODE)(*values)


def check_infer_shape(inputs, out, values):
    """The node's infer_shape, compiled, equals the shapes of its computed outputs."""
    node = out.owner
    shapes = node.op.infer_shape(node, [shape_tuple(i) for i in node.inputs])
    flat = [s for shp in shapes for s in shp]
    # constants are read directly (a compiled function returns None for a constant output)
    symbolic = [s for s in flat if not isinstance(s, ga.TensorConstant)]
    f = ga.function(inputs, symbolic + list(node.outputs), mode=MODE, on_unused_input="ignore")
    results = f(*values)
    known = dict(zip(symbolic, results[: len(symbolic)]))
    it = iter(int(s.data) if isinstance(s, ga.TensorConstant) else int(known[s]) for s in flat)
    for shp, arr in zip(shapes, results[len(symbolic) :]):
        assert tuple(next(it) for _ in shp) == arr.shape


def values_of(shapes, dtypes):
    return [random_value(RNG, s, d, low=-5, high=5) for s, d in zip(shapes, dtypes)]


# concatenate -------------------------------------------------------------------------

CONCAT_CASES = [
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 5)], 1),
    ([(2, 3), (2, 4)], -1),
    ([(3, 2, 4), (3, 1, 4)], -2),
    ([(5,)], 0),
    ([(0, 3), (2, 3)], 0),
    ([(2, 0), (2, 0)], 1),
    ([(2, 3), (3,)], None),
]


@pytest.mark.parametrize("shapes, axis", CONCAT_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_concatenate_matches_numpy(shapes, axis, dtype):
    values = values_of(shapes, [dtype] * len(shapes))
    xs = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = ga.concatenate(xs, axis=axis)
    expected = np.concatenate(values, axis=axis)
    got = run(xs, out, *values)
    assert got.dtype == expected.dtype == out.dtype
    np.testing.assert_array_equal(got, expected)
    check_infer_shape(xs, out, values)


@pytest.mark.parametrize(
    "dtypes",
    [("float32", "int64"), ("int32", "float32"), ("bool", "int8"), ("float32", "float64"),
     ("uint8", "int8", "int16")],
)  # fmt: skip
def test_concatenate_mixed_dtypes(dtypes):
    values = values_of([(2, 2)] * len(dtypes), dtypes)
    xs = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = ga.concatenate(xs, axis=1)
    expected = np.concatenate(values, axis=1)
    assert out.dtype == expected.dtype.name
    np.testing.assert_array_equal(run(xs, out, *values), expected)


def test_concatenate_non_contiguous_inputs():
    base = RNG.normal(size=(8, 8))
    a, b = base[:, ::2], base.T[:3, ::2]  # strided and transposed views
    xs = [sym(a, "a"), sym(b, "b")]
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    np.testing.assert_array_equal(run(xs, ga.concatenate(xs), a, b), np.concatenate([a, b]))


def test_concatenate_static_shape():
    a = ga.tensor("a", shape=(2, None, 4))
    b = ga.tensor("b", shape=(3, 5, None))
    assert ga.concatenate([a, b]).type.shape == (5, 5, 4)
    c = ga.tensor("c", shape=(2, 5, 4))
    assert ga.concatenate([a, c], axis=1).type.shape == (2, None, 4)
    d = ga.tensor("d", shape=(2, 7, 4))
    assert ga.concatenate([c, d], axis=1).type.shape == (2, 12, 4)
    assert ga.concatenate([a, c], axis=None).type.shape == (None,)
    assert ga.concatenate([c, d], axis=None).type.shape == (96,)


def test_concatenate_infer_shape_with_static_dims():
    a = ga.tensor("a", shape=(2, None))
    b = ga.tensor("b", shape=(None, 3))
    out = ga.concatenate([a, b])
    assert out.type.shape == (None, 3)
    check_infer_shape([a, b], out, [np.ones((2, 3)), np.ones((4, 3))])


def test_concatenate_errors():
    m, v = ga.matrix("m"), ga.vector("v")
    with pytest.raises(ShapeError, match="input 1.*'v'"):
        ga.concatenate([m, v])
    a = ga.tensor("a", shape=(2, 3))
    b = ga.tensor("b", shape=(2, 4))
    with pytest.raises(ShapeError, match=r"input 1, 'b'.*size 4 in dimension 1"):
        ga.concatenate([a, b], axis=0)
    assert ga.concatenate([a, b], axis=1).type.shape == (2, 7)
    with pytest.raises(GraphadValueError, match="axis 2 is out of range"):
        ga.concatenate([m, m], axis=2)
    with pytest.raises(GraphadTypeError, match="axis must be an int"):
        ga.concatenate([m, m], axis=1.0)
    with pytest.raises(GraphadValueError, match="at least one"):
        ga.concatenate([])
    with pytest.raises(GraphadTypeError, match="list or tuple"):
        ga.concatenate(m)
    with pytest.raises(ShapeError, match="0-d"):
        ga.concatenate([ga.scalar("s"), ga.scalar("t")])
    with pytest.raises(ShapeError, match="0-d"):
        Concatenate(0)(ga.scalar("s"))


def test_concatenate_runtime_shape_error():
    a, b = ga.matrix("a"), ga.matrix("b")
    f = ga.function([a, b], ga.concatenate([a, b]), mode=MODE)
    with pytest.raises(GraphadValueError, match="concatenate along axis 0.*dimension 1"):
        f(np.ones((2, 3)), np.ones((2, 4)))


def test_concatenate_grad_and_rop():
    vals = [RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3)), RNG.normal(size=(4, 3))]
    verify_grad(lambda a, b, c: ga.concatenate([a, b, c]), vals)
    verify_rop(lambda a, b, c: ga.concatenate([a, b, c]), vals)
    vals = [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 2))]
    verify_grad(lambda a, b: ga.concatenate([a, b], axis=-1) ** 2, vals)
    verify_rop(lambda a, b: ga.concatenate([a, b], axis=-1) ** 2, vals)
    # a tangent-free constant input gets a zero tangent
    const = ga.constant(np.ones((2, 2)))
    verify_rop(lambda a: ga.concatenate([a, const], axis=1), [vals[0]])
    # the same input twice: gradients add
    verify_grad(lambda a: ga.concatenate([a, a * 2], axis=0), [vals[0]])


def test_concatenate_grad_mixed_dtypes():
    x = ga.vector("x", dtype="float32")
    k = ga.vector("k", dtype="int64")
    out = ga.concatenate([x, k])
    assert out.dtype == "float64"
    g = ga.grad((out * 3).sum(), x)
    assert g.dtype == "float32"
    got = run([x, k], g, np.ones(2, "float32"), np.ones(3, "int64"))
    np.testing.assert_array_equal(got, [3.0, 3.0])


# stack -------------------------------------------------------------------------------

STACK_CASES = [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3),
               ((), 0), ((0, 4), 1), ((4,), -1)]  # fmt: skip


@pytest.mark.parametrize("shape, axis", STACK_CASES)
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_stack_matches_numpy(shape, axis, dtype):
    values = values_of([shape] * 3, [dtype] * 3)
    xs = [sym(v, f"x{i}") for i, v in enumerate(values)]
    out = ga.stack(xs, axis=axis)
    expected = np.stack(values, axis=axis)
    got = run(xs, out, *values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    check_infer_shape(xs, out, values)


def test_stack_static_shape_and_mixed_dtypes():
    a = ga.tensor("a", "float32", shape=(None, 3))
    b = ga.tensor("b", "int64", shape=(2, None))
    out = ga.stack([a, b], axis=1)
    assert out.type.shape == (2, 2, 3)
    assert out.dtype == "float64"
    va, vb = np.ones((2, 3), "float32"), np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(run([a, b], out, va, vb), np.stack([va, vb], axis=1))


def test_stack_errors():
    a = ga.tensor("a", shape=(2, 3))
    with pytest.raises(ShapeError, match="input 1, 'b'.*same shape"):
        ga.stack([a, ga.tensor("b", shape=(2, 4))])
    with pytest.raises(ShapeError, match="input 1, 'v'"):
        ga.stack([a, ga.vector("v")])
    with pytest.raises(GraphadValueError, match="axis 3 is out of range"):
        ga.stack([a, a], axis=3)
    with pytest.raises(GraphadValueError, match="at least one"):
        ga.stack([])
    x, y = ga.matrix("x"), ga.matrix("y")
    f = ga.function([x, y], ga.stack([x, y]), mode=MODE)
    with pytest.raises(GraphadValueError):
        f(np.ones((2, 3)), np.ones((2, 4)))


def test_stack_grad_and_rop():
    vals = [RNG.normal(size=(2, 3)) for _ in range(3)]
    verify_grad(lambda a, b, c: ga.stack([a, b, c], axis=1), vals)
    verify_rop(lambda a, b, c: ga.stack([a, b, c], axis=-1), vals)
    # 0-d inputs (products, so the gradient function uses every input)
    verify_grad(lambda a, b: ga.stack([a * b, b * b]), [1.5, -2.0])


# split -------------------------------------------------------------------------------

SPLIT_CASES = [
    ((6, 2), 3, 0),
    ((2, 6), 2, -1),
    ((4,), 1, 0),
    ((0, 3), 2, 0),
    ((7,), [2, 5], 0),
    ((7, 2), [3, 1], 0),  # decreasing: an empty middle piece, overlapping last one
    ((5,), [-2], 0),
    ((5,), [-10, 10], 0),
    ((3, 5), [], 1),
    ((3, 5), np.array([1, 4]), -1),
]


@pytest.mark.parametrize("shape, arg, axis", SPLIT_CASES)
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_split_matches_numpy(shape, arg, axis, dtype):
    (value,) = values_of([shape], [dtype])
    x = sym(value)
    outs = ga.split(x, arg, axis=axis)
    assert isinstance(outs, list)
    expected = np.split(value, arg, axis=axis)
    assert len(outs) == len(expected)
    got = run([x], outs, value)
    for g, e, o in zip(got, expected, outs):
        assert g.dtype == e.dtype and o.dtype == e.dtype.name
        np.testing.assert_array_equal(g, e)
    check_infer_shape([x], outs[0], [value])


def test_split_non_contiguous_input():
    value = RNG.normal(size=(8, 6))[::2, 1:]
    x = sym(value)
    for g, e in zip(run([x], ga.split(x, [1, 2], axis=1), value), np.split(value, [1, 2], 1)):
        np.testing.assert_array_equal(g, e)


def test_split_symbolic_indices():
    value = RNG.normal(size=(7, 2))
    x, i, j = sym(value), ga.scalar("i", "int64"), ga.scalar("j", "int32")
    outs = ga.split(x, [i, j])
    assert all(o.type.shape == (None, None) for o in outs)
    for a, b in [(2, 5), (5, 2), (-3, 9)]:
        expected = np.split(value, [a, b])
        got = run([x, i, j], outs, value, a, b)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
        check_infer_shape([x, i, j], outs[0], [value, a, b])
    vec = ga.vector("idx", "int64", shape=(2,))
    got = run([x, vec], ga.split(x, vec), value, np.array([1, 3]))
    assert [g.shape[0] for g in got] == [1, 2, 4]


def test_split_static_shapes():
    x = ga.tensor("x", shape=(6, None))
    assert [o.type.shape for o in ga.split(x, 3)] == [(2, None)] * 3
    assert [o.type.shape for o in ga.split(x, [1, 4])] == [(1, None), (3, None), (2, None)]
    assert [o.type.shape for o in ga.split(x, [4, 1])] == [(4, None), (0, None), (5, None)]
    assert [o.type.shape for o in ga.split(x, [-1, 9])] == [(5, None), (1, None), (0, None)]
    assert [o.type.shape for o in ga.split(x, 2, axis=1)] == [(6, None)] * 2
    assert [o.type.shape for o in ga.split(x, [3], axis=1)] == [(6, None)] * 2


def test_split_errors():
    x = ga.tensor("x", shape=(7, None))
    with pytest.raises(ShapeError, match=r"size 7.*3 equal sections"):
        ga.split(x, 3)
    with pytest.raises(GraphadValueError, match="must be positive"):
        ga.split(x, 0)
    with pytest.raises(GraphadTypeError, match="Python int"):
        ga.split(x, ga.scalar("n", "int64"))
    with pytest.raises(GraphadTypeError, match="Python int"):
        ga.split(x, 2.0)
    with pytest.raises(GraphadTypeError):
        ga.split(x, [1.5])
    with pytest.raises(GraphadValueError, match="known statically"):
        ga.split(x, ga.vector("idx", "int64"))
    with pytest.raises(GraphadValueError, match="axis 2 is out of range"):
        ga.split(x, 2, axis=2)
    with pytest.raises(ShapeError, match="0-d"):
        ga.split(ga.scalar("s"), 2)
    m = ga.matrix("m")
    f = ga.function([m], ga.split(m, 3, axis=1), mode=MODE)
    with pytest.raises(GraphadValueError, match=r"shape \(2, 4\).*3 equal sections"):
        f(np.ones((2, 4)))
    assert [a.shape for a in f(np.ones((2, 6)))] == [(2, 2)] * 3


def _weighted(pieces):
    """All pieces in one expression, each scaled differently so mixups show."""
    return ga.concatenate([p.flatten() * (k + 1) for k, p in enumerate(pieces)])


@pytest.mark.parametrize(
    "shape, arg, axis",
    [((6, 2), 3, 0), ((3, 5), [1, 3], 1), ((7,), [3, 1], 0), ((5,), [-2], 0), ((4,), [], 0)],
)
def test_split_grad_and_rop(shape, arg, axis):
    value = RNG.normal(size=shape)
    verify_grad(lambda x: _weighted(ga.split(x, arg, axis)), [value])
    verify_rop(lambda x: _weighted(ga.split(x, arg, axis)), [value])


def test_split_grad_uses_zeros_for_unused_outputs():
    value = RNG.normal(size=(6, 2))
    verify_grad(lambda x: ga.split(x, 3)[1] * 2.0, [value])
    verify_grad(lambda x: ga.split(x, [4, 1])[2], [value])
    x = ga.matrix("x")
    node = ga.split(x, 3)[0].owner
    g = ga.matrix("g")
    (gx,) = node.op.L_op(node.inputs, node.outputs, [None, g, None])
    got = run([x, g], gx, value, np.ones((2, 2)))
    np.testing.assert_array_equal(got, np.r_[np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2))])


def test_split_grad_with_symbolic_indices():
    value = RNG.normal(size=(6,))
    x, j = ga.vector("x"), ga.scalar("j", "int64")
    pieces = ga.split(x, [ga.constant(np.int64(4)), j])
    cost = sum((k + 1) * (p**2).sum() for k, p in enumerate(pieces))
    g = ga.function([x, j], ga.grad(cost, x), mode=MODE)
    for b in (2, 5, -1):
        expected = np.zeros(6)
        for k, piece in enumerate([slice(0, 4), slice(4, b), slice(b, None)]):
            expected[piece] += 2 * (k + 1) * value[piece]
        np.testing.assert_allclose(g(value, b), expected)


def test_split_op_equality():
    assert Split(0, 3, True) == Split(0, 3, True)
    assert Split(0, 3, True) != Split(1, 3, True)
    assert Split(0, 3, True) != Split(0, 3, False)


# tile --------------------------------------------------------------------------------

TILE_CASES = [
    ((3,), 2),
    ((3,), (2, 2)),
    ((2, 3), (2,)),
    ((2, 3), (1, 1)),
    ((2, 3), (2, 1, 3)),
    ((2, 1, 3), (1, 4, 1)),
    ((2, 3), (0, 2)),
    ((0, 3), (2, 2)),
    ((), (3,)),
    ((), ()),
]


@pytest.mark.parametrize("shape, reps", TILE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_tile_matches_numpy(shape, reps, dtype):
    (value,) = values_of([shape], [dtype])
    x = sym(value)
    out = ga.tile(x, reps)
    expected = np.tile(value, reps)
    got = run([x], out, value)
    assert got.dtype == expected.dtype == out.dtype
    np.testing.assert_array_equal(got, expected)
    if out.owner is not None:
        check_infer_shape([x], out, [value])


def test_tile_non_contiguous_and_symbolic_reps():
    value = RNG.normal(size=(4, 6)).T[::2]
    x, r = sym(value), ga.scalar("r", "int64")
    out = ga.tile(x, (r, 2))
    assert out.type.shape == (None, None)
    for k in (0, 1, 3):
        np.testing.assert_array_equal(run([x, r], out, value, k), np.tile(value, (k, 2)))
        check_infer_shape([x, r], out, [value, k])


def test_tile_static_shape():
    x = ga.tensor("x", shape=(2, None))
    assert ga.tile(x, (3, 1)).type.shape == (6, None)
    assert ga.tile(x, (2, 1, 0)).type.shape == (2, 2, 0)
    assert ga.tile(ga.tensor("y", shape=(2, 5)), 3).type.shape == (2, 15)


def test_tile_errors():
    x = ga.matrix("x")
    with pytest.raises(GraphadValueError, match="reps entry 1 is -1"):
        ga.tile(x, (2, -1))
    with pytest.raises(GraphadTypeError, match="reps entry 0"):
        ga.tile(x, (2.0, 1))


@pytest.mark.parametrize("shape, reps", [((3,), 2), ((2, 3), (2, 1, 3)), ((2, 1), (1, 4))])
def test_tile_grad_and_rop(shape, reps):
    value = RNG.normal(size=shape)
    verify_grad(lambda x: ga.tile(x, reps), [value])
    verify_rop(lambda x: ga.tile(x, reps), [value])


# repeat ------------------------------------------------------------------------------

REPEAT_CASES = [
    ((3,), 2, None),
    ((2, 3), 2, None),
    ((2, 3), 3, 0),
    ((2, 3), 2, -1),
    ((2, 3), [1, 0, 2], 1),
    ((2, 3), [2], 0),
    ((2, 3), np.array([3, 1]), -2),
    ((2, 3), 0, 1),
    ((0, 3), 2, 0),
    ((), 3, None),
    ((), 3, 0),
    ((2, 2), [1, 2, 0, 1], None),
]


@pytest.mark.parametrize("shape, repeats, axis", REPEAT_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_repeat_matches_numpy(shape, repeats, axis, dtype):
    (value,) = values_of([shape], [dtype])
    x = sym(value)
    out = ga.repeat(x, repeats, axis=axis)
    expected = np.repeat(value, repeats, axis=axis)
    got = run([x], out, value)
    assert got.dtype == expected.dtype == out.dtype
    np.testing.assert_array_equal(got, expected)
    check_infer_shape([x], out, [value])


def test_repeat_symbolic_repeats():
    value = RNG.normal(size=(3, 2))[:, ::-1]  # non-contiguous
    x, r, v = sym(value), ga.scalar("r", "int32"), ga.vector("v", "int64")
    out, out_v = ga.repeat(x, r, axis=0), ga.repeat(x, v, axis=0)
    for k in (0, 2):
        np.testing.assert_array_equal(run([x, r], out, value, k), np.repeat(value, k, 0))
        check_infer_shape([x, r], out, [value, k])
    for counts in ([1, 0, 3], [2]):
        counts = np.array(counts)
        np.testing.assert_array_equal(
            run([x, v], out_v, value, counts), np.repeat(value, counts, 0)
        )
        check_infer_shape([x, v], out_v, [value, counts])


def test_repeat_static_shape():
    x = ga.tensor("x", shape=(2, None))
    assert ga.repeat(x, 3, axis=0).type.shape == (6, None)
    assert ga.repeat(x, [1, 4], axis=0).type.shape == (5, None)
    assert ga.repeat(x, [2], axis=0).type.shape == (4, None)
    assert ga.repeat(x, 2, axis=1).type.shape == (2, None)
    assert ga.repeat(x, [1, 2, 3], axis=1).type.shape == (2, 6)
    assert ga.repeat(x, ga.scalar("r", "int64"), axis=0).type.shape == (None, None)
    assert ga.repeat(ga.tensor("y", shape=(2, 3)), 2).type.shape == (12,)


def test_repeat_errors():
    x = ga.tensor("x", shape=(2, None))
    with pytest.raises(ShapeError, match=r"3 repeat counts for axis 0 of 'x'.*size 2"):
        ga.repeat(x, [1, 2, 3], axis=0)
    with pytest.raises(GraphadValueError, match="non-negative"):
        ga.repeat(x, -1, axis=0)
    with pytest.raises(GraphadValueError, match="non-negative"):
        ga.repeat(x, [1, -2], axis=0)
    with pytest.raises(GraphadTypeError, match="ints"):
        ga.repeat(x, [1.5, 2], axis=0)
    with pytest.raises(GraphadTypeError, match="repeats must be"):
        ga.repeat(x, 2.0, axis=0)
    with pytest.raises(GraphadTypeError, match="repeats must be"):
        ga.repeat(x, ga.matrix("r", "int64"), axis=0)
    with pytest.raises(GraphadValueError, match="axis 2 is out of range"):
        ga.repeat(x, 2, axis=2)
    with pytest.raises(GraphadValueError, match="out of range"):
        ga.repeat(ga.scalar("s"), 2, axis=1)
    m, v = ga.matrix("m"), ga.vector("v", "int64")
    f = ga.function([m, v], ga.repeat(m, v, axis=1), mode=MODE)
    with pytest.raises(GraphadValueError, match="2 repeat counts for axis 1.*shape \\(2, 3\\)"):
        f(np.ones((2, 3)), np.array([1, 2]))
    with pytest.raises(GraphadValueError, match="non-negative"):
        f(np.ones((2, 3)), np.array([1, -1, 2]))


@pytest.mark.parametrize(
    "shape, repeats, axis",
    [((3,), 2, None), ((2, 3), 3, 1), ((2, 3), [1, 0, 2], 1), ((2, 3), [2], 0),
     ((2, 2), [1, 2, 0, 1], None), ((2, 3), 0, 0)],
)  # fmt: skip
def test_repeat_grad_and_rop(shape, repeats, axis):
    value = RNG.normal(size=shape)
    verify_grad(lambda x: ga.repeat(x, repeats, axis=axis), [value])
    verify_rop(lambda x: ga.repeat(x, repeats, axis=axis), [value])


def test_repeat_op_equality():
    assert Repeat(0) == Repeat(0) and Repeat(0) != Repeat(1)
    assert Concatenate(1) == Concatenate(1) and Concatenate(1) != Concatenate(0)


def test_integer_inputs_have_no_gradient():
    k = ga.vector("k", "int64")
    for out in (ga.concatenate([k, k]), ga.repeat(k, 2), ga.split(k, [1])[0]):
        node = out.owner
        grads = node.op.L_op(node.inputs, node.outputs, [None] * len(node.outputs))
        assert grads[0] is None


# properties and modes ----------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    data=st.data(),
)
def test_split_concatenate_round_trip(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    indices = data.draw(st.lists(st.integers(-6, 6), max_size=3))
    value = np.arange(int(np.prod(shape)), dtype="float64").reshape(shape)
    x = sym(value)
    pieces = ga.split(x, indices, axis=axis)
    got = run([x], pieces + [ga.concatenate(pieces, axis=axis)], value)
    expected = np.split(value, indices, axis=axis)
    for g, e in zip(got, expected + [np.concatenate(expected, axis=axis)]):
        np.testing.assert_array_equal(g, e)


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 3), min_size=1, max_size=4), width=st.integers(0, 3))
def test_repeat_counts_property(counts, width):
    value = RNG.normal(size=(len(counts), width))
    x, r = sym(value), ga.vector("r", "int64")
    out = ga.repeat(x, r, axis=0)
    g = ga.grad((out * out).sum(), x)
    got, got_g = run([x, r], [out, g], value, np.array(counts))
    np.testing.assert_array_equal(got, np.repeat(value, counts, axis=0))
    np.testing.assert_allclose(got_g, 2 * value * np.array(counts)[:, None])


@pytest.mark.parametrize("mode", MODES + ("DEBUG",))
def test_all_ops_in_every_mode(mode):
    x = ga.matrix("x")
    a, b, c = ga.split(x, [1, 3], axis=1)
    parts = [c, a, ga.tile(b, (1, 2)), ga.repeat(a, [2], axis=1), ga.stack([a, a], axis=1)[:, :, 0]]
    out = ga.concatenate(parts, axis=1)
    f = ga.function([x], [out, ga.grad((out**2).sum(), x)], mode=mode)
    value = np.arange(8.0).reshape(2, 4)
    av, bv, cv = np.split(value, [1, 3], axis=1)
    np_parts = [cv, av, np.tile(bv, (1, 2)), np.repeat(av, 2, axis=1), np.c_[av, av]]
    got, grad = f(value)
    np.testing.assert_array_equal(got, np.concatenate(np_parts, axis=1))
    np.testing.assert_allclose(grad, 2 * value * np.array([1 + 2 + 2, 2, 2, 1]))
