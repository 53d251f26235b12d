"""Reduction programs: sum/mean/max/min/var/std/logsumexp over each axis, with and
without keepdims, feeding an elementwise epilogue and compiled together with their
gradient; standardization, layer norm and batch norm forward and backward.

Gradients are checked against a hand-derived NumPy gradient (float64, so in the
float32 variant too) and, in the float64 variant, against central finite
differences of the NumPy function."""

import numpy as np
import pytest

import graphad as ga

OPS = ("sum", "mean", "max", "min", "var", "std")
FD_STEP, FD_RTOL, FD_ATOL = 1e-6, 1e-6, 1e-8  # central differences in float64


def finite_differences(f, x):
    """Central differences of the scalar NumPy function f at x (float64)."""
    x = np.asarray(x, "float64").copy()
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + FD_STEP
        up = f(x)
        x[i] = old - FD_STEP
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * FD_STEP)
    return grad


def check_grad(prog, actual, analytic, f, x, what):
    """The gradient against the float64 analytic one (every variant) and, in float64,
    against finite differences of the NumPy function f at x."""
    prog.close(actual, analytic, f"{what} (analytic)")
    if prog.dtype == "float64":
        np.testing.assert_allclose(
            actual, finite_differences(f, x), rtol=FD_RTOL, atol=FD_ATOL, err_msg=f"{what} (FD)"
        )


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axis)


def np_reduce(op, x, axis, keepdims):
    return getattr(np, op)(x, axis=axis, keepdims=keepdims)


def np_reduce_grad(op, x, axis, keepdims, upstream):
    """d sum(upstream * op(x)) / dx, by hand."""
    axes = _axes(axis, x.ndim)
    if not keepdims:
        upstream = np.expand_dims(upstream, axes)
    n = np.prod([x.shape[a] for a in axes])
    if op == "sum":
        local = np.ones_like(x)
    elif op == "mean":
        local = np.full_like(x, 1 / n)
    elif op in ("max", "min"):
        local = (x == getattr(np, op)(x, axis=axes, keepdims=True)).astype("float64")
    elif op == "var":
        local = 2 * (x - x.mean(axis=axes, keepdims=True)) / n
    else:  # std
        local = (x - x.mean(axis=axes, keepdims=True)) / (n * x.std(axis=axes, keepdims=True))
    return upstream * local


MATRIX_AXES = [
    (None, False),
    (None, True),
    (0, False),
    (0, True),
    (1, False),
    (1, True),
    (-1, True),
    ((0, 1), False),
    ((0, 1), True),
]


@pytest.mark.parametrize(("axis", "keepdims"), MATRIX_AXES, ids=str)
def test_matrix_reductions_with_epilogue(prog, axis, keepdims):
    """Each reduction of a matrix feeds tanh(r) + r^2; the function returns the six
    epilogues and the six gradients of their sums w.r.t. x."""
    x = prog.tensor("x", (4, 5))
    outs = [getattr(x, op)(axis=axis, keepdims=keepdims) for op in OPS]
    epis = [ga.tanh(r) + r**2 for r in outs]
    grads = [ga.grad(e.sum(), x) for e in epis]
    f = prog.function([x], epis + grads)

    xs = prog.data(4, 5)
    x64 = xs.astype("float64")
    results = f(xs)
    for k, op in enumerate(OPS):
        r = np_reduce(op, x64, axis, keepdims)
        prog.close(results[k], np.tanh(r) + r**2, f"tanh(r) + r^2 of {op}")

        def loss(v, op=op):
            r = np_reduce(op, v, axis, keepdims)
            return (np.tanh(r) + r**2).sum()

        upstream = 1 - np.tanh(r) ** 2 + 2 * r
        analytic = np_reduce_grad(op, x64, axis, keepdims, upstream)
        check_grad(prog, results[6 + k], analytic, loss, x64, f"gradient of {op}")


TENSOR3_AXES = [
    (None, False),
    (0, True),
    (1, False),
    (2, True),
    (-1, False),
    ((0, 2), True),
    ((1, 2), False),
    ((0, 1, 2), True),
]


@pytest.mark.parametrize(("axis", "keepdims"), TENSOR3_AXES, ids=str)
def test_tensor3_reductions_squared_loss(prog, axis, keepdims):
    """Each reduction of a 3-tensor, returned with ga.grad((out**2).sum(), x)."""
    x = prog.tensor("x", (2, 3, 4))
    outs = [getattr(ga, op)(x, axis=axis, keepdims=keepdims) for op in OPS]
    f = prog.function([x], outs + [ga.grad((r**2).sum(), x) for r in outs])

    xs = prog.data(2, 3, 4)
    x64 = xs.astype("float64")
    results = f(xs)
    for k, op in enumerate(OPS):
        r = np_reduce(op, x64, axis, keepdims)
        prog.close(results[k], r, f"{op}")
        analytic = np_reduce_grad(op, x64, axis, keepdims, 2 * r)
        check_grad(
            prog,
            results[6 + k],
            analytic,
            lambda v, op=op: (np_reduce(op, v, axis, keepdims) ** 2).sum(),
            x64,
            f"gradient of {op}",
        )


def _standardize_grad(z, s, g, axis):
    """d sum(g * z)/dx for z = (x - mean) / std along axis (ddof 0), by hand."""
    return (g - g.mean(axis=axis, keepdims=True) - z * (g * z).mean(axis=axis, keepdims=True)) / s


def test_standardize_rows(prog):
    """Row standardization (x - mean) / std with keepdims; the loss weights z by an
    input t so that its gradient is not the trivial zero."""
    x, t = prog.tensor("x", (6, 5)), prog.tensor("t", (6, 5))
    z = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    loss = (z * t).sum() + (z**3).sum()
    f = prog.function([x, t], [z, loss, ga.grad(loss, x)])

    xs, ts = prog.data(6, 5), prog.data(6, 5)
    x64, t64 = xs.astype("float64"), ts.astype("float64")

    def numpy_loss(v):
        zz = (v - v.mean(axis=1, keepdims=True)) / v.std(axis=1, keepdims=True)
        return (zz * t64).sum() + (zz**3).sum()

    s = x64.std(axis=1, keepdims=True)
    z_np = (x64 - x64.mean(axis=1, keepdims=True)) / s
    out_z, out_loss, out_g = f(xs, ts)
    prog.close(out_z, z_np, "standardized rows")
    prog.close(out_loss, numpy_loss(x64), "loss")
    analytic = _standardize_grad(z_np, s, t64 + 3 * z_np**2, axis=1)
    check_grad(prog, out_g, analytic, numpy_loss, x64, "gradient")


def test_standardize_columns_with_epsilon(prog):
    """Feature-wise standardization with an epsilon, no keepdims (broadcast against
    the trailing axis), spelled with ga.mean / ga.var / ga.sqrt."""
    x = prog.tensor("x", (8, 3))
    eps = 1e-3
    z = (x - ga.mean(x, axis=0)) / ga.sqrt(ga.var(x, axis=0) + eps)
    loss = ga.sum(ga.sin(z) * ga.arange(1, 4))
    f = prog.function([x], [z, ga.grad(loss, x)])

    xs = prog.data(8, 3)
    x64 = xs.astype("float64")
    w = np.arange(1, 4)

    def numpy_loss(v):
        zz = (v - v.mean(axis=0)) / np.sqrt(v.var(axis=0) + eps)
        return (np.sin(zz) * w).sum()

    s = np.sqrt(x64.var(axis=0) + eps)
    z_np = (x64 - x64.mean(axis=0)) / s
    g = np.cos(z_np) * w
    # With eps, std is sqrt(var + eps): z * mean(g z) picks up the factor var / s^2.
    analytic = (g - g.mean(axis=0) - z_np * (g * z_np).mean(axis=0)) / s
    out_z, out_g = f(xs)
    prog.close(out_z, z_np, "standardized columns")
    check_grad(prog, out_g, analytic, numpy_loss, x64, "gradient")


def test_layer_norm_training(prog):
    """Layer norm with a learned gain and bias (shared), a squared-error loss; the
    function returns the input gradient and takes an SGD step on gamma and beta."""
    n, d, lr, eps = 5, 6, 0.1, 1e-5
    x, target = prog.tensor("x", (n, d)), prog.tensor("target", (n, d))
    gamma, beta = prog.shared(np.ones(d), "gamma"), prog.shared(np.zeros(d), "beta")
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    xhat = (x - mu) / ga.sqrt(var + eps)
    y = gamma * xhat + beta
    loss = ((y - target) ** 2).mean()
    gx, gg, gb = ga.grad(loss, [x, gamma, beta])
    step = prog.function(
        [x, target], [loss, y, gx], updates=[(gamma, gamma - lr * gg), (beta, beta - lr * gb)]
    )

    xs, ts = prog.data(n, d), prog.data(n, d)
    x64 = xs.astype("float64")
    g_np, b_np = np.ones(d), np.zeros(d)
    for it in range(3):
        s = np.sqrt(x64.var(axis=-1, keepdims=True) + eps)
        xh = (x64 - x64.mean(axis=-1, keepdims=True)) / s
        y_np = g_np * xh + b_np
        dy = 2 * (y_np - ts) / (n * d)
        dxh = dy * g_np
        gx_np = (
            dxh - dxh.mean(axis=-1, keepdims=True) - xh * (dxh * xh).mean(axis=-1, keepdims=True)
        ) / s

        def numpy_loss(v, g_np=g_np, b_np=b_np):
            vh = (v - v.mean(axis=-1, keepdims=True)) / np.sqrt(v.var(axis=-1, keepdims=True) + eps)
            return ((g_np * vh + b_np - ts) ** 2).mean()

        out_loss, out_y, out_gx = step(xs, ts)
        prog.close(out_loss, numpy_loss(x64), f"loss at step {it}")
        prog.close(out_y, y_np, f"output at step {it}")
        check_grad(prog, out_gx, gx_np, numpy_loss, x64, f"input gradient at step {it}")
        g_np, b_np = g_np - lr * (dy * xh).sum(axis=0), b_np - lr * dy.sum(axis=0)
        prog.close(gamma.get_value(), g_np, f"gamma after step {it}")
        prog.close(beta.get_value(), b_np, f"beta after step {it}")


def test_batch_norm_forward_backward_running_stats(prog):
    """Training-mode batch norm over the batch axis: output, the input/gamma/beta
    gradients of sum(y * dy) for an upstream dy given as input, and the running
    mean and (unbiased, ddof=1) variance as shared updates, over three batches."""
    n, d, eps, momentum = 10, 4, 1e-5, 0.1
    x, dy = prog.tensor("x", (n, d)), prog.tensor("dy", (n, d))
    gamma, beta = prog.shared(np.linspace(0.5, 1.5, d), "gamma"), prog.shared(np.zeros(d), "beta")
    running_mean, running_var = prog.shared(np.zeros(d), "rm"), prog.shared(np.ones(d), "rv")
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mean) / ga.sqrt(var + eps)
    y = gamma * xhat + beta
    gx, gg, gb = ga.grad((y * dy).sum(), [x, gamma, beta])
    bn = prog.function(
        [x, dy],
        [y, gx, gg, gb],
        updates=[
            (running_mean, (1 - momentum) * running_mean + momentum * mean),
            (running_var, (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)),
        ],
    )

    g64 = gamma.get_value().astype("float64")
    rm, rv = np.zeros(d), np.ones(d)
    for it in range(3):
        xs, dys = prog.data(n, d, low=-1, high=3), prog.data(n, d)
        x64, dy64 = xs.astype("float64"), dys.astype("float64")
        inv = 1 / np.sqrt(x64.var(axis=0) + eps)
        xh = (x64 - x64.mean(axis=0)) * inv
        # The classic compact batch-norm backward.
        gx_np = g64 * inv / n * (n * dy64 - dy64.sum(axis=0) - xh * (dy64 * xh).sum(axis=0))

        def numpy_loss(v, dy64=dy64):
            vh = (v - v.mean(axis=0)) / np.sqrt(v.var(axis=0) + eps)
            return ((g64 * vh) * dy64).sum()

        out_y, out_gx, out_gg, out_gb = bn(xs, dys)
        prog.close(out_y, g64 * xh, f"output of batch {it}")
        check_grad(prog, out_gx, gx_np, numpy_loss, x64, f"input gradient of batch {it}")
        prog.close(out_gg, (dy64 * xh).sum(axis=0), f"gamma gradient of batch {it}")
        prog.close(out_gb, dy64.sum(axis=0), f"beta gradient of batch {it}")
        rm = (1 - momentum) * rm + momentum * x64.mean(axis=0)
        rv = (1 - momentum) * rv + momentum * x64.var(axis=0, ddof=1)
        prog.close(running_mean.get_value(), rm, f"running mean after batch {it}")
        prog.close(running_var.get_value(), rv, f"running variance after batch {it}")


def test_spatial_batch_norm_tuple_axes(prog):
    """Batch norm of a (N, C, L) activation over the axes (0, 2) with keepdims, the
    way convolutional nets normalize per channel; gradient w.r.t. x."""
    eps = 1e-4
    x, dy = prog.tensor("x", (3, 2, 4)), prog.tensor("dy", (3, 2, 4))
    m = x.mean(axis=(0, 2), keepdims=True)
    v = x.var(axis=(0, 2), keepdims=True)
    y = (x - m) / ga.sqrt(v + eps)
    f = prog.function([x, dy], [y, ga.grad((y * dy).sum(), x)])

    xs, dys = prog.data(3, 2, 4), prog.data(3, 2, 4)
    x64, dy64 = xs.astype("float64"), dys.astype("float64")
    ax = (0, 2)
    s = np.sqrt(x64.var(axis=ax, keepdims=True) + eps)
    xh = (x64 - x64.mean(axis=ax, keepdims=True)) / s
    analytic = (
        dy64 - dy64.mean(axis=ax, keepdims=True) - xh * (dy64 * xh).mean(axis=ax, keepdims=True)
    ) / s

    def numpy_loss(u):
        uh = (u - u.mean(axis=ax, keepdims=True)) / np.sqrt(u.var(axis=ax, keepdims=True) + eps)
        return (uh * dy64).sum()

    out_y, out_g = f(xs, dys)
    prog.close(out_y, xh, "normalized activations")
    check_grad(prog, out_g, analytic, numpy_loss, x64, "gradient")


def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=_axes(axis, x.ndim))
    return out


@pytest.mark.parametrize(
    ("axis", "keepdims"),
    [(-1, False), (0, True), (1, False), (None, False), ((0, 1), True)],
    ids=str,
)
def test_logsumexp_over_axes(prog, axis, keepdims):
    """logsumexp over each axis feeding an exp epilogue, with its gradient (a softmax
    weighted by the epilogue's derivative)."""
    x = prog.tensor("x", (4, 5))
    lse = ga.logsumexp(x, axis=axis, keepdims=keepdims)
    out = ga.exp(-0.5 * lse)
    f = prog.function([x], [lse, out, ga.grad(out.sum(), x)])

    xs = prog.data(4, 5, low=-2, high=2)
    x64 = xs.astype("float64")
    lse_np = _np_logsumexp(x64, axis, keepdims)
    upstream = -0.5 * np.exp(-0.5 * lse_np)
    if not keepdims:
        upstream = np.expand_dims(upstream, _axes(axis, 2))
    softmax = np.exp(x64 - _np_logsumexp(x64, axis, True))
    out_lse, out_out, out_g = f(xs)
    prog.close(out_lse, lse_np, "logsumexp")
    prog.close(out_out, np.exp(-0.5 * lse_np), "exp epilogue")
    check_grad(
        prog,
        out_g,
        upstream * softmax,
        lambda v: np.exp(-0.5 * _np_logsumexp(v, axis, keepdims)).sum(),
        x64,
        "gradient",
    )


def test_logsumexp_large_logits(prog):
    """logsumexp of logits near 1000 (exp overflows) stays finite and exact, and its
    gradient is the softmax."""
    x = prog.tensor("x", (3, 4))
    lse = ga.logsumexp(x, axis=1)
    f = prog.function([x], [lse, ga.grad(lse.sum(), x)])

    xs = (prog.data(3, 4, low=-20, high=20) + np.array([[1000.0], [-1000.0], [0.0]])).astype(
        prog.dtype
    )
    x64 = xs.astype("float64")
    lse_np = _np_logsumexp(x64, 1, False)
    out_lse, out_g = f(xs)
    assert np.all(np.isfinite(out_lse)) and np.all(np.isfinite(out_g))
    prog.close(out_lse, lse_np, "logsumexp")
    prog.close(out_g, np.exp(x64 - lse_np[:, None]), "softmax gradient")


def test_cross_entropy_with_max_shift_by_hand(prog):
    """Softmax cross-entropy written by hand with the max-shift trick and advanced
    indexing of the true class; the gradient through the max cancels."""
    n, k = 6, 4
    z, labels = prog.tensor("z", (n, k)), prog.tensor("labels", (n,), dtype="int64")
    zs = z - z.max(axis=1, keepdims=True)
    lse = ga.log(ga.exp(zs).sum(axis=1))
    loss = (lse - zs[ga.arange(n), labels]).mean()
    f = prog.function([z, labels], [loss, ga.grad(loss, z)])

    zv = prog.data(n, k, low=-3, high=3)
    ys = np.array([0, 1, 2, 3, 1, 0])
    z64 = zv.astype("float64")

    def numpy_loss(v):
        vs = v - v.max(axis=1, keepdims=True)
        return (np.log(np.exp(vs).sum(axis=1)) - vs[np.arange(n), ys]).mean()

    P = np.exp(z64 - _np_logsumexp(z64, 1, True))
    out_loss, out_g = f(zv, ys)
    prog.close(out_loss, numpy_loss(z64), "loss")
    check_grad(prog, out_g, (P - np.eye(k)[ys]) / n, numpy_loss, z64, "gradient")


def test_unbiased_var_std_ddof(prog):
    """var and std with ddof=1 (the sample statistics) along axis 0, and the
    coefficient of variation std / mean as a loss."""
    x = prog.tensor("x", (7, 3))
    v, s = x.var(axis=0, ddof=1), ga.std(x, axis=0, ddof=1)
    cv = s / x.mean(axis=0)
    f = prog.function([x], [v, s, ga.grad(cv.sum(), x)])

    xs = prog.data(7, 3, low=1, high=3)
    x64 = xs.astype("float64")
    m, sd = x64.mean(axis=0), x64.std(axis=0, ddof=1)
    # d std/dx = (x - m) / ((n - 1) std); d mean/dx = 1 / n.
    analytic = (x64 - m) / (6 * sd * m) - sd / (m**2 * 7)
    out_v, out_s, out_g = f(xs)
    prog.close(out_v, x64.var(axis=0, ddof=1), "variance")
    prog.close(out_s, sd, "standard deviation")
    check_grad(
        prog,
        out_g,
        analytic,
        lambda u: (u.std(axis=0, ddof=1) / u.mean(axis=0)).sum(),
        x64,
        "gradient",
    )


def test_min_max_scaling(prog):
    """Min-max scaling along rows: (x - min) / (max - min); the gradient flows to the
    row's arg-min and arg-max entries as well."""
    x, w = prog.tensor("x", (4, 6)), prog.tensor("w", (4, 6))
    lo, hi = ga.min(x, axis=1, keepdims=True), ga.max(x, axis=1, keepdims=True)
    scaled = (x - lo) / (hi - lo)
    f = prog.function([x, w], [scaled, ga.grad((scaled * w).sum(), x)])

    xs, ws = prog.data(4, 6), prog.data(4, 6)
    x64, w64 = xs.astype("float64"), ws.astype("float64")
    lo_np, hi_np = x64.min(axis=1, keepdims=True), x64.max(axis=1, keepdims=True)
    r = hi_np - lo_np
    s_np = (x64 - lo_np) / r
    is_lo, is_hi = x64 == lo_np, x64 == hi_np
    # d s_j/dx_j = 1/r; d s_j/d lo = (s_j - 1)/r; d s_j/d hi = -s_j / r.
    analytic = (
        w64 / r
        + is_lo * ((w64 * (s_np - 1)).sum(axis=1, keepdims=True) / r)
        + is_hi * ((-w64 * s_np).sum(axis=1, keepdims=True) / r)
    )
    out_s, out_g = f(xs, ws)
    prog.close(out_s, s_np, "scaled rows")

    def numpy_loss(u):
        a, b = u.min(axis=1, keepdims=True), u.max(axis=1, keepdims=True)
        return ((u - a) / (b - a) * w64).sum()

    check_grad(prog, out_g, analytic, numpy_loss, x64, "gradient")


def test_geometric_mean_by_prod(prog):
    """Geometric mean of positive rows via prod(axis=1) ** (1/d), with its gradient
    g / (d x)."""
    x = prog.tensor("x", (3, 4))
    gm = x.prod(axis=1) ** 0.25
    f = prog.function([x], [gm, ga.grad(gm.sum(), x)])

    xs = prog.data(3, 4, low=0.5, high=2.0)
    x64 = xs.astype("float64")
    gm_np = x64.prod(axis=1) ** 0.25
    out_gm, out_g = f(xs)
    prog.close(out_gm, gm_np, "geometric mean")
    check_grad(
        prog,
        out_g,
        gm_np[:, None] / (4 * x64),
        lambda u: (u.prod(axis=1) ** 0.25).sum(),
        x64,
        "gradient",
    )
