"""Per-node timing of a compiled function (``ga.function(..., profile=True)``)."""

from __future__ import annotations

# the compile phases the summary splits the compile time into, as the maker and the C
# backend record them (FunctionMaker.timings)
PHASES = (
    ("graph", "graph (inputs, givens, cloning)"),
    ("rewrite", "rewrite (passes and fusion)"),
    ("codegen", "codegen (C source)"),
    ("compiler", "compiler (cc, 0 on a cache hit)"),
    ("load", "load (the extension module)"),
    ("runtime", "runtime module (once per process)"),
    ("schedule", "setup (imports, thunks, slots)"),
)


class Profile:
    """Collects time per node; ``summary()`` returns a text table."""

    def __init__(self, function):
        self.function = function
        self.calls = 0

    def reset(self):
        """Forget the calls timed so far."""
        vm = self.function.maker.vm
        vm.node_time = [0.0] * len(vm.order)
        vm.node_calls = [0] * len(vm.order)
        self.calls = 0
        self.function.moved[:] = [0, 0]
        for thunk, *_ in vm.steps:
            if hasattr(thunk, "moved"):
                thunk.moved[:] = [0, 0]

    def compile_split(self) -> dict:
        """Seconds per compile phase (PHASES' keys), and "total"."""
        maker = self.function.maker
        t = dict(maker.timings)
        backend = t.pop("backend", 0.0)
        t["schedule"] = max(
            backend - sum(t.get(k, 0.0) for k in ("codegen", "compiler", "load", "runtime")), 0.0
        )
        split = {key: t.get(key, 0.0) for key, _ in PHASES}
        split["total"] = maker.compile_time
        return split

    def summary(self) -> str:
        """Per-node time, calls and share of the total, slowest first; how each node
        ran (a fused C kernel, BLAS, or NumPy; on a GPU a CUDA kernel, cuBLAS, a view,
        or the host); the time per kind; on a GPU the bytes each node moved between
        host and device; and the compile time split into its phases.

        >>> import graphad as ga
        >>> x = ga.vector("x")
        >>> f = ga.function([x], ga.exp(x), profile=True)
        >>> _ = f([1.0, 2.0])
        >>> "exp" in f.profile.summary()
        True
        """
        vm = self.function.maker.vm
        total = sum(vm.node_time) or 1e-30
        kinds = vm.backends()
        rows = sorted(zip(vm.node_time, vm.node_calls, vm.order, kinds), key=lambda r: -r[0])
        lines = [
            f"graphad profile: {self.calls} call(s), {total * 1e3:.3f} ms in nodes, "
            f"mode {self.function.maker.mode.name}",
            f"{'time ms':>10} {'share':>7} {'calls':>6}  {'runs as':9s} node",
        ]
        for t, calls, node, kind in rows:
            lines.append(
                f"{t * 1e3:10.3f} {100 * t / total:6.1f}% {calls:6d}  {kind:9s} "
                f"{node.op.describe_node(node)}"
            )
        lines.append("by kind:")
        for kind in dict.fromkeys(kinds):  # the kinds present, in schedule order
            n = kinds.count(kind)
            t = sum(tn for tn, k in zip(vm.node_time, kinds) if k == kind)
            lines.append(f"  {kind:9s} {n:4d} node(s) {t * 1e3:10.3f} ms {100 * t / total:6.1f}%")
        if vm.device is not None:
            lines += self._transfers(vm)
        split = self.compile_split()
        lines.append(f"compile: {split['total'] * 1e3:.1f} ms")
        for key, label in PHASES:
            lines.append(f"  {label:34s} {split[key] * 1e3:9.1f} ms")
        return "\n".join(lines)

    def _transfers(self, vm) -> list:
        """The transfers between host and device, per node that made any."""
        up, down = self.function.moved
        lines = [
            f"device {vm.device.name}: bytes moved (host -> device / device -> host):",
            f"  {up:12d} / {down:12d}  arguments, shared values and results",
        ]
        for thunk, _, _, node, _ in vm.steps:
            moved = getattr(thunk, "moved", (0, 0))
            if any(moved):
                lines.append(
                    f"  {moved[0]:12d} / {moved[1]:12d}  {thunk.runs_as}: "
                    f"{node.op.describe_node(node)}"
                )
        return lines
