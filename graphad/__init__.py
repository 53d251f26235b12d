"""graphad: a define-then-run tensor compiler.

Build a symbolic graph, differentiate it, compile it into a function:

>>> import graphad as ga
>>> x = ga.vector("x")
>>> f = ga.function([x], (x ** 2).sum())
>>> float(f([1.0, 2.0]))
5.0
"""

from . import (
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
from .compile.shared import SharedVariable, shared
from .config import config
from .errors import *  # noqa: F403  (the exception classes are public)
from .printing import dprint
from .tensor.construct import arange, eye
from .tensor.indexing import inc_subtensor, set_subtensor, take
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
    constant,
    matrix,
    scalar,
    tensor3,
    tensor4,
    vector,
)

__version__ = "0.1.0"
