"""FunctionMaker: turns (inputs, outputs, updates, givens) into a FunctionGraph and a
VM schedule.

The graph it builds has the explicit inputs as its inputs and, as outputs, the user's
outputs followed by the update expressions. Shared variables and constants are
leaves that need no input slot.
"""

from __future__ import annotations

import time
import warnings

from ..errors import (
    GraphadTypeError,
    GraphadValueError,
    ShapeError,
    UnusedInputError,
    describe,
)
from ..graph.basic import Constant, Variable
from ..graph.fgraph import FunctionGraph
from ..graph.traversal import ancestors, clone_replace
from ..graph.verify import lint
from ..tensor.shape import specify_shape
from ..tensor.type import TensorType
from ..tensor.variable import as_tensor_variable, constant
from .modes import get_mode
from .vm import VM


class FunctionMaker:
    """Everything compiled about a function; siblings made by ``copy`` share it."""

    def __init__(self, inputs, outputs, updates, givens, mode, on_unused_input):
        start = time.perf_counter()
        self.mode = get_mode(mode)
        inputs = _check_inputs(inputs)
        outputs = [_as_output(o, i) for i, o in enumerate(outputs)]
        updates = _check_updates(updates)
        updates += _default_updates(outputs + [expr for _, expr in updates], updates)
        givens = _check_givens(givens)
        # only the update targets are kept: the maker must not hold the user's graph
        self.update_vars = [var for var, _ in updates]
        graph_outputs = outputs + [expr for _, expr in updates]
        if givens:
            graph_outputs = clone_replace(graph_outputs, givens)
        # building the graph first reports a missing input before any unused one
        self.fgraph = FunctionGraph(inputs, graph_outputs, clone=True)
        _check_unused(inputs, graph_outputs, on_unused_input)
        self.n_outputs = len(outputs)
        self.timings = {}  # seconds per compile phase, for the profile
        mark = time.perf_counter()
        self.timings["graph"] = mark - start
        self.rewrite()
        self.timings["rewrite"] = time.perf_counter() - mark
        mark = time.perf_counter()
        self.build_vm()
        self.timings["backend"] = time.perf_counter() - mark
        self.compile_time = time.perf_counter() - start

    def rewrite(self):
        """Run the mode's rewrite pipeline; ``self.rewrites`` records what fired."""
        from ..config import config
        from ..rewrite.pipeline import run_pipeline

        checks = config.rewrite_checks or self.mode.lint
        passes = self.mode.passes or self.mode.name
        self.rewrites = run_pipeline(self.fgraph, passes, strict=checks, check=checks)
        for var, shape in self.fgraph.assumed_shapes.items():
            var.assume_shape(shape)

    def build_vm(self):
        if self.mode.lint:
            lint(self.fgraph)
        self.vm = VM(self.fgraph, self._thunk_maker(), check_nan=self.mode.check_nan)
        shared = [v for v in self.vm.slot if getattr(v, "is_shared", False)]
        self.shared_leaves = shared

    def _thunk_maker(self):
        from ..backend.numpy import make_thunk
        from ..config import config
        from ..errors import MissingToolError

        if self.mode.backend not in ("c", "debug"):
            return make_thunk
        if config.device == "cuda" and self.mode.backend == "c":
            try:
                from ..backend.cuda.runtime import current_device
                from ..backend.cuda.thunks import thunk_maker as cuda_thunk_maker

                return cuda_thunk_maker(self.fgraph, self.timings, current_device())
            except MissingToolError as exc:
                _warn_once(f"{exc}; compiled functions run on the CPU")
        from ..backend.c.module import thunk_maker
        from .debug import thunk_maker as debug_thunk_maker

        try:
            if self.mode.backend == "debug":
                return debug_thunk_maker(self.fgraph, self.timings)
            return thunk_maker(self.fgraph, self.timings)
        except MissingToolError as exc:
            _warn_once(f"{exc}; running on the NumPy reference backend instead")
            return make_thunk

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("vm", None)
        state.pop("shared_leaves", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.build_vm()


_warned: set = set()


def _warn_once(msg):
    if msg not in _warned:
        _warned.add(msg)
        warnings.warn(msg, stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside graphad (the user's ga.function line)."""
    from ..graph.basic import user_frame

    return user_frame(2)[1]


def _check_inputs(inputs):
    if isinstance(inputs, Variable):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise GraphadTypeError(f"ga.function inputs must be a list of variables, got {inputs!r}")
    seen = set()
    for i, var in enumerate(inputs):
        if not isinstance(var, Variable):
            raise GraphadTypeError(
                f"input {i} of ga.function is {var!r}, not a graphad variable; build it "
                "with ga.scalar/vector/matrix/tensor"
            )
        if isinstance(var, Constant):
            raise GraphadTypeError(f"input {i} ({var}) is a constant; constants cannot be inputs")
        if getattr(var, "is_shared", False):
            raise GraphadTypeError(
                f"input {i} ({describe(var)}) is a shared variable; shared variables are "
                "implicit inputs: leave it out of the list (or use givens to replace it)"
            )
        if var in seen:
            raise GraphadValueError(f"input {i} ({describe(var)}) appears twice in the inputs")
        seen.add(var)
    return list(inputs)


def _as_output(out, i):
    if isinstance(out, Variable):
        return out
    try:
        return as_tensor_variable(out)
    except Exception:
        raise GraphadTypeError(f"output {i} of ga.function is {out!r}, not a variable") from None


def _check_updates(updates):
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    seen = set()
    result = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise GraphadTypeError(f"update {k} must be a (shared_variable, expression) pair")
        var, expr = pair
        if not getattr(var, "is_shared", False):
            raise GraphadTypeError(
                f"update {k} targets {var!r}, which is not a shared variable; only "
                "variables made by ga.shared can be updated"
            )
        if var in seen:
            raise GraphadValueError(f"shared variable {describe(var)} is updated twice")
        seen.add(var)
        expr = as_tensor_variable(expr)
        if expr.dtype != var.dtype or expr.ndim != var.ndim:
            raise GraphadTypeError(
                f"the update of {describe(var)} has type {expr.type}; it must keep dtype "
                f"{var.dtype} and {var.ndim} dimension(s) (e.g. ga.cast(expr, "
                f"'{var.dtype}'))"
            )
        result.append((var, expr))
    return result


def _default_updates(exprs, updates):
    """The (shared variable, expression) pairs of the shared variables ``exprs`` read
    that carry a ``default_update`` (a RandomStream's counter) and that ``updates``
    does not already update: a function that draws advances its stream by itself."""
    done = {var for var, _ in updates}
    found = []
    for var in ancestors(exprs):
        update = getattr(var, "default_update", None)
        if update is not None and getattr(var, "is_shared", False) and var not in done:
            done.add(var)
            found.append((var, update))
    return found


def _check_givens(givens):
    if givens is None:
        return {}
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    result = {}
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise GraphadTypeError(f"givens entry {k} must be a (variable, replacement) pair")
        old, new = pair
        if not isinstance(old, Variable):
            raise GraphadTypeError(f"givens entry {k}: {old!r} is not a variable")
        if not isinstance(new, Variable):
            new = _givens_value(k, old, new)
        if new.dtype != old.dtype or new.ndim != old.ndim:
            raise GraphadTypeError(
                f"givens entry {k}: {describe(old)} cannot be replaced by {describe(new)} "
                "(dtype and rank must match)"
            )
        shape = getattr(old.type, "shape", None)
        if shape is not None and new.type.shape != shape:
            # the graph was built for old's static shape: new must have it (checked at
            # run time where it is not known now)
            try:
                new = specify_shape(new, shape)
            except ShapeError as exc:
                raise ShapeError(f"givens entry {k}: {describe(old)}: {exc}") from None
            if new.owner is not None:
                new.owner.tag.user_text = f"givens[{old.name or 'input'}]"
        result[old] = new
    return result


def _givens_value(k, old, value):
    """A constant for the value ``value`` that givens entry ``k`` puts in place of
    ``old``, converted as a call argument for ``old`` would be (``TensorType.filter``
    with allow_input_downcast=None): a value that would change raises."""
    what = f"givens entry {k} (the value for {describe(old)})"
    if not isinstance(old.type, TensorType):
        raise GraphadTypeError(f"{what}: only tensor variables can be given values")
    return constant(old.type.filter(value, what=what, hint=None), dtype=old.dtype)


def _check_unused(inputs, outputs, policy):
    if policy not in ("raise", "warn", "ignore"):
        raise GraphadValueError(
            f"on_unused_input must be 'raise', 'warn' or 'ignore', not {policy!r}"
        )
    if policy == "ignore":
        return
    used = set(ancestors(outputs, blockers=inputs))
    for i, var in enumerate(inputs):
        if var not in used:
            msg = (
                f"input {i} ({describe(var)}) is not used to compute the outputs; remove "
                "it or pass on_unused_input='ignore' (or 'warn')"
            )
            if policy == "raise":
                raise UnusedInputError(msg)
            warnings.warn(msg, stacklevel=4)
