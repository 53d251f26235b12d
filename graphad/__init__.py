"""graphad: a define-then-run tensor compiler.

Build a symbolic graph, differentiate it, compile it into a function:

>>> import graphad as ga
>>> x = ga.vector("x")
>>> f = ga.function([x], (x ** 2).sum())
>>> float(f([1.0, 2.0]))
5.0
"""

from . import (
    errors,
    nnet,
    printing,
    tensor,  # callable: ga.tensor("x", shape=(None, 3)) builds an input
)
from .autodiff import (
    Lop,
    Rop,
    disconnected_grad,
    grad,
    grad_clip,
    hessian,
    hessian_vector_product,
    jacobian,
    zero_grad,
)
from .compile.function import Function, function
from .compile.io import In
from .compile.shared import SharedVariable, shared
from .config import config
from .errors import *  # noqa: F403  (the exception classes are public)
from .printing import dprint
from .tensor import math as _math
from .tensor.construct import arange, eye, one_hot
from .tensor.indexing import inc_subtensor, nonzero, set_subtensor, take
from .tensor.join import concatenate, repeat, split, stack, tile
from .tensor.linalg import dot, matmul, outer, tensordot
from .tensor.math import *  # noqa: F403  (every elementwise function)
from .tensor.nnet import (
    binary_crossentropy,
    categorical_crossentropy,
    log_softmax,
    softmax,
)
from .tensor.random import RandomStream
from .tensor.reduce import (
    all,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from .tensor.shape import (
    alloc,
    broadcast_to,
    dimshuffle,
    expand_dims,
    flatten,
    full,
    ones,
    ones_like,
    reshape,
    shape,
    specify_shape,
    squeeze,
    transpose,
    zeros,
    zeros_like,
)
from .tensor.type import TensorType
from .tensor.variable import (
    TensorConstant,
    TensorVariable,
    as_tensor_variable,
    col,
    constant,
    dmatrix,
    dscalar,
    dvector,
    fmatrix,
    fscalar,
    fvector,
    imatrix,
    iscalar,
    ivector,
    lscalar,
    lvector,
    matrix,
    row,
    scalar,
    tensor3,
    tensor4,
    vector,
)

# Every public name of ``import graphad as ga``: the names below, the exception classes
# (errors.__all__) and the elementwise functions (tensor/math.py's __all__).
# tests/test_docs.py checks that each has a docstring with an example, and that no
# public name is missing. Star imports get them all, including the NumPy-style all, any,
# abs, max, min, round, sum.
__all__ = [
    "Function",
    "In",
    "Lop",
    "RandomStream",
    "Rop",
    "SharedVariable",
    "TensorConstant",
    "TensorType",
    "TensorVariable",
    "all",
    "alloc",
    "any",
    "arange",
    "argmax",
    "argmin",
    "as_tensor_variable",
    "binary_crossentropy",
    "broadcast_to",
    "categorical_crossentropy",
    "col",
    "concatenate",
    "config",
    "constant",
    "dimshuffle",
    "disconnected_grad",
    "dmatrix",
    "dot",
    "dprint",
    "dscalar",
    "dvector",
    "expand_dims",
    "eye",
    "flatten",
    "fmatrix",
    "fscalar",
    "full",
    "function",
    "fvector",
    "grad",
    "grad_clip",
    "hessian",
    "hessian_vector_product",
    "imatrix",
    "inc_subtensor",
    "iscalar",
    "ivector",
    "jacobian",
    "log_softmax",
    "logsumexp",
    "lscalar",
    "lvector",
    "matmul",
    "matrix",
    "max",
    "mean",
    "min",
    "nnet",
    "nonzero",
    "one_hot",
    "ones",
    "ones_like",
    "outer",
    "printing",
    "prod",
    "repeat",
    "reshape",
    "specify_shape",
    "row",
    "scalar",
    "set_subtensor",
    "shape",
    "shared",
    "softmax",
    "split",
    "squeeze",
    "stack",
    "std",
    "sum",
    "take",
    "tensor",
    "tensor3",
    "tensor4",
    "tensordot",
    "tile",
    "transpose",
    "var",
    "vector",
    "zero_grad",
    "zeros",
    "zeros_like",
]
__all__ = sorted(__all__ + errors.__all__ + _math.__all__)

__version__ = "0.1.0"
