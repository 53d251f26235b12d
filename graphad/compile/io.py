"""``ga.In``: an input of ``ga.function`` with a default value or a keyword name of its
own (Theano's ``theano.In``).

``function`` unwraps each ``In`` into its variable, plus the keyword name and the
default the compiled function binds arguments with (``Function._bind``).
"""

from __future__ import annotations

from ..errors import GraphadTypeError
from ..graph.basic import Variable


class In:
    """An input of ``ga.function`` with a default: ``ga.In(y, value=2.0)`` lets a call
    leave ``y`` out. ``name`` is the keyword the input takes (the variable's name by
    default); ``value=None`` means no default.

    >>> import graphad as ga
    >>> x, y = ga.scalar("x"), ga.scalar("y")
    >>> f = ga.function([x, ga.In(y, value=2.0)], x * y)
    >>> float(f(3.0)), float(f(3.0, 10.0)), float(f(3.0, y=0.5))
    (6.0, 30.0, 1.5)
    """

    def __init__(self, variable, value=None, name=None):
        if not isinstance(variable, Variable):
            raise GraphadTypeError(
                f"ga.In wraps a graphad variable, got {variable!r}; build it with "
                "ga.scalar/vector/matrix/tensor"
            )
        if name is not None and not isinstance(name, str):
            raise GraphadTypeError(f"ga.In: name must be a string, got {name!r}")
        self.variable = variable
        self.value = value
        self.name = variable.name if name is None else name

    def __repr__(self):
        return f"In({self.variable!r}, value={self.value!r}, name={self.name!r})"


def unwrap_inputs(inputs):
    """``(variables, names, defaults)`` of ``ga.function``'s ``inputs``: each ``In`` is
    replaced by its variable; ``names`` are the keyword names and ``defaults`` the
    default values (None: the call must give one), one per input. Anything else passes
    through for the maker to check."""
    if isinstance(inputs, (Variable, In)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        return inputs, None, None
    variables, names, defaults = [], [], []
    for item in inputs:
        if isinstance(item, In):
            variables.append(item.variable)
            names.append(item.name)
            defaults.append(item.value)
        else:
            variables.append(item)
            names.append(getattr(item, "name", None))
            defaults.append(None)
    return variables, names, defaults
