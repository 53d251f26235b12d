"""graphad's exception classes and the helpers that phrase their messages.

Every error a user can see is one of these. Each subclasses the built-in exception a
Python programmer would catch (TypeError, ValueError, IndexError, ...), so
``except TypeError`` keeps working, while ``except GraphadError`` catches them all.
"""

from __future__ import annotations

__all__ = [
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
    """Base class of every exception graphad raises on purpose."""


class GraphadTypeError(GraphadError, TypeError):
    """A variable, argument or value has the wrong type, dtype or rank."""


class GraphadValueError(GraphadError, ValueError):
    """A value or shape is not acceptable (e.g. shapes that do not broadcast)."""


class ShapeError(GraphadValueError):
    """Shapes are incompatible, at graph-build time or at run time."""


class GraphadIndexError(GraphadError, IndexError):
    """An index is out of range for the axis it indexes."""


class UnusedInputError(GraphadValueError):
    """An input of ``ga.function`` is not needed to compute the outputs."""


class MissingInputError(GraphadValueError):
    """A graph needs a free variable that is not among the function's inputs."""

    def __init__(self, var):
        super().__init__(
            f"the graph depends on {describe(var)}, which is not among the inputs; "
            "add it to the inputs of ga.function (or give it a value with givens)"
        )
        self.variable = var


class DisconnectedInputError(GraphadValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


class NonDifferentiableError(GraphadTypeError):
    """A gradient was asked with respect to an integer or boolean variable."""


class NaNError(GraphadError, FloatingPointError):
    """DEBUG mode: a node produced NaN or Inf."""


class KernelError(GraphadError, RuntimeError):
    """A node failed while running; the message names the op, shapes and user line."""


class BackendMismatchError(GraphadError, AssertionError):
    """DEBUG mode: a compiled node's result differs from the NumPy reference's."""


class MissingToolError(GraphadError, RuntimeError):
    """An external program (e.g. Graphviz's ``dot``) is missing; says how to install it."""


class RewriteError(GraphadError, RuntimeError):
    """A rewrite rule raised or kept firing (a bug in graphad)."""


class ConfigError(GraphadValueError):
    """An unknown option or a bad value in ``ga.config`` or ``GRAPHAD_FLAGS``."""


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
    """An allocation was refused (e.g. a shape with a huge number of elements)."""


class GraphadOverflowError(GraphadTypeError, OverflowError):
    """A Python int does not fit the dtype it must take (NumPy 2 raises OverflowError)."""


_RUNTIME_CLASSES = (
    (IndexError, GraphadIndexError),
    (MemoryError, GraphadMemoryError),
    (FloatingPointError, NaNError),
    (TypeError, GraphadTypeError),
    (ValueError, GraphadValueError),
)


def node_error(exc, node, inputs):
    """An exception for ``exc`` raised while running ``node``: it names the op, the
    input shapes and dtypes, and where the user built the node; its class keeps the
    category (IndexError stays an IndexError)."""
    from .graph.basic import format_source

    cls = KernelError
    if isinstance(exc, GraphadError) and "__init__" not in vars(type(exc)):
        cls = type(exc)  # keep the precise class (ShapeError stays ShapeError)
    else:
        for builtin, ours in _RUNTIME_CLASSES:
            if isinstance(exc, builtin):
                cls = ours
                break
    shapes = ", ".join(_describe_value(v) for v in inputs)
    message = (
        f"{node.op.describe_node(node)} failed: {exc}\n"
        f"  inputs: {shapes or 'none'}\n"
        f"  built at: {format_source(node.source)}"
    )
    err = cls(message)
    err.node = node
    return err


def _describe_value(value) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None:
        return type(value).__name__
    return f"{dtype}{list(shape)}"
