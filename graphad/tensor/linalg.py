"""Linear algebra: matmul (batched, ``@``), dot, outer, tensordot.

``matmul`` is the one primitive (NumPy's ``np.matmul`` rules: 1-d operands are
promoted and the added axis removed, leading axes broadcast); dot, outer and
tensordot are compositions of it with shape ops.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..backend.c import blas
from ..errors import GraphadTypeError, GraphadValueError, ShapeError
from ..graph.basic import Apply
from ..graph.op import Op, operand, user_expression
from .type import TensorType, broadcast_static, result_dtype
from .variable import as_tensor_variable


class _ThroughBlas:
    """The C path of a BLAS-backed op: a function of blas.py's prebuilt module when
    ``<driver>_ok`` (float32/float64 through CBLAS; NumPy elsewhere)."""

    driver = ""

    def c_callable(self, node):
        """The compiled function computing ``node`` (called with its input arrays,
        returning its output), or None."""
        if not getattr(blas, f"{self.driver}_ok")(node):
            return None
        return blas.function(self.driver, node)

    def cuda_callable(self, node):
        """(``fn(device, inputs) -> [output]``, the inputs it reads on the device)
        computing ``node`` on a GPU (cuBLAS), or None."""
        from ..backend.cuda import cublas

        return cublas.function(self.driver, node)


def check_inner(a, b):
    """ShapeError, worded as the BLAS driver words it, unless the last axis of ``a``
    matches the second-to-last (or only) axis of ``b``."""
    k1, k2 = np.shape(a)[-1], np.shape(b)[-2 if np.ndim(b) > 1 else -1]
    if k1 != k2:
        which = "second-to-last" if np.ndim(b) > 1 else "only"
        raise ShapeError(
            f"matmul: shapes {np.shape(a)} and {np.shape(b)} do not match: {k1} (the "
            f"first's last axis) != {k2} (the second's {which} axis)"
        )


class MatMul(_ThroughBlas, Op):
    """``np.matmul(a, b)``: matrix product, batched over leading axes."""

    driver = "matmul"  # GEMM/GEMV, batched

    fusion_kind = "opaque"

    def user_text(self, node, args):
        return f"{operand(args[0])} @ {operand(args[1])}"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for name, v in (("first", a), ("second", b)):
            if v.ndim == 0:
                raise GraphadValueError(
                    f"matmul: the {name} operand {v} is a scalar; use * for scaling"
                )
        if a.dtype == "bool" and b.dtype == "bool":
            dtype = "bool"
        else:
            dtype = result_dtype(a.dtype, b.dtype)
        sa = (1,) + a.type.shape if a.ndim == 1 else a.type.shape
        sb = b.type.shape + (1,) if b.ndim == 1 else b.type.shape
        k1, k2 = sa[-1], sb[-2]
        if k1 is not None and k2 is not None and k1 != k2:
            raise ShapeError(
                f"matmul: inner dimensions differ: {a} has shape {a.type.shape}, {b} has "
                f"shape {b.type.shape} ({k1} != {k2})"
            )
        batch = broadcast_static([sa[:-2], sb[:-2]], what="matmul batch dimensions")
        shape = batch + (sa[-2], sb[-1])
        if a.ndim == 1:
            shape = shape[:-2] + shape[-1:]
        if b.ndim == 1:
            shape = shape[:-1]
        return Apply(self, [a, b], [TensorType(dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        a, b = inputs
        check_inner(a, b)
        outputs[0][0] = np.asarray(np.matmul(a, b), dtype=node.outputs[0].dtype)

    def infer_shape(self, node, input_shapes):
        from .elemwise import broadcast_shapes_symbolic

        a, b = node.inputs
        sa, sb = list(input_shapes[0]), list(input_shapes[1])
        out = node.outputs[0].type.shape
        batch_static = out[: len(out) - (a.ndim > 1) - (b.ndim > 1)]
        batch = broadcast_shapes_symbolic([sa[:-2], sb[:-2]], batch_static)
        tail = ([sa[-2]] if a.ndim > 1 else []) + ([sb[-1]] if b.ndim > 1 else [])
        return [tuple(batch) + tuple(tail)]

    def L_op(self, inputs, outputs, output_grads):
        from .elemwise import sum_to_shape
        from .shape import expand_dims, squeeze

        a, b = inputs
        (g,) = output_grads
        a2 = expand_dims(a, 0) if a.ndim == 1 else a
        b2 = expand_dims(b, -1) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = expand_dims(g2, -2 if b.ndim > 1 else -1)
        if b.ndim == 1:
            g2 = expand_dims(g2, -1)
        ga = matmul(g2, swapaxes(b2))
        gb = matmul(swapaxes(a2), g2)
        ga = squeeze(ga, -2) if a.ndim == 1 else ga
        gb = squeeze(gb, -1) if b.ndim == 1 else gb
        # batch axes that broadcast in the forward product are summed back
        if ga.ndim != a.ndim or a.ndim > 2:
            ga = sum_to_shape(ga, a)
        if gb.ndim != b.ndim or b.ndim > 2:
            gb = sum_to_shape(gb, b)
        return [ga, gb]

    def R_op(self, inputs, outputs, tangents):
        a, b = inputs
        ta, tb = tangents
        terms = []
        if ta is not None:
            terms.append(matmul(ta, b))
        if tb is not None:
            terms.append(matmul(a, tb))
        if not terms:
            return [None]
        return [terms[0] if len(terms) == 1 else terms[0] + terms[1]]


class Gemm(_ThroughBlas, Op):
    """``beta * C + alpha * (A @ B)`` for matrices A, B and a C that broadcasts to the
    product's shape (BLAS's GEMM; the specialize pass makes it from ``dot`` + ``add``).

    Inputs: ``C, alpha, A, B, beta``, with ``alpha`` and ``beta`` scalars.
    """

    driver = "gemm"  # one GEMM (or GEMV) on an output already holding beta * C

    fusion_kind = "opaque"

    def user_text(self, node, args):
        """``alpha * (A @ B) + beta * C`` without the factors that are 1."""
        c, alpha, a, b, beta = args
        product = f"{operand(a)} @ {operand(b)}"
        if alpha != "1.0" and alpha != "1":
            product = f"{operand(alpha)} * ({product})"
        term = c if beta in ("1.0", "1") else f"{operand(beta)} * {operand(c)}"
        return f"{product} + {term}"

    def make_node(self, c, alpha, a, b, beta):
        c, alpha, a, b, beta = (as_tensor_variable(v) for v in (c, alpha, a, b, beta))
        if a.ndim != 2 or b.ndim != 2 or c.ndim > 2 or alpha.ndim or beta.ndim:
            raise GraphadTypeError(
                f"gemm takes matrices A, B, a C of at most 2 dims and scalar alpha, beta; "
                f"got {a.type}, {b.type}, {c.type}, {alpha.type}, {beta.type}"
            )
        dtypes = {v.dtype for v in (c, alpha, a, b, beta)}
        if len(dtypes) != 1 or a.dtype not in ("float32", "float64"):
            raise GraphadTypeError(f"gemm needs one float dtype for all inputs, got {dtypes}")
        product = MatMul().make_node(a, b).outputs[0].type.shape
        shape = broadcast_static([product, c.type.shape], what="gemm's C and A @ B")
        return Apply(self, [c, alpha, a, b, beta], [TensorType(a.dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        c, alpha, a, b, beta = inputs
        check_inner(a, b)
        out = np.matmul(a, b)
        out *= alpha
        out = out + beta * c  # C may broadcast, so not in place
        outputs[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, node, input_shapes):
        from .elemwise import broadcast_shapes_symbolic

        sc, _, sa, sb, _ = input_shapes
        out = node.outputs[0].type.shape
        return [tuple(broadcast_shapes_symbolic([(sa[0], sb[1]), sc], out))]

    def L_op(self, inputs, outputs, output_grads):
        from .elemwise import sum_to_shape

        c, alpha, a, b, beta = inputs
        (g,) = output_grads
        ab = matmul(a, b)
        g_ab = sum_to_shape(g, ab)  # C may have broadcast the product (a 1-row A)
        return [
            sum_to_shape(g * beta, c),
            (g_ab * ab).sum(),
            alpha * matmul(g_ab, swapaxes(b)),
            alpha * matmul(swapaxes(a), g_ab),
            (g * c).sum(),
        ]

    def R_op(self, inputs, outputs, tangents):
        c, alpha, a, b, beta = inputs
        tc, talpha, ta, tb, tbeta = tangents
        terms = []
        if tc is not None:
            terms.append(beta * tc)
        if tbeta is not None:
            terms.append(tbeta * c)
        if talpha is not None:
            terms.append(talpha * matmul(a, b))
        if ta is not None:
            terms.append(alpha * matmul(ta, b))
        if tb is not None:
            terms.append(alpha * matmul(a, tb))
        if not terms:
            return [None]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        c_terms = tc is not None or tbeta is not None
        if not c_terms or (talpha is None and ta is None and tb is None):
            # C's terms and the product's may broadcast each other: one kind alone
            # may not have the output's shape
            from .shape import broadcast_to

            total = broadcast_to(total, outputs[0].shape)
        return [total]


def swapaxes(x, a=-1, b=-2):
    """``x`` with axes ``a`` and ``b`` exchanged (the last two by default)."""
    from .shape import transpose

    x = as_tensor_variable(x)
    order = list(range(x.ndim))
    a, b = a % x.ndim, b % x.ndim
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (batched over leading axes).

    >>> import graphad as ga
    >>> a = ga.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> (a @ a).eval().tolist()
    [[7.0, 10.0], [15.0, 22.0]]
    """
    return MatMul()(a, b)


def dot(a, b):
    """``np.dot``: matmul for 1-d/2-d operands, scaling for scalars, and for N-d the
    sum over the last axis of ``a`` and the second-to-last of ``b``.

    >>> import graphad as ga
    >>> a = ga.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> ga.dot(a, ga.constant([1.0, 1.0])).eval().tolist()
    [3.0, 7.0]
    >>> ga.dot(2.0, ga.constant([1.0, 2.0])).eval().tolist()
    [2.0, 4.0]
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    axes = [[a.ndim - 1], [max(b.ndim - 2, 0)]]
    return _tensordot(a, b, axes, f"ga.dot({user_expression(a)}, {user_expression(b)})")


def outer(a, b):
    """Outer product of two vectors (inputs are flattened, as in ``np.outer``).

    >>> import graphad as ga
    >>> ga.outer(ga.constant([1, 2]), ga.constant([3, 4, 5])).eval().tolist()
    [[3, 4, 5], [6, 8, 10]]
    """
    from .shape import flatten

    a, b = flatten(as_tensor_variable(a)), flatten(as_tensor_variable(b))
    return a.dimshuffle(0, "x") * b.dimshuffle("x", 0)


def tensordot(a, b, axes=2):
    """``np.tensordot``: sum products over ``axes`` (an int or two lists of axes).

    >>> import graphad as ga
    >>> a = ga.arange(24).reshape((2, 3, 4))
    >>> ga.tensordot(a, ga.ones((3, 4)), axes=2).eval().tolist()
    [66.0, 210.0]
    >>> ga.tensordot(a, ga.ones(2), axes=([0], [0])).eval().shape
    (3, 4)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    text = f"ga.tensordot({user_expression(a)}, {user_expression(b)}, axes={axes!r})"
    return _tensordot(a, b, axes, text)


def _tensordot(a, b, axes, text):
    """tensordot as transposes, reshapes and one product; ``text`` names the product
    in error messages (the user called ``dot`` or ``tensordot``, not ``matmul``)."""
    from .shape import reshape, shape_tuple, transpose

    if isinstance(axes, (numbers.Integral, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise GraphadValueError(
                f"tensordot: axes={n} is out of range for {a.ndim}-d and {b.ndim}-d operands"
            )
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            axes_a, axes_b = ([x] if isinstance(x, numbers.Integral) else list(x) for x in axes)
        except (TypeError, ValueError):
            raise GraphadTypeError(
                f"tensordot: axes must be an int or two lists, got {axes!r}"
            ) from None
        if len(axes_a) != len(axes_b):
            raise GraphadValueError(f"tensordot: axes {axes} name different numbers of axes")
        axes_a = [x % a.ndim for x in axes_a]
        axes_b = [x % b.ndim for x in axes_b]
    for x, y in zip(axes_a, axes_b):
        sx, sy = a.type.shape[x], b.type.shape[y]
        if sx is not None and sy is not None and sx != sy:
            raise ShapeError(f"tensordot: axis {x} of a ({sx}) and axis {y} of b ({sy}) differ")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    sa, sb = shape_tuple(a), shape_tuple(b)
    inner_a, inner_b = _prod([sa[i] for i in axes_a]), _prod([sb[i] for i in axes_b])
    at = reshape(transpose(a, free_a + axes_a), (_prod([sa[i] for i in free_a]), inner_a))
    bt = reshape(transpose(b, axes_b + free_b), (inner_b, _prod([sb[i] for i in free_b])))
    out = matmul(at, bt)
    out.owner.tag.user_text = text
    return reshape(out, tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def _prod(dims):
    from .variable import constant

    total = constant(np.int64(1))
    for d in dims:
        total = total * d
    return total
