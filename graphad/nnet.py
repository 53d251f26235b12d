"""``ga.nnet``: the neural-net functions under the namespace Theano users reach for
(``theano.tensor.nnet``). Each is the same function as the top-level one.

>>> import graphad as ga
>>> z = ga.matrix("z")
>>> ga.nnet.softmax(z).eval({z: [[0.0, 0.0]]}).tolist()
[[0.5, 0.5]]
>>> ga.nnet.relu is ga.relu and ga.nnet.sigmoid is ga.sigmoid
True
"""

from .tensor.math import relu, sigmoid, softplus
from .tensor.nnet import binary_crossentropy, categorical_crossentropy, log_softmax, softmax

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
]
