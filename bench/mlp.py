"""W3: the MLP 64-512-512-10 (batch 512, tanh hidden layers with biases, softmax
cross-entropy, float32) in every framework, with its NumPy-by-hand forward and backward
pass and its GEMM flop count. W7 (first_call.py) runs its SGD step in a new process and
W8 divides its loss + gradient time by its loss time.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from workloads import (
    SYMBOLIC,
    Case,
    Setup,
    Target,
    builders,
    jax_module,
    namespace,
    symbolic_inputs,
    symbolic_lib,
    torch_compile,
    xent,
    xent_numpy,
)

LR = 0.01  # the SGD step's learning rate
KINDS = ("loss", "loss+grad", "step")


def mlp_data(smoke: bool):
    """W3's float32 weights and biases [W1, b1, W2, b2, W3, b3], inputs and int64 labels."""
    sizes, batch = ((8, 16, 16, 4), 8) if smoke else ((64, 512, 512, 10), 512)
    rng = np.random.default_rng(3)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((a, b)) / np.sqrt(a)).astype("float32"))
        params.append((0.1 * rng.standard_normal(b)).astype("float32"))
    x = rng.standard_normal((batch, sizes[0])).astype("float32")
    return params, x, rng.integers(0, sizes[-1], batch)


def mlp_loss(fw: str, params, x, y):
    """W3's loss: tanh hidden layers with biases, softmax cross-entropy on the last."""
    m, h = namespace(fw), x
    for w, b in zip(params[0:-2:2], params[1:-2:2]):
        h = m.tanh(h @ w + b)
    return xent(fw, h @ params[-2] + params[-1], y)


def mlp_numpy(params, x, y, kind: str):
    """W3 by hand. kind: "loss" (the loss), "loss+grad" ([loss, *gradients]) or "step"
    (updates ``params`` in place by SGD, returns [loss, *params])."""
    hs = [x]
    for w, b in zip(params[0:-2:2], params[1:-2:2]):
        hs.append(np.tanh(hs[-1] @ w + b))
    z = hs[-1] @ params[-2] + params[-1]
    if kind == "loss":
        return xent_numpy(z, y)
    loss, dz = xent_numpy(z, y, grad=True)  # dz: gradient w.r.t. the layer's pre-activation
    grads = []
    for i in reversed(range(len(hs))):
        grads[:0] = [hs[i].T @ dz, dz.sum(axis=0)]
        if i:
            dz = (dz @ params[2 * i].T) * (1 - hs[i] * hs[i])
    if kind == "loss+grad":
        return [loss, *grads]
    for p, g in zip(params, grads):
        p -= LR * g
    return [loss, *params]


def mlp_runner(fw: str, kind: str, params, x, y):
    """The timed callable of W3 ``kind`` (see `mlp_numpy`) in framework ``fw``."""
    if fw in SYMBOLIC:
        lib, xs = symbolic_lib(fw), symbolic_inputs(fw, [x, y])
        shared = [lib.shared(p.copy()) for p in params]
        loss = mlp_loss(fw, shared, *xs)
        if kind == "loss":
            return partial(lib.function(xs, loss), x, y)
        grads = lib.grad(loss, shared)
        if kind == "loss+grad":
            return partial(lib.function(xs, [loss, *grads]), x, y)
        lr = np.float32(LR)
        fn = lib.function(xs, loss, updates=[(p, p - lr * g) for p, g in zip(shared, grads)])
        return lambda: [fn(x, y), *(p.get_value(borrow=True) for p in shared)]
    if fw == "jax":
        jax = jax_module()
        args = [jax.numpy.asarray(a) for a in (x, y)]
        state = [[jax.numpy.asarray(p) for p in params]]  # the step replaces state[0]
        loss = partial(mlp_loss, "jax")
        if kind != "step":
            f = jax.jit(loss if kind == "loss" else jax.value_and_grad(loss))
            return lambda: jax.block_until_ready(f(state[0], *args))

        @partial(jax.jit, donate_argnums=0)
        def sgd(ps, x, y):
            value, grads = jax.value_and_grad(loss)(ps, x, y)
            return value, [p - LR * g for p, g in zip(ps, grads)]

        def run():
            value, state[0] = sgd(state[0], *args)
            return jax.block_until_ready([value, *state[0]])

        return run
    import torch

    ps = [torch.from_numpy(p.copy()).requires_grad_(kind != "loss") for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss = torch_compile(fw, lambda *ps: mlp_loss(fw, ps, xt, yt))
    if kind == "loss":
        return torch.no_grad()(lambda: loss(*ps))

    def run():
        value = loss(*ps)
        grads = torch.autograd.grad(value, ps)
        if kind == "loss+grad":
            return [value, *grads]
        with torch.no_grad():
            for p, g in zip(ps, grads):
                p.sub_(g, alpha=LR)
        return [value.detach(), *ps]

    return run


def mlp_flops(params, batch: int, kind: str) -> float:
    """GEMM flops of W3: forward 2 B sum(a b); the gradient adds 2 B a b per layer for
    dW and again for the input gradient of every layer but the first; the step adds 2 per
    parameter. (Elementwise work is not counted: it is small next to the GEMMs.)

    >>> params = mlp_data(smoke=False)[0]
    >>> round(mlp_flops(params, 512, "loss+grad") / mlp_flops(params, 512, "loss"), 2)
    2.89
    """
    mats = [w.size for w in params[0::2]]
    forward = 2 * batch * sum(mats)
    if kind == "loss":
        return forward
    grad = forward + 2 * batch * sum(mats) + 2 * batch * sum(mats[1:])
    return grad + (2 * sum(p.size for p in params) if kind == "step" else 0)


def w3(setup: Setup) -> list[Case]:
    """Flops: the GEMMs of the forward (and backward) pass, `mlp_flops`."""
    params, x, y = mlp_data(setup.smoke)
    targets = {"step": Target(0.9, ("numpy", "torch"))}
    cases = []
    for kind in KINDS:
        peer = partial(mlp_runner, kind=kind, params=params, x=x, y=y)
        # NumPy's step updates its own copy of the weights in place
        runs = builders(setup, partial(mlp_numpy, [p.copy() for p in params], x, y, kind), peer)
        reference = mlp_numpy([p.copy() for p in params], x, y, kind)
        model = "GEMM flops: forward" + (", dW, dX" if kind != "loss" else "")
        case = Case(
            "W3", kind, runs, reference, "float32", model, flops=mlp_flops(params, len(x), kind)
        )
        case.target = targets.get(kind)
        cases.append(case)
    return cases
