"""Programs in the shape of the classic Theano tutorials (the basic tutorial,
logistic_sgd.py and mlp.py of the deep-learning tutorials), written with the habits
they teach: model classes holding shared parameters, a data set in shared variables
picked by minibatch through ``givens`` and an integer ``index`` input, ``if W is
None:`` initialisation, truthiness of variables, ``ga.In`` defaults and early
stopping on a validation function. Each is checked against the same program in NumPy
(float64 backprop by hand)."""

import numpy as np
import pytest

import graphad as ga

N_IN, N_HIDDEN, N_OUT = 6, 7, 3
BATCH = 10
N_TRAIN, N_VALID, N_TEST = 60, 30, 30


# --- the tutorials' building blocks, as a user writes them --------------------------------
class LogisticRegression:
    """Multi-class logistic regression: ``softmax(input W + b)``."""

    def __init__(self, prog, input, n_in, n_out):
        self.W = prog.shared(np.zeros((n_in, n_out)), name="W")
        self.b = prog.shared(np.zeros(n_out), name="b")
        self.p_y_given_x = ga.softmax(ga.dot(input, self.W) + self.b)
        self.y_pred = ga.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        return -ga.mean(ga.log(self.p_y_given_x)[ga.arange(y.shape[0]), y])

    def errors(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred")
        if y.dtype.startswith("int"):
            return ga.mean(ga.neq(self.y_pred, y))
        raise NotImplementedError()


class HiddenLayer:
    """``activation(input W + b)``, W initialised uniformly in ±sqrt(6 / (n_in + n_out))
    unless given (the tutorial's Glorot init; x4 for the sigmoid)."""

    def __init__(self, prog, rng, input, n_in, n_out, W=None, b=None, activation=ga.tanh):
        self.input = input
        if W is None:
            bound = np.sqrt(6.0 / (n_in + n_out))
            W_values = rng.uniform(low=-bound, high=bound, size=(n_in, n_out))
            if activation == ga.sigmoid:
                W_values *= 4
            W = prog.shared(W_values, name="W")
        if b is None:
            b = prog.shared(np.zeros(n_out), name="b")
        self.W, self.b = W, b
        lin_output = ga.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]


class MLP:
    """One tanh hidden layer under a logistic-regression layer, with L1 and L2 terms."""

    def __init__(self, prog, rng, input, n_in, n_hidden, n_out):
        self.hiddenLayer = HiddenLayer(prog, rng, input, n_in, n_hidden, activation=ga.tanh)
        self.logRegressionLayer = LogisticRegression(prog, self.hiddenLayer.output, n_hidden, n_out)
        self.L1 = abs(self.hiddenLayer.W).sum() + abs(self.logRegressionLayer.W).sum()
        self.L2_sqr = (self.hiddenLayer.W**2).sum() + (self.logRegressionLayer.W**2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


def sgd_updates(prog, cost, params, learning_rate, momentum=None):
    """Plain SGD, or SGD with momentum when a momentum variable is given (variables are
    truthy, as in Theano: ``if not momentum`` asks whether one was passed)."""
    grads = [ga.grad(cost, p) for p in params]
    if not momentum:
        return [(p, p - learning_rate * g) for p, g in zip(params, grads)]
    updates = []
    for p, g in zip(params, grads):
        velocity = prog.shared(np.zeros(p.get_value().shape), name=f"v_{p.name}")
        step = momentum * velocity - learning_rate * g
        updates += [(velocity, step), (p, p + step)]
    return updates


def shared_dataset(prog, data_xy):
    """The tutorial's loader: both parts in shared variables of floatX (the labels
    too, for the GPU of its day), the labels cast back to int32 for use."""
    data_x, data_y = data_xy
    shared_x = prog.shared(data_x, name="data_x")
    shared_y = prog.shared(data_y, name="data_y")
    return shared_x, ga.cast(shared_y, "int32")


class Best:
    """The parameters at the best validation score (the tutorials pickle them)."""

    def __init__(self, params):
        self.params, self.values = params, None

    def keep(self):
        self.values = [p.get_value() for p in self.params]

    def restore(self):
        for p, v in zip(self.params, self.values):
            p.set_value(v)


def early_stopping(train_batch, validate_batch, n_train, n_valid, n_epochs, patience, keep):
    """The tutorials' loop: train on every minibatch, validate after each epoch, keep
    the best parameters (``keep()``), stop after ``patience`` epochs without progress."""
    best_loss, best_epoch, history = np.inf, 0, []
    for epoch in range(1, n_epochs + 1):
        costs = [float(train_batch(i)) for i in range(n_train)]
        loss = float(np.mean([validate_batch(i) for i in range(n_valid)]))
        history.append((float(np.mean(costs)), loss))
        if loss < best_loss:
            best_loss, best_epoch = loss, epoch
            keep()
        elif epoch - best_epoch >= patience:
            break
    return history, best_loss, best_epoch


def blobs(rng, n, dtype):
    """``n`` points of N_IN features in N_OUT overlapping classes; float labels, as the
    tutorial's pickled MNIST stores them."""
    centers = 2.0 * np.eye(N_OUT, N_IN)
    labels = rng.integers(0, N_OUT, size=n)
    points = centers[labels] + rng.normal(size=(n, N_IN))
    return points.astype(dtype), labels.astype(dtype)


def minibatch_givens(x, y, data_x, data_y, index):
    return {
        x: data_x[index * BATCH : (index + 1) * BATCH],
        y: data_y[index * BATCH : (index + 1) * BATCH],
    }


# --- NumPy mirrors -------------------------------------------------------------------------
def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_forward(params, xs):
    """Class probabilities and hidden activations of the logistic regression
    (params W, b) or the MLP (W1, b1, W2, b2)."""
    if len(params) == 2:
        return np_softmax(xs @ params[0] + params[1]), None
    W1, b1, W2, b2 = params
    h = np.tanh(xs @ W1 + b1)
    return np_softmax(h @ W2 + b2), h


def np_cost_grads(params, xs, ys, l1=0.0, l2=0.0):
    """Cost (mean NLL + L1 + L2 terms on the weights) and its gradients."""
    p, h = np_forward(params, xs)
    n = len(ys)
    cost = -np.log(p[np.arange(n), ys]).mean()
    dz = (p - np.eye(N_OUT)[ys]) / n
    if h is None:
        return cost, [xs.T @ dz, dz.sum(axis=0)]
    W1, _, W2, _ = params
    cost += l1 * (np.abs(W1).sum() + np.abs(W2).sum()) + l2 * ((W1**2).sum() + (W2**2).sum())
    dz1 = (dz @ W2.T) * (1 - h**2)
    reg = [l1 * np.sign(W) + 2 * l2 * W for W in (W1, W2)]
    return cost, [xs.T @ dz1 + reg[0], dz1.sum(axis=0), h.T @ dz + reg[1], dz.sum(axis=0)]


class NumpyTrainer:
    """The same training as the compiled functions, on float64 copies of the data."""

    def __init__(self, params, data, lr, momentum=None, l1=0.0, l2=0.0):
        self.params = [np.asarray(p, dtype="float64") for p in params]
        self.velocity = [np.zeros_like(p) for p in self.params]
        (self.train_x, self.train_y), (self.valid_x, self.valid_y) = data
        self.lr, self.momentum, self.l1, self.l2 = lr, momentum, l1, l2
        self.best = None

    def train_batch(self, i, lr=None):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        cost, grads = np_cost_grads(
            self.params, self.train_x[sl], self.train_y[sl], self.l1, self.l2
        )
        lr = self.lr if lr is None else lr
        for k, g in enumerate(grads):
            if self.momentum is None:
                self.params[k] = self.params[k] - lr * g
            else:
                self.velocity[k] = self.momentum * self.velocity[k] - lr * g
                self.params[k] = self.params[k] + self.velocity[k]
        return cost

    def errors(self, xs, ys):
        return np.mean(np_forward(self.params, xs)[0].argmax(axis=1) != ys)

    def validate_batch(self, i):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        return self.errors(self.valid_x[sl], self.valid_y[sl])

    def keep(self):
        self.best = [p.copy() for p in self.params]


def as_f64(data):
    return [(np.asarray(xs, "float64"), np.asarray(ys).astype("int64")) for xs, ys in data]


def compare_runs(prog, got, want, scale):
    (hist, best, epoch), (hist_np, best_np, epoch_np) = got, want
    assert (epoch, len(hist)) == (epoch_np, len(hist_np)), "early stopping took another path"
    prog.close([h[0] for h in hist], [h[0] for h in hist_np], "mean training cost", scale)
    prog.close([h[1] for h in hist], [h[1] for h in hist_np], "validation error")
    prog.close(best, best_np, "best validation error")


# --- the programs --------------------------------------------------------------------------
def test_basic_tutorial(prog):
    """The basic tutorial: a logistic function, default arguments with ga.In, and the
    accumulator on a shared variable (updates, givens, copy with swap)."""
    x = prog.tensor("x", (2, 2))
    logistic = prog.function([x], 1 / (1 + ga.exp(-x)))
    xv = np.array([[0, 1], [-1, -2]], prog.dtype)
    prog.close(logistic(xv), 1 / (1 + np.exp(-xv.astype("float64"))), "logistic")

    a, y, w = (prog.tensor(n, ()) for n in ("a", "y", "w"))
    f = prog.function([a, ga.In(y, value=1), ga.In(w, value=2, name="w_by_name")], (a + y) * w)
    assert [float(v) for v in (f(33), f(33, 2), f(33, 0, 1))] == [68.0, 70.0, 33.0]
    assert float(f(33, w_by_name=1)) == 34.0 and float(f(33, w_by_name=1, y=0)) == 33.0

    state = ga.shared(0)
    inc = ga.iscalar("inc")
    accumulator = prog.function([inc], state, updates=[(state, state + inc)])
    decrementor = prog.function([inc], state, updates=[(state, state - inc)])
    assert [int(accumulator(1)), int(accumulator(300))] == [0, 1]
    assert int(state.get_value()) == 301
    state.set_value(-1)
    accumulator(3)
    assert int(decrementor(2)) == 2 and int(state.get_value()) == 0

    foo = ga.scalar(dtype=state.dtype)
    skip_shared = prog.function([inc, foo], state * 2 + inc, givens=[(state, foo)])
    assert int(skip_shared(1, 3)) == 7 and int(state.get_value()) == 0

    new_state = ga.shared(0)
    new_accumulator = accumulator.copy(swap={state: new_state})
    new_accumulator(100)
    assert (int(new_state.get_value()), int(state.get_value())) == (100, 0)


def test_logistic_regression_sgd(prog):
    """logistic_sgd.py: minibatches through givens, ga.In for the learning rate, early
    stopping on the validation error, the best parameters restored for the test."""
    rng = prog.rng
    train, valid, test = (blobs(rng, n, prog.dtype) for n in (N_TRAIN, N_VALID, N_TEST))
    train_x, train_y = shared_dataset(prog, train)
    valid_x, valid_y = shared_dataset(prog, valid)

    index = ga.lscalar()
    # the tutorial's ``x = T.matrix('x')``: a shared data set's slices have no static shape
    x, y = ga.matrix("x", prog.dtype), ga.ivector("y")
    lr = prog.tensor("lr", ())
    classifier = LogisticRegression(prog, x, N_IN, N_OUT)
    cost = classifier.negative_log_likelihood(y)
    train_model = prog.function(
        [index, ga.In(lr, value=0.5)],
        cost,
        updates=sgd_updates(prog, cost, classifier.params, lr),
        givens=minibatch_givens(x, y, train_x, train_y, index),
    )
    validate_model = prog.function(
        [index],
        classifier.errors(y),
        givens=minibatch_givens(x, y, valid_x, valid_y, index),
    )
    test_model = prog.function([x, y], classifier.errors(y))

    best = Best(classifier.params)
    initial = [p.get_value() for p in classifier.params]
    n_train, n_valid = N_TRAIN // BATCH, N_VALID // BATCH
    got = early_stopping(train_model, validate_model, n_train, n_valid, 12, 2, best.keep)
    mirror = NumpyTrainer(initial, as_f64([train, valid]), 0.5)
    want = early_stopping(
        mirror.train_batch, mirror.validate_batch, n_train, n_valid, 12, 2, mirror.keep
    )
    compare_runs(prog, got, want, scale=20)

    # the last state, then the best one restored: a zero learning rate changes nothing
    for p, p_np in zip(classifier.params, mirror.params):
        prog.close(p.get_value(), p_np, f"final {p.name}", scale=20)
    best.restore()
    before = [p.get_value() for p in classifier.params]
    cost0 = train_model(0, lr=0.0)
    for p, v in zip(classifier.params, before):
        np.testing.assert_array_equal(p.get_value(), v)
    mirror.params = mirror.best
    xs0, ys0 = as_f64([train])[0]
    prog.close(cost0, np_cost_grads(mirror.params, xs0[:BATCH], ys0[:BATCH])[0], "cost", 20)
    test_x, test_y = as_f64([test])[0]
    prog.close(test_model(test[0], test_y.astype("int32")), mirror.errors(test_x, test_y))


def test_mlp_with_momentum_and_regularization(prog):
    """mlp.py: a HiddenLayer under a LogisticRegression, L1 and L2 terms, momentum from
    a shared variable (truthy, so the momentum branch is taken), minibatches through
    givens, early stopping, and predictions on new data from the trained layers."""
    rng = prog.rng
    train, valid, test = (blobs(rng, n, prog.dtype) for n in (N_TRAIN, N_VALID, N_TEST))
    train_x, train_y = shared_dataset(prog, train)
    valid_x, valid_y = shared_dataset(prog, valid)
    l1, l2, lr = 1e-3, 1e-3, 0.02

    index = ga.lscalar()
    x, y = ga.matrix("x", prog.dtype), ga.ivector("y")
    classifier = MLP(prog, np.random.default_rng(1234), x, N_IN, N_HIDDEN, N_OUT)
    initial = [p.get_value() for p in classifier.params]
    cost = classifier.negative_log_likelihood(y) + l1 * classifier.L1 + l2 * classifier.L2_sqr
    momentum = prog.shared(0.5, name="momentum")
    train_model = prog.function(
        [index],
        cost,
        updates=sgd_updates(prog, cost, classifier.params, lr, momentum),
        givens=minibatch_givens(x, y, train_x, train_y, index),
    )
    validate_model = prog.function(
        [index], classifier.errors(y), givens=minibatch_givens(x, y, valid_x, valid_y, index)
    )

    best = Best(classifier.params)
    n_train, n_valid = N_TRAIN // BATCH, N_VALID // BATCH
    got = early_stopping(train_model, validate_model, n_train, n_valid, 10, 3, best.keep)
    mirror = NumpyTrainer(initial, as_f64([train, valid]), lr, 0.5, l1, l2)
    want = early_stopping(
        mirror.train_batch, mirror.validate_batch, n_train, n_valid, 10, 3, mirror.keep
    )
    compare_runs(prog, got, want, scale=50)
    for p, p_np in zip(classifier.params, mirror.params):
        prog.close(p.get_value(), p_np, f"final {p.name}", scale=50)

    # a second network over new input that shares the trained parameters (W and b given)
    x_new = ga.matrix("x_new", prog.dtype)
    best.restore()
    hidden = HiddenLayer(
        prog, None, x_new, N_IN, N_HIDDEN, W=classifier.hiddenLayer.W, b=classifier.hiddenLayer.b
    )
    out = classifier.logRegressionLayer
    probs = ga.softmax(ga.dot(hidden.output, out.W) + out.b)
    predict = prog.function([x_new], [probs, ga.argmax(probs, axis=1)])
    p_got, labels = predict(test[0])
    mirror.params = mirror.best
    p_np = np_forward(mirror.params, np.asarray(test[0], "float64"))[0]
    prog.close(p_got, p_np, "test probabilities", scale=50)
    np.testing.assert_array_equal(labels, p_np.argmax(axis=1))


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_givens_into_a_static_shape_input(mode):
    """An input declared (4, 3) replaced by a slice whose shape is known only at run
    time: the slice is promised that shape, and a batch of another size is an error
    naming the givens entry."""
    x = ga.tensor("x", "float32", shape=(4, 3))
    data = ga.shared(np.arange(24, dtype="float32").reshape(8, 3))
    index = ga.lscalar()
    f = ga.function(
        [index], [x.sum(), ga.grad((x**2).sum(), x)], mode=mode,
        givens={x: data[index * 4 : (index + 1) * 4]},
    )  # fmt: skip
    total, grad = f(1)
    assert float(total) == float(np.arange(12, 24).sum())
    np.testing.assert_array_equal(grad, 2 * np.arange(12, 24).reshape(4, 3))
    g = ga.function([index], x.sum(), mode=mode, givens={x: data[index * 3 : index * 3 + 3]})
    with pytest.raises(ga.ShapeError, match=r"givens\[x\].*size 3 at run time.*\(4, 3\)"):
        g(0)
    with pytest.raises(ga.ShapeError, match="givens entry 0.*dimension 0.*is 5, not 4"):
        ga.function([], x.sum(), givens={x: ga.constant(np.zeros((5, 3), "float32"))})
