"""graphad's exception classes and the helpers that phrase their messages.

Every error a user can see is one of these. Each subclasses the built-in exception a
Python programmer would catch (TypeError, ValueError, IndexError, ...), so
``except TypeError`` keeps working, while ``except GraphadError`` catches them all.
"""

from __future__ import annotations

__all__ = [
    "BackendMismatchError",
    "CacheError",
    "CompileError",
    "ConfigError",
    "DisconnectedInputError",
    "GraphadError",
    "GraphadIndexError",
    "GraphadMemoryError",
    "GraphadOverflowError",
    "GraphadTypeError",
    "GraphadValueError",
    "KernelError",
    "MissingInputError",
    "MissingToolError",
    "NaNError",
    "NonDifferentiableError",
    "RewriteError",
    "ShapeError",
    "UnusedInputError",
]


class GraphadError(Exception):
    """Base class of every exception graphad raises on purpose.

    >>> import graphad as ga
    >>> try:
    ...     ga.function([ga.vector("x")], ga.vector("y"))
    ... except ga.GraphadError as e:
    ...     print(type(e).__name__)
    MissingInputError
    """


class GraphadTypeError(GraphadError, TypeError):
    """A variable, argument or value has the wrong type, dtype or rank.

    >>> import graphad as ga
    >>> try:
    ...     if ga.scalar("x") > 0:  # a symbolic condition has no truth value
    ...         pass
    ... except TypeError as e:
    ...     print(type(e).__name__)
    GraphadTypeError
    """


class GraphadValueError(GraphadError, ValueError):
    """A value or shape is not acceptable (e.g. shapes that do not broadcast).

    >>> import graphad as ga
    >>> try:
    ...     ga.sum(ga.vector("x"), axis=1)
    ... except ValueError as e:
    ...     print(type(e).__name__)
    GraphadValueError
    """


class ShapeError(GraphadValueError):
    """Shapes are incompatible, at graph-build time or at run time.

    >>> import graphad as ga
    >>> x, y = ga.vector("x"), ga.vector("y")
    >>> f = ga.function([x, y], x + y)
    >>> try:
    ...     f([1.0, 2.0], [1.0, 2.0, 3.0])
    ... except ValueError as e:
    ...     print(type(e).__name__)
    ShapeError
    """


class GraphadIndexError(GraphadError, IndexError):
    """An index is out of range for the axis it indexes.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> try:
    ...     x[5].eval({x: [1.0, 2.0]})
    ... except IndexError as e:
    ...     print(type(e).__name__)
    GraphadIndexError
    """


class UnusedInputError(GraphadValueError):
    """An input of ``ga.function`` is not needed to compute the outputs.

    >>> import graphad as ga
    >>> x, y = ga.vector("x"), ga.vector("y")
    >>> try:
    ...     ga.function([x, y], x * 2)
    ... except ValueError as e:
    ...     print(type(e).__name__)
    UnusedInputError
    >>> ga.function([x, y], x * 2, on_unused_input="ignore")([1.0], [5.0]).tolist()
    [2.0]
    """


class MissingInputError(GraphadValueError):
    """A graph needs a free variable that is not among the function's inputs.

    >>> import graphad as ga
    >>> x, y = ga.vector("x"), ga.vector("y")
    >>> try:
    ...     ga.function([x], x + y)
    ... except ValueError as e:
    ...     print(type(e).__name__, e.variable.name)
    MissingInputError y
    """

    def __init__(self, var):
        super().__init__(
            f"the graph depends on {describe(var)}, which is not among the inputs; "
            "add it to the inputs of ga.function (or give it a value with givens)"
        )
        self.variable = var


class DisconnectedInputError(GraphadValueError):
    """``grad`` was asked for a variable the cost does not depend on.

    >>> import graphad as ga
    >>> x, y = ga.vector("x"), ga.vector("y")
    >>> try:
    ...     ga.grad(x.sum(), y)
    ... except ValueError as e:
    ...     print(type(e).__name__)
    DisconnectedInputError
    >>> ga.grad(x.sum(), y, disconnected_inputs="ignore").eval({y: [1.0, 2.0]}).tolist()
    [0.0, 0.0]
    """


class NonDifferentiableError(GraphadTypeError):
    """A gradient was asked with respect to an integer or boolean variable.

    >>> import graphad as ga
    >>> n = ga.vector("n", "int64")
    >>> try:
    ...     ga.grad((n * 1.5).sum(), n)
    ... except TypeError as e:
    ...     print(type(e).__name__)
    NonDifferentiableError
    """


class NaNError(GraphadError, FloatingPointError):
    """DEBUG mode: a node produced NaN or Inf.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> f = ga.function([x], ga.log(x), mode="DEBUG")
    >>> try:
    ...     f([-1.0])
    ... except FloatingPointError as e:
    ...     print(type(e).__name__)
    NaNError
    """


class KernelError(GraphadError, RuntimeError):
    """A node failed while running; the message names the op, shapes and user line.

    Errors of the usual kinds keep their category (an IndexError in a node becomes a
    GraphadIndexError); anything else, such as a RuntimeError in a user-defined op,
    becomes a KernelError:

    >>> import graphad as ga
    >>> from graphad.graph.basic import Apply
    >>> from graphad.graph.op import Op
    >>> class Broken(Op):
    ...     def make_node(self, x):
    ...         return Apply(self, [x], [x.type.make_variable()])
    ...     def perform(self, node, inputs, outputs):
    ...         raise RuntimeError("out of order")
    >>> x = ga.vector("x")
    >>> try:
    ...     Broken()(x).eval({x: [1.0]})
    ... except RuntimeError as e:
    ...     print(type(e).__name__, "|", str(e).splitlines()[0])
    KernelError | `Broken(x)` failed: out of order
    """


class BackendMismatchError(GraphadError, AssertionError):
    """DEBUG mode: a compiled node's result differs from the NumPy reference's (a bug in
    graphad's compiled backend; the message names the node and the first difference).

    >>> import graphad as ga
    >>> issubclass(ga.BackendMismatchError, AssertionError)
    True
    """


class MissingToolError(GraphadError, RuntimeError):
    """An external program (e.g. Graphviz's ``dot``) is missing; says how to install it.

    >>> import os, tempfile
    >>> from unittest import mock
    >>> import graphad as ga
    >>> path = os.path.join(tempfile.mkdtemp(), "g.svg")
    >>> with mock.patch.dict(os.environ, {"PATH": ""}):  # as if Graphviz were absent
    ...     try:
    ...         ga.printing.write_graph(ga.vector("x") + 1, path)
    ...     except RuntimeError as e:
    ...         print(type(e).__name__, "apt-get install graphviz" in str(e))
    MissingToolError True
    """


class RewriteError(GraphadError, RuntimeError):
    """A rewrite rule raised or kept firing (a bug in graphad).

    Raised only with ``ga.config.rewrite_checks`` on (graphad's tests) or in DEBUG
    mode; otherwise the rule is skipped with a warning. It is a RuntimeError:

    >>> import graphad as ga
    >>> issubclass(ga.RewriteError, RuntimeError), issubclass(ga.RewriteError, ga.GraphadError)
    (True, True)
    """


class CompileError(GraphadError, RuntimeError):
    """``ga.function`` failed for a reason graphad did not foresee (a bug in graphad);
    the message names the line that built the outputs and the original error, which is
    chained as ``__cause__``. Other modes may still compile the function.

    >>> import graphad as ga
    >>> issubclass(ga.CompileError, RuntimeError), issubclass(ga.CompileError, ga.GraphadError)
    (True, True)
    """


class CacheError(GraphadError, OSError):
    """The compile cache cannot use a file or folder of its own (not writable, or damaged in
    a way it cannot repair); the message names the path and how to fix it, and ``path``
    holds it. It is an OSError:

    >>> import graphad as ga
    >>> issubclass(ga.CacheError, OSError), issubclass(ga.CacheError, ga.GraphadError)
    (True, True)
    >>> ga.CacheError("/tmp/x is not writable", path="/tmp/x").path
    '/tmp/x'
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class ConfigError(GraphadValueError):
    """An unknown option or a bad value in ``ga.config`` or ``GRAPHAD_FLAGS``.

    >>> import graphad as ga
    >>> before = ga.config.floatX
    >>> try:
    ...     ga.config.floatX = "float128"
    ... except ValueError as e:
    ...     print(type(e).__name__)
    ConfigError
    >>> ga.config.floatX == before  # unchanged
    True
    """


def describe(var) -> str:
    """Short human description of a variable: name (or op) and type.

    >>> import graphad as ga
    >>> describe(ga.vector("x"))
    "'x' (float64[?])"
    """
    label = repr(var.name) if getattr(var, "name", None) else _anonymous_label(var)
    return f"{label} ({var.type})"


def _anonymous_label(var) -> str:
    owner = getattr(var, "owner", None)
    if owner is not None:
        return f"output of {owner.op}"
    return "an unnamed variable"


class GraphadMemoryError(GraphadError, MemoryError):
    """An allocation was refused (e.g. a shape with a huge number of elements).

    >>> import graphad as ga
    >>> try:
    ...     ga.zeros((2**40, 2**40)).eval()
    ... except MemoryError as e:
    ...     print(type(e).__name__)
    GraphadMemoryError
    """


class GraphadOverflowError(GraphadTypeError, OverflowError):
    """A Python int does not fit the dtype it must take (NumPy 2 raises OverflowError).

    >>> import graphad as ga
    >>> try:
    ...     ga.constant(300, dtype="uint8")
    ... except OverflowError as e:
    ...     print(type(e).__name__)
    GraphadOverflowError
    """
