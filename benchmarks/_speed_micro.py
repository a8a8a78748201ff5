"""The per-op overhead workloads of ``bench_speed.py``, once per library.

- ``make_chain(lib)``: forward and backward through 100 small elementwise ops
  (multiply, add, tanh, sigmoid in turn) on a 16x16 array: almost all the time
  is the library's bookkeeping per op, almost none is arithmetic.
- ``make_scalar_mlp(lib)``: a 3-4-4-1 MLP evaluated on four inputs one
  scalar at a time, as micrograd computes, plus a squared loss and its
  backward: the cost of one tiny op, dozens of times over. chainrule runs it
  twice: with ``chainrule.Scalar`` (Python floats, the type made for this)
  and with 0-d Tensors (``chainrule-tensor``: NumPy arrays of one element).
"""
import itertools
import os

import numpy as np

CHAIN_OPS, CHAIN_SIZE = 100, 16
MLP_SIZES = (3, 4, 4, 1)
MLP_INPUTS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
MLP_TARGETS = [1.0, -1.0, -1.0, 1.0]


def _chain(x, tanh, sigmoid):
    y = x
    for i in range(CHAIN_OPS):
        kind = i % 4
        if kind == 0:
            y = y * 1.5
        elif kind == 1:
            y = y + 0.25
        elif kind == 2:
            y = tanh(y)
        else:
            y = sigmoid(y)
    return y.sum()


def make_chain(lib):
    """A step() doing the chain forward and backward; returns the input's gradient as an array."""
    data = np.random.default_rng(0).standard_normal((CHAIN_SIZE, CHAIN_SIZE), dtype=np.float32)
    if lib == "chainrule":
        import chainrule as cr
        x = cr.tensor(data, requires_grad=True)

        def step():
            x.grad = None
            _chain(x, cr.tanh, cr.sigmoid).backward()
            return x.grad
    elif lib == "torch":
        import torch
        x = torch.tensor(data, requires_grad=True)

        def step():
            x.grad = None
            _chain(x, torch.tanh, torch.sigmoid).backward()
            return x.grad.numpy()
    elif lib == "autograd":
        import autograd.numpy as anp
        from autograd import grad
        from autograd.scipy.special import expit  # one op, as the others' sigmoid
        gradient = grad(lambda x: _chain(x, anp.tanh, expit))

        def step():
            return gradient(data)
    elif lib == "mygrad":
        import mygrad as mg
        from mygrad.nnet.activations import sigmoid
        x = mg.tensor(data)

        def step():
            _chain(x, mg.tanh, sigmoid).backward()
            return x.grad
    elif lib == "tinygrad":
        os.environ.setdefault("DEV", "CPU")
        from tinygrad import Tensor
        x = Tensor(data.copy())
        x.requires_grad = True

        def step():
            x.grad = None
            _chain(x, Tensor.tanh, Tensor.sigmoid).backward()
            return x.grad.numpy()
    else:
        raise ValueError(lib)
    return step


def mlp_weights(seed=0):
    """Per layer: a list of neurons, each (weights list, bias), uniform in [-1, 1] as micrograd draws them."""
    rng = np.random.default_rng(seed)
    return [[(rng.uniform(-1, 1, n_in).tolist(), float(rng.uniform(-1, 1))) for _ in range(n_out)]
            for n_in, n_out in itertools.pairwise(MLP_SIZES)]


def _mlp_loss(layers, relu):
    """micrograd's MLP: ReLU on every layer but the last; summed squared error over the inputs."""
    loss = 0.0
    for x, y in zip(MLP_INPUTS, MLP_TARGETS):
        h = x
        for i, layer in enumerate(layers):
            out = []
            for w, b in layer:
                act = b
                for wi, hi in zip(w, h):
                    act = act + wi * hi
                out.append(relu(act) if i < len(layers) - 1 else act)
            h = out
        diff = h[0] - y
        loss = loss + diff * diff
    return loss


def make_scalar_mlp(lib):
    """One step (forward, backward) of the scalar MLP in ``lib``, each weight a scalar of its own."""
    if lib == "micrograd":
        from micrograd.engine import Value
        return _scalar_mlp_step(Value, lambda v: v.relu(), 0.0, lambda loss: loss.data)
    if lib == "chainrule":
        import chainrule as cr
        return _scalar_mlp_step(cr.Scalar, cr.relu, None, lambda loss: loss.data)
    if lib == "chainrule-tensor":
        import chainrule as cr
        return _scalar_mlp_step(lambda v: cr.tensor(v, requires_grad=True), cr.relu, None, lambda loss: loss.item())
    if lib == "torch":
        import torch
        return _scalar_mlp_step(lambda v: torch.tensor(v, requires_grad=True), torch.relu, None,
                                lambda loss: loss.item())
    raise ValueError(lib)


def _scalar_mlp_step(make, relu, no_grad_value, value):
    """``make`` turns a float into the library's scalar; ``no_grad_value`` is what .grad is reset to."""
    layers = [[([make(v) for v in w], make(b)) for w, b in layer] for layer in mlp_weights()]
    params = [p for layer in layers for w, b in layer for p in (*w, b)]

    def step():
        for p in params:
            p.grad = no_grad_value
        loss = _mlp_loss(layers, relu)
        loss.backward()
        return value(loss)
    return step


CHAIN_LIBS = ("chainrule", "torch", "autograd", "mygrad", "tinygrad")
SCALAR_LIBS = ("chainrule", "chainrule-tensor", "micrograd", "torch")
