"""ga.RandomStream: Philox4x32-10 against its published answers, the same bits from
NumPy and the C kernels, reproducible streams that advance per call, the distributions'
statistics, gradients of reparameterized draws, and fusion with the work that reads
a draw."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import graphad as ga
from graphad.tensor.random import philox4x32_10

REPO = Path(__file__).resolve().parents[2]

# Random123's tests/kat_vectors, the three "philox4x32 10" lines: counter, key, result
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr, key, expected", KAT)
def test_numpy_philox_known_answers(ctr, key, expected):
    assert tuple(int(w) for w in philox4x32_10(*ctr, *key)) == expected


def test_numpy_philox_is_elementwise():
    got = philox4x32_10(np.array([0, 0xFFFFFFFF]), 0, 0, 0, 0, 0)
    assert int(got[0][0]) == KAT[0][2][0]
    assert got[0].shape == (2,)


def test_c_header_philox_known_answers(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    lines = []
    for ctr, key, _ in KAT:
        args = ", ".join(f"{v}u" for v in (*ctr, *key))
        lines.append(
            f"{{ gd_philox_block b = gd_philox4x32_10({args}); "
            'printf("%08x %08x %08x %08x\\n", b.v[0], b.v[1], b.v[2], b.v[3]); }'
        )
    src = tmp_path / "kat.c"
    src.write_text(
        '#include <stdio.h>\n#include "graphad_philox.h"\nint main(void)\n{\n'
        + "\n".join(lines)
        + "\nreturn 0;\n}\n"
    )
    exe = tmp_path / "kat"
    subprocess.run(
        [cc, "-std=c99", f"-I{REPO / 'kernels'}", str(src), "-o", str(exe), "-lm"], check=True
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(w, 16) for w in out] == [w for _, _, e in KAT for w in e]


def test_cuda_source_compiles_with_nvcc(tmp_path):
    from tests.kernel.test_render_cuda import nvcc as cuda_compiler

    nvcc = cuda_compiler()
    src = tmp_path / "draws.cu"
    src.write_text(
        '#include "graphad_philox.h"\n'
        'extern "C" __global__ void draws(float *u, double *z, long long *b, long long n,\n'
        "                                   long long seed, long long counter)\n"
        "{\n"
        "    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;\n"
        "    if (i >= n) return;\n"
        "    u[i] = gd_philox_uniform_f32(seed, counter, 0u, i);\n"
        "    z[i] = gd_philox_normal(seed, counter, 1u, i);\n"
        "    b[i] = gd_philox_binomial(seed, counter, 2u, i, 5, 0.25);\n"
        "}\n"
    )
    out = tmp_path / "draws.ptx"
    proc = subprocess.run(
        [nvcc, "--ptx", f"-I{REPO / 'kernels'}", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert ".entry draws" in out.read_text()


# --- one draw, every backend ---------------------------------------------------------------


def _draws(mode, seed=11, shape=(257, 33), dtype="float64"):
    """uniform, normal and binomial draws of one stream, compiled in ``mode``."""
    rng = ga.RandomStream(seed)
    x = ga.matrix("x", dtype=dtype)
    outs = [
        rng.uniform(x.shape, dtype=dtype),
        rng.normal(x.shape, dtype=dtype),
        rng.binomial(x.shape, n=3, p=0.4),
        rng.uniform((5,), low=-2.0, high=3.0, dtype=dtype),
    ]
    f = ga.function([x], outs, mode=mode)
    return [f(np.zeros(shape, dtype)) for _ in range(2)]


def _ulps(a, b):
    a, b = np.asarray(a), np.asarray(b)
    ints = np.int32 if a.dtype == np.float32 else np.int64
    return int(np.max(np.abs(a.view(ints).astype(np.int64) - b.view(ints).astype(np.int64))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_c_kernels_give_numpys_bits(dtype):
    ref = _draws("FAST_COMPILE", dtype=dtype)
    fast = _draws("FAST_RUN", dtype=dtype)
    for call_ref, call_fast in zip(ref, fast):
        u, z, b, scaled = call_fast
        np.testing.assert_array_equal(u, call_ref[0])  # uniforms: the same bits
        np.testing.assert_array_equal(b, call_ref[2])
        np.testing.assert_array_equal(scaled, call_ref[3])
        assert _ulps(z, call_ref[1]) <= 2  # normals: libm's log may differ by an ulp
        assert u.dtype == z.dtype == dtype and b.dtype == np.int64


def test_bits_do_not_depend_on_threads_or_layout():
    rng = ga.RandomStream(5)
    x = ga.matrix("x", dtype="float32")
    out = x * rng.uniform(x.shape, dtype="float32")
    f = ga.function([x], out)
    big = np.ones((700, 701), np.float32)  # large enough to split across threads
    rng.seed(5)
    a = f(big)
    rng.seed(5)
    b = f(np.asfortranarray(big))  # another layout: another loop, the same numbers
    np.testing.assert_array_equal(a, b)
    rng.seed(5)
    ref = ga.function([x], out, mode="FAST_COMPILE")
    rng.seed(5)
    np.testing.assert_array_equal(a, ref(big))


def test_same_seed_same_numbers_in_another_process():
    code = (
        "import graphad as ga, numpy as np\n"
        "r = ga.RandomStream(2024)\n"
        "f = ga.function([], [r.uniform((4,)), r.normal((3,)), r.binomial((2,), n=7, p=0.5)])\n"
        "f()\n"
        "print(repr([v.tolist() for v in f()]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-c", code]
    first = subprocess.run(run, capture_output=True, text=True, env=env, check=True).stdout
    rng = ga.RandomStream(2024)
    f = ga.function([], [rng.uniform((4,)), rng.normal((3,)), rng.binomial((2,), n=7, p=0.5)])
    f()
    here = [v.tolist() for v in f()]
    assert first.strip() == repr(here)
    second = subprocess.run(run, capture_output=True, text=True, env=env, check=True).stdout
    assert second == first


# --- the stream ----------------------------------------------------------------------------


def test_each_call_advances_and_seed_restarts():
    rng = ga.RandomStream(1)
    f = ga.function([], rng.uniform((100,)))
    a, b = f(), f()
    assert not np.array_equal(a, b)
    assert rng.state.get_value().tolist() == [1, 2]
    rng.seed(1)
    np.testing.assert_array_equal(f(), a)
    rng.seed(2)
    assert not np.array_equal(f(), a)


def test_two_draws_and_two_functions_never_share_numbers():
    rng = ga.RandomStream(9)
    u1, u2 = rng.uniform((1000,)), rng.uniform((1000,))
    f = ga.function([], [u1, u2])
    g = ga.function([], u1)
    seen = []
    for _ in range(3):
        seen += list(f()) + [g()]
    values = np.concatenate(seen)
    assert len(np.unique(values)) == len(values)


def test_explicit_updates_of_the_state_are_kept():
    rng = ga.RandomStream(4)
    u = rng.uniform((3,))
    f = ga.function([], u, updates=[(rng.state, rng.state)])  # the user's own update wins
    np.testing.assert_array_equal(f(), f())


def test_a_pickled_function_keeps_drawing(tmp_path):
    import pickle

    rng = ga.RandomStream(6)
    f = ga.function([], rng.uniform((4,)))
    g = pickle.loads(pickle.dumps(f))
    a, b = g(), g()
    assert not np.array_equal(a, b)


# --- distributions -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_and_normal_pass_kolmogorov_smirnov(dtype):
    rng = ga.RandomStream(123)
    f = ga.function([], [rng.uniform((20000,), dtype=dtype), rng.normal((20000,), dtype=dtype)])
    for _ in range(3):
        u, z = f()
        assert stats.kstest(u, "uniform").pvalue > 1e-3
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert 0 <= u.min() and u.max() < 1


def test_uniform_and_normal_parameters():
    rng = ga.RandomStream(8)
    f = ga.function([], [rng.uniform((40000,), low=-3, high=5), rng.normal((40000,), 2.0, 0.5)])
    u, z = f()
    assert -3 <= u.min() and u.max() < 5 and abs(u.mean() - 1) < 0.05
    assert abs(z.mean() - 2) < 0.01 and abs(z.std() - 0.5) < 0.01


@pytest.mark.parametrize("n, p", [(1, 0.2), (10, 0.3), (4, 0.9)])
def test_binomial_mean_and_variance(n, p):
    rng = ga.RandomStream(77)
    b = ga.function([], rng.binomial((50000,), n=n, p=p))()
    assert b.dtype == np.int64 and b.min() >= 0 and b.max() <= n
    sd = np.sqrt(n * p * (1 - p))
    assert abs(b.mean() - n * p) < 5 * sd / np.sqrt(len(b))
    assert abs(b.var() / (n * p * (1 - p)) - 1) < 0.05


def test_binomial_probability_broadcasts():
    rng = ga.RandomStream(3)
    p = ga.vector("p")
    f = ga.function([p], rng.binomial((20000, 2), p=p, dtype="float32"))
    b = f([0.1, 0.8])
    assert b.dtype == np.float32
    assert abs(b[:, 0].mean() - 0.1) < 0.01 and abs(b[:, 1].mean() - 0.8) < 0.01


# --- gradients and fusion ------------------------------------------------------------------


def test_reparameterized_normal_gradients_match_finite_differences():
    rng = ga.RandomStream(3)
    m, s = ga.scalar("m"), ga.scalar("s")
    loss = (ga.tanh(rng.normal((500,), mean=m, std=s)) ** 2).mean()
    f = ga.function([m, s], [loss, *ga.grad(loss, [m, s])])

    def at(mv, sv):
        rng.seed(3)  # the same draws every time: the draw is a constant of the graph
        return f(mv, sv)

    _, gm, gs = at(0.3, 1.5)
    h = 1e-6
    assert gm == pytest.approx((at(0.3 + h, 1.5)[0] - at(0.3 - h, 1.5)[0]) / (2 * h), rel=1e-5)
    assert gs == pytest.approx((at(0.3, 1.5 + h)[0] - at(0.3, 1.5 - h)[0]) / (2 * h), rel=1e-5)


def test_dropout_is_one_kernel_with_the_activation():
    rng = ga.RandomStream(0)
    x = ga.matrix("x", dtype="float32")
    out = ga.tanh(x) * rng.binomial(x.shape, p=0.8, dtype="float32") / 0.8
    f = ga.function([x], out)
    fused = [n for n in f.maker.fgraph.apply_nodes if getattr(n.op, "kernel", None)]
    kernels = [n.op.fused_ops for n in fused if "philox_binomial" in n.op.fused_ops]
    assert len(kernels) == 1 and "tanh" in kernels[0] and "mul" in kernels[0]
    y = f(np.ones((200, 50), np.float32))
    kept = y != 0
    assert abs(kept.mean() - 0.8) < 0.02
    np.testing.assert_allclose(y[kept], np.tanh(1.0) / 0.8, rtol=1e-6)


# --- bad arguments -------------------------------------------------------------------------


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ga.GraphadTypeError, match="seed must be an int"):
        ga.RandomStream(1.5)
    with pytest.raises(ga.GraphadValueError, match="64 bits"):
        ga.RandomStream(2**64)
    rng = ga.RandomStream(0)
    with pytest.raises(ga.GraphadTypeError, match="float32 or float64"):
        rng.uniform((3,), dtype="int32")
    with pytest.raises(ga.GraphadTypeError, match="n must be a non-negative Python int"):
        rng.binomial((3,), n=2.5)
    with pytest.raises(ga.GraphadValueError, match="negative size"):
        rng.normal((3, -1))
    with pytest.raises(ga.GraphadTypeError, match="size entry 0"):
        rng.normal((ga.vector("v"),))
    n = ga.scalar("n", dtype="int64")
    f = ga.function([n], rng.uniform((n,)))
    assert f(4).shape == (4,)
    with pytest.raises(ga.GraphadValueError, match="negative size"):
        f(-2)
