"""The workloads of issue 6 ("CPU performance") as `Case`s for run.py to time and check.

A case maps each framework to a zero-argument *builder*: calling it imports the
framework, builds and compiles the computation, and returns the zero-argument callable
that run.py times (so a framework that cannot build a case is reported, not fatal). The
case also holds NumPy's result as the reference and the least work the computation
needs (bytes moved or flops), which run.py divides by the machine's limits.

Frameworks: graphad, numpy (by hand), jax (jax.jit), torch (eager), inductor
(torch.compile), pytensor (pytensor.function, default mode). Each is imported only inside
the builders, so a missing peer breaks nothing. W3 lives in mlp.py and W7 in
first_call.py; W8 is derived from W3 and W4.
"""

from __future__ import annotations

import importlib
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

MODULES = {
    "graphad": "graphad",
    "numpy": "numpy",
    "jax": "jax.numpy",
    "torch": "torch",
    "inductor": "torch",
    "pytensor": "pytensor.tensor",
}
SYMBOLIC = ("graphad", "pytensor")  # Theano's API: shared, grad, function(updates=)

TITLES = {
    "W1": "elementwise tanh(x*y + z)*exp(-x*x) + log1p(|z|)/(1 + sqrt(|y|)), array out",
    "W2": "mean softmax cross-entropy, logits 256x1000, int64 labels",
    "W3": "MLP 64-512-512-10, batch 512, tanh, softmax cross-entropy, float32",
    "W4": "row-wise logsumexp of a 4096x4096 matrix",
    "W5": "Hessian-vector product of f(w) = sum(tanh(A @ w)**2), A 2000x2000",
    "W6": "compiled a + b on two float64 0-d scalars, per validated call",
    "W7": "W3's SGD step from graph construction to first result, in a new process",
    "W8": "gradient cost, time(loss + gradients) / time(loss), from W3 and W4",
}

NOTES = {
    "W7": "cold: empty compile caches (JAX: persistent cache off); warm: the caches a run "
    "filled\n    (JAX: its persistent compilation cache); import: the framework's import alone",
}

# W8: (row, workload, loss case, loss + gradient case, theory, graphad's target)
GRAD_COST = (
    ("W3 mlp float32", "W3", "loss", "loss+grad", 2.89, 3.0),
    ("W4 float32", "W4", "float32 fwd", "float32 fwd+grad", 2.0, 2.0),
    ("W4 float64", "W4", "float64 fwd", "float64 fwd+grad", 2.0, 2.0),
)


TOLERANCE = {"float32": 1e-4, "float64": 1e-10}  # relative to the reference's scale


def to_arrays(result) -> list[np.ndarray]:
    """A result (array, scalar, tensor, or nested lists of them) as a flat list of copies.

    >>> [a.tolist() for a in to_arrays([1.0, (np.zeros(2), 3)])]
    [1.0, [0.0, 0.0], 3]
    """
    if isinstance(result, (list, tuple)):
        return [a for item in result for a in to_arrays(item)]
    if hasattr(result, "detach"):  # a torch tensor
        result = result.detach().numpy()
    return [np.array(result, copy=True)]


def check(result, reference, dtype: str) -> tuple[str, float]:
    """("ok" | "FAIL" | "-", error): ``result`` against NumPy's ``reference``. The error is
    the largest |got - want| / (|want| + max |want|), so an entry is judged against both
    its own size and its array's; it must stay under TOLERANCE[dtype]. Shapes must match,
    and so must float dtypes (a 0-d result may be a Python float).

    >>> check([np.float32(1), np.ones(3, "float32")], [1.0, np.ones(3, "float32")], "float32")
    ('ok', 0.0)
    >>> check(np.full(3, 1.001), np.ones(3), "float64")[0]
    'FAIL'
    """
    if reference is None:
        return "-", 0.0
    got, want = to_arrays(result), to_arrays(reference)
    if len(got) != len(want):
        return "FAIL", math.inf
    worst = 0.0
    for g, w in zip(got, want):
        float_dtypes = g.dtype.kind == w.dtype.kind == "f"
        if g.shape != w.shape or (float_dtypes and w.ndim and g.dtype != w.dtype):
            return "FAIL", math.inf
        w = w.astype("float64")
        scale = np.abs(w) + (np.max(np.abs(w)) if w.size else 0.0)
        err = np.abs(g.astype("float64") - w) / np.where(scale > 0, scale, 1.0)
        largest = float(np.max(err, initial=0.0))
        if math.isnan(largest):  # a NaN where NumPy has a number (max() would drop it)
            return "FAIL", largest
        worst = max(worst, largest)
    return ("ok" if worst <= TOLERANCE[dtype] else "FAIL"), worst


@dataclass(frozen=True)
class Target:
    """graphad's median must be at most ``limit`` times the fastest of ``versus``
    (None: of every peer; an empty tuple: ``limit`` is absolute, in the case's unit).

    >>> Target(0.5, ("jax",)).text("ms"), Target(2.0, ()).text("us")
    ('<= 0.5x jax', '<= 2 us')
    """

    limit: float
    versus: tuple[str, ...] | None = None

    def text(self, unit: str) -> str:
        if self.versus == ():
            return f"<= {self.limit:g} {unit}"
        return f"<= {self.limit:g}x " + ("/".join(self.versus) if self.versus else "fastest peer")


@dataclass
class Case:
    """One measured computation: per-framework builders, NumPy's result, the work model."""

    workload: str  # "W1"
    name: str  # "1e7 float32"
    runs: dict[str, Callable[[], Callable[[], object]]]  # framework -> builder
    reference: object  # NumPy's result; None: nothing to check
    dtype: str  # picks the check's tolerance and the GEMM peak
    model: str = ""  # how bytes/flops were counted, for people
    bytes: float = 0.0  # least bytes moved from/to memory (memory-bound cases)
    flops: float = 0.0  # GEMM flops (GEMM-bound cases)
    target: Target | None = None
    unit: str = "ms"
    self_timed: bool = False  # the callable returns (result, seconds) measured elsewhere
    max_reps: int | None = None  # fewer reps than asked for (W7's take seconds each)


@dataclass(frozen=True)
class Setup:
    frameworks: tuple[str, ...]  # graphad plus the importable, selected peers
    smoke: bool = False


def namespace(fw: str):
    """The NumPy-like module of framework ``fw``: tanh, exp, log1p, abs, sqrt, tensor ...

    >>> namespace("numpy").__name__
    'numpy'
    """
    if fw == "jax":
        jax_module()
    return importlib.import_module(MODULES[fw])


def jax_module():
    """jax, with float64 enabled (float32 arrays stay float32)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def symbolic_lib(fw: str):
    """graphad or pytensor, whose shared, grad and function have Theano's signatures."""
    if fw == "pytensor":
        importlib.import_module("pytensor.gradient")  # hessian_vector_product
    return importlib.import_module(fw)


def symbolic_inputs(fw: str, arrays) -> list:
    """graphad or pytensor inputs of the dtypes and ranks of ``arrays``, shapes unknown."""
    m = namespace(fw)
    return [
        m.tensor(f"x{i}", dtype=a.dtype.name, shape=(None,) * a.ndim) for i, a in enumerate(arrays)
    ]


def set_graphad_threads(threads: int) -> bool:
    """Set ``ga.config.threads`` where this graphad has that option; True if it did."""
    import graphad as ga

    try:
        ga.config.threads = threads
    except (AttributeError, ValueError):  # the option is new: older graphads lack it
        return False
    return True


def torch_compile(fw: str, fn):
    """``fn`` for PyTorch eager; torch.compile(fn) (Inductor) for "inductor"."""
    import torch

    return torch.compile(fn) if fw == "inductor" else fn


def builders(setup: Setup, numpy_run: Callable, peer: Callable, skip=()) -> dict:
    """A builder per framework: NumPy's timed callable is ``numpy_run``; any other ``fw``
    gets ``peer(fw)``, called only when run.py builds it."""
    runs = {}
    for fw in setup.frameworks:
        if fw == "numpy":
            runs[fw] = partial(_built, numpy_run)
        elif fw not in skip:
            runs[fw] = partial(peer, fw)
    return runs


def _built(run):
    """The builder of a callable that needs no building (NumPy's)."""
    return run


def expression_runner(fw: str, expr: Callable, arrays, grad: bool = False):
    """The timed callable of ``expr(fw, *inputs)`` on ``arrays`` in framework ``fw``; with
    ``grad`` it returns [value, gradient of sum(value) w.r.t. the first input]."""
    if fw in SYMBOLIC:
        lib, xs = symbolic_lib(fw), symbolic_inputs(fw, arrays)
        out = expr(fw, *xs)
        fn = lib.function(xs, [out, lib.grad(out.sum(), xs[0])] if grad else out)
        return lambda: fn(*arrays)
    if fw == "jax":
        jax = jax_module()
        args = [jax.numpy.asarray(a) for a in arrays]

        def value_and_grad(x0, *rest):
            out, pull = jax.vjp(lambda x: expr(fw, x, *rest), x0)
            return out, pull(jax.numpy.ones_like(out))[0]

        f = jax.jit(value_and_grad if grad else partial(expr, fw))
        return lambda: jax.block_until_ready(f(*args))
    import torch

    f = torch_compile(fw, partial(expr, fw))
    args = [torch.from_numpy(a) for a in arrays]
    if not grad:
        return torch.no_grad()(lambda: f(*args))
    x0 = args[0].requires_grad_(True)

    def run():
        out = f(x0, *args[1:])
        return out, torch.autograd.grad(out.sum(), x0)[0]

    return run


def _count(n: int) -> str:
    return f"{n:.0e}".replace("e+0", "e")


def elementwise(m, x, y, z):
    """W1's expression in the NumPy-like module ``m``.

    >>> float(elementwise(np, 0.0, 0.0, 0.0))
    0.0
    """
    return m.tanh(x * y + z) * m.exp(-x * x) + m.log1p(m.abs(z)) / (1 + m.sqrt(m.abs(y)))


def _elementwise_in(fw, x, y, z):
    return elementwise(namespace(fw), x, y, z)


def w1(setup: Setup) -> list[Case]:
    """Bytes: 3 inputs read + 1 output written, 4 n itemsize (no reuse is possible)."""
    cases = []
    for n in (1_000, 10_000) if setup.smoke else (1_000_000, 10_000_000):
        for dtype in ("float32", "float64"):
            rng = np.random.default_rng(1)
            xs = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
            peer = partial(expression_runner, expr=_elementwise_in, arrays=xs)
            numpy_run = partial(elementwise, np, *xs)
            target = Target(0.5, ("jax",)) if (n, dtype) == (10**7, "float32") else None
            runs = builders(setup, numpy_run, peer)
            model = "3 reads + 1 write of n elements"
            nbytes = 4 * n * np.dtype(dtype).itemsize
            cases.append(
                Case("W1", f"{_count(n)} {dtype}", runs, numpy_run(), dtype, model, nbytes)
            )
            cases[-1].target = target
    return cases


def xent(fw: str, z, y):
    """W2's loss in framework ``fw``: mean cross-entropy of softmax(z) against labels y."""
    if fw == "graphad":
        import graphad as ga

        return ga.categorical_crossentropy(ga.softmax(z), y).mean()
    if fw == "jax":
        jax = jax_module()
        return -jax.numpy.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1).mean()
    if fw in ("torch", "inductor"):
        import torch

        return torch.nn.functional.cross_entropy(z, y)
    import pytensor.tensor as pt

    return -pt.special.log_softmax(z, axis=-1)[pt.arange(y.shape[0]), y].mean()


def xent_numpy(z, y, grad=False):
    """W2 by hand: a max-shifted log-softmax; the gradient is (softmax - onehot) / n.

    >>> float(xent_numpy(np.zeros((2, 4)), np.array([0, 3])))  # log 4
    1.3862943611198906
    """
    rows = np.arange(len(y))
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s[:, 0]) - shifted[rows, y]).mean()
    if not grad:
        return loss
    e /= s
    e[rows, y] -= 1
    e /= len(y)
    return [loss, e]


def w2(setup: Setup) -> list[Case]:
    """Bytes: the logits read once (labels: 8 per row); with the gradient, also written once."""
    n, c = (8, 10) if setup.smoke else (256, 1000)
    rng = np.random.default_rng(2)
    inputs = {
        dtype: [3 * rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)]
        for dtype in ("float32", "float64")
    }
    models = ("logits read", "logits read + gradient written")

    def nbytes(z, grad):
        return (1 + grad) * z.nbytes + 8 * n

    targets = {"float32 fwd+grad": Target(0.8)}
    return _value_and_grad_cases("W2", setup, inputs, xent, xent_numpy, models, nbytes, targets)


def _value_and_grad_cases(workload, setup, inputs, expr, by_hand, models, nbytes, targets):
    """W2 and W4: per dtype, the value ("fwd") and the value with the gradient of its sum
    w.r.t. the first input ("fwd+grad"); ``by_hand(*arrays, grad)`` is NumPy's."""
    cases = []
    for dtype, arrays in inputs.items():
        for grad in (False, True):
            name = f"{dtype} {'fwd+grad' if grad else 'fwd'}"
            numpy_run = partial(by_hand, *arrays, grad)
            peer = partial(expression_runner, expr=expr, arrays=arrays, grad=grad)
            runs = builders(setup, numpy_run, peer)
            case = Case(
                workload, name, runs, numpy_run(), dtype, models[grad], nbytes(arrays[0], grad)
            )
            case.target = targets.get(name)
            cases.append(case)
    return cases


def lse_rows(fw: str, z):
    """W4: logsumexp of each row of ``z`` in framework ``fw``."""
    if fw in ("torch", "inductor"):
        return namespace(fw).logsumexp(z, dim=1)
    if fw == "jax":
        return jax_module().nn.logsumexp(z, axis=1)
    return namespace(fw).logsumexp(z, axis=1)  # graphad, pytensor


def lse_numpy(z, grad=False):
    """W4 by hand: the max-shifted row logsumexp; its gradient (of the sum) is softmax.

    >>> lse_numpy(np.zeros((1, 2)), grad=True)[1].tolist()
    [[0.5, 0.5]]
    """
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    out = (m + np.log(s))[:, 0]
    if not grad:
        return out
    e /= s
    return [out, e]


def w4(setup: Setup) -> list[Case]:
    """Bytes: z read once (a row fits in cache, so one pass over memory is enough); with
    the gradient, the n x n softmax also written once."""
    n = 64 if setup.smoke else 4096
    rng = np.random.default_rng(4)
    inputs = {
        dtype: [rng.standard_normal((n, n)).astype(dtype)] for dtype in ("float32", "float64")
    }
    models = ("z read", "z read + softmax written")

    def nbytes(z, grad):
        return (1 + grad) * z.nbytes + n * z.itemsize

    targets = {"float32 fwd": Target(0.6), "float32 fwd+grad": Target(0.6)}
    return _value_and_grad_cases("W4", setup, inputs, lse_rows, lse_numpy, models, nbytes, targets)


def hvp_numpy(A, w, v):
    """W5 by hand. With u = A w and t = tanh(u), f'' in u is 2 (1 - t^2)(1 - 3 t^2), so
    H v = A^T (f''(u) * (A v)); A w and A v come from one pass over A.

    >>> hvp_numpy(np.eye(2), np.zeros(2), np.ones(2)).tolist()
    [2.0, 2.0]
    """
    u, av = (A @ np.stack([w, v], axis=1)).T
    t = np.tanh(u)
    return A.T @ (2 * (1 - t * t) * (1 - 3 * t * t) * av)


def hvp_runner(fw: str, A, w, v):
    """The timed callable of W5's Hessian-vector product in framework ``fw``."""
    if fw in SYMBOLIC:
        lib, xs = symbolic_lib(fw), symbolic_inputs(fw, [A, w, v])
        cost = (namespace(fw).tanh(xs[0] @ xs[1]) ** 2).sum()
        hvp = lib.hessian_vector_product if fw == "graphad" else lib.gradient.hessian_vector_product
        return partial(lib.function(xs, hvp(cost, xs[1], xs[2])), A, w, v)
    if fw == "jax":
        jax = jax_module()
        args = [jax.numpy.asarray(a) for a in (A, w, v)]
        grad = jax.grad(lambda w, A: (jax.numpy.tanh(A @ w) ** 2).sum())
        f = jax.jit(lambda A, w, v: jax.jvp(partial(grad, A=A), (w,), (v,))[1])
        return lambda: jax.block_until_ready(f(*args))
    import torch  # eager double backward: the gradient with create_graph, then its VJP

    At, wt, vt = torch.from_numpy(A), torch.from_numpy(w).requires_grad_(True), torch.from_numpy(v)

    def run():
        (g,) = torch.autograd.grad((torch.tanh(At @ wt) ** 2).sum(), wt, create_graph=True)
        return torch.autograd.grad(g, wt, vt)[0]

    return run


def w5(setup: Setup) -> list[Case]:
    """Bytes: A read twice, the least forward-over-reverse needs (A [w v], then A^T)."""
    n = 32 if setup.smoke else 2000
    rng = np.random.default_rng(5)
    cases = []
    for dtype in ("float64", "float32"):
        A = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(dtype)
        w, v = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        numpy_run, peer = partial(hvp_numpy, A, w, v), partial(hvp_runner, A=A, w=w, v=v)
        # torch.compile has no double backward
        runs = builders(setup, numpy_run, peer, skip=("inductor",))
        cases.append(Case("W5", dtype, runs, numpy_run(), dtype, "A read twice", 2 * A.nbytes))
        cases[-1].target = Target(1.0, ("numpy",)) if dtype == "float64" else None
    return cases


def add_runner(fw: str, a: float, b: float):
    """W6: the timed callable of a compiled ``a + b`` on float64 0-d values in ``fw``."""
    if fw in SYMBOLIC:
        lib, xs = symbolic_lib(fw), symbolic_inputs(fw, [np.float64(a), np.float64(b)])
        return partial(lib.function(xs, xs[0] + xs[1]), a, b)  # Python floats, validated
    if fw == "jax":
        jax = jax_module()
        f, args = jax.jit(lambda a, b: a + b), [jax.numpy.asarray(a), jax.numpy.asarray(b)]
        return lambda: f(*args).block_until_ready()
    import torch

    f = torch_compile(fw, lambda a, b: a + b)
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return partial(f, ta, tb)


def w6(setup: Setup) -> list[Case]:
    """No work model: the figure is the overhead of one call."""
    a, b = 1.5, 2.25
    numpy_run = partial(operator.add, np.float64(a), np.float64(b))  # NumPy's scalar math
    runs = builders(setup, numpy_run, partial(add_runner, a=a, b=b))
    return [Case("W6", "a + b float64", runs, a + b, "float64", target=Target(2.0, ()), unit="us")]
