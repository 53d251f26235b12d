"""Tensor types, variables and every tensor op.

``ga.tensor`` is both this subpackage and the constructor of tensor inputs:
``ga.tensor("x", "float32", shape=(None, 3))`` calls ``variable.tensor``, while
``import graphad.tensor.math`` keeps working.

>>> import graphad as ga
>>> x = ga.tensor("x", "float32", shape=(None, 3))
>>> x.type, ga.tensor.math.exp is ga.exp
(TensorType(float32, (None, 3)), True)
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, name=None, dtype=None, shape=None, ndim=None):
        from .variable import tensor

        return tensor(name, dtype, shape, ndim)


sys.modules[__name__].__class__ = _CallableModule
