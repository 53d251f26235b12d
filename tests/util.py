"""Shared test helpers: finite-difference gradient checks, R_op checks, modes."""

from __future__ import annotations

import numpy as np

import graphad as ga

MODES = ("FAST_COMPILE", "FAST_RUN")

# every FAST_RUN rewrite except fusion, on the reference backend: for tests that look
# at what single rewrite rules made of a graph
REWRITES = ga.compile.modes.Mode("FAST_RUN", passes="REWRITES")
STABILIZED = ga.compile.modes.Mode("FAST_RUN", passes="STABILIZED")
# no rewrites at all, on the reference backend: the graph as written (rewrite tests' oracle)
AS_WRITTEN = ga.compile.modes.Mode("FAST_COMPILE", passes="NONE")


def assert_same_result(f, ref, args):
    """``f`` and ``ref`` give equal arrays (dtype, shape, values; NaN where NaN is;
    -0.0 equals +0.0) for ``args``."""
    got, want = f(*args), ref(*args)
    for g, w in zip(got, want) if isinstance(got, list) else [(got, want)]:
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def random_value(rng, shape, dtype="float64", low=-1.0, high=1.0):
    """A random array of ``shape`` and ``dtype`` within [low, high)."""
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def numeric_grad(fn, values, eps=1e-6):
    """Central finite differences of the scalar ``fn(*values)`` w.r.t. each value."""
    grads = []
    for k, v in enumerate(values):
        v = np.array(v, dtype="float64")
        g = np.zeros_like(v)
        flat, gflat = v.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = fn(*[v if j == k else values[j] for j in range(len(values))])
            flat[i] = old - eps
            minus = fn(*[v if j == k else values[j] for j in range(len(values))])
            flat[i] = old
            gflat[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def verify_grad(build, values, rng=None, rtol=1e-5, atol=1e-6, mode="FAST_COMPILE"):
    """Check ``ga.grad`` of ``build(*vars)`` against finite differences at ``values``.

    ``build`` maps symbolic inputs (float64, shapes of ``values``) to an expression;
    the cost is its inner product with a fixed random projection, so every output
    entry is checked.
    """
    rng = rng or np.random.default_rng(0)
    values = [np.asarray(v, dtype="float64") for v in values]
    xs = [ga.tensor(f"x{i}", "float64", shape=(None,) * v.ndim) for i, v in enumerate(values)]
    out = build(*xs)
    f_out = ga.function(xs, out, mode=mode, on_unused_input="ignore")
    proj = rng.normal(size=np.shape(f_out(*values)))
    cost = (out * proj).sum()
    f_cost = ga.function(xs, cost, mode=mode, on_unused_input="ignore")
    g = ga.function(
        xs, ga.grad(cost, xs, disconnected_inputs="ignore"), mode=mode, on_unused_input="ignore"
    )
    analytic = g(*values)
    numeric = numeric_grad(lambda *vs: float(f_cost(*vs)), values)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


def verify_rop(build, values, rng=None, rtol=1e-6, atol=1e-8, mode="FAST_COMPILE"):
    """Check R_op against L_op with one random inner product <u, J v> = <J^T u, v>, and
    J v against central differences along v."""
    rng = rng or np.random.default_rng(1)
    values = [np.asarray(v, dtype="float64") for v in values]
    xs = [ga.tensor(f"x{i}", "float64", shape=(None,) * v.ndim) for i, v in enumerate(values)]
    vs = [ga.tensor(f"v{i}", "float64", shape=(None,) * v.ndim) for i, v in enumerate(values)]
    out = build(*xs)
    u_val = rng.normal(
        size=np.shape(ga.function(xs, out, mode=mode, on_unused_input="ignore")(*values))
    )
    v_vals = [rng.normal(size=v.shape) for v in values]
    from graphad.autodiff.forward import Rop

    jv = Rop(out, xs, vs)
    jtu = ga.grad((out * u_val).sum(), xs, disconnected_inputs="ignore")
    f = ga.function(xs + vs, [jv] + jtu, mode=mode, on_unused_input="ignore")
    jv_val, *jtu_vals = f(*values, *v_vals)
    left = float(np.sum(u_val * jv_val))
    right = float(sum(np.sum(a * b) for a, b in zip(jtu_vals, v_vals)))
    np.testing.assert_allclose(left, right, rtol=rtol, atol=atol)
    # and J v against a finite-difference directional derivative
    f_out = ga.function(xs, out, mode=mode, on_unused_input="ignore")
    eps = 1e-6
    plus = f_out(*[x + eps * v for x, v in zip(values, v_vals)])
    minus = f_out(*[x - eps * v for x, v in zip(values, v_vals)])
    np.testing.assert_allclose(jv_val, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-6)


def assert_names_input(message, name, position):
    """The error message names the input by name and by position."""
    import re

    assert re.search(rf"\b{re.escape(name)}\b", message), message
    assert re.search(rf"\b{position}\b", message), message
