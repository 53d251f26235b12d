"""Per-node timing of a compiled function (``ga.function(..., profile=True)``)."""

from __future__ import annotations


class Profile:
    """Collects time per node; ``summary()`` returns a text table."""

    def __init__(self, function):
        self.function = function
        self.calls = 0

    def summary(self) -> str:
        """Per-node time, calls and share of the total, slowest first.

        >>> import graphad as ga
        >>> x = ga.vector("x")
        >>> f = ga.function([x], ga.exp(x), profile=True)
        >>> _ = f([1.0, 2.0])
        >>> "exp" in f.profile.summary()
        True
        """
        vm = self.function.maker.vm
        total = sum(vm.node_time) or 1e-30
        kinds = [getattr(step[0], "kind", "numpy") for step in vm.steps]
        rows = sorted(zip(vm.node_time, vm.node_calls, vm.order, kinds), key=lambda r: -r[0])
        lines = [
            f"graphad profile: {self.calls} call(s), {total * 1e3:.3f} ms in nodes, "
            f"compile {self.function.maker.compile_time * 1e3:.1f} ms",
            f"{'time ms':>10} {'share':>7} {'calls':>6}  backend  node",
        ]
        for t, calls, node, kind in rows:
            lines.append(
                f"{t * 1e3:10.3f} {100 * t / total:6.1f}% {calls:6d}  {kind:7s}  "
                f"{node.op.describe_node(node)}"
            )
        return "\n".join(lines)
