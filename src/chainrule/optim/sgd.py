"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""
import numpy as np

from .optimizer import Optimizer, apply_elementwise, check_non_negative


class SGD(Optimizer):
    """torch.optim.SGD: p -= lr * d, where d is the gradient or its momentum average.

    With momentum mu and dampening tau, the buffer starts as the first
    gradient and then follows b = mu * b + (1 - tau) * g; plain momentum steps
    along b, Nesterov along g + mu * b (Sutskever et al., 2013, in PyTorch's form).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        for name, value in (("learning rate", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            check_non_negative(name, value)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                      "weight_decay": weight_decay, "nesterov": nesterov})

    def _update(self, p, grad, state, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        if momentum == 0:
            apply_elementwise(sgd_kernel, p, grad, lr=lr, weight_decay=weight_decay)
            return
        buf = state.get("momentum_buffer")
        first = buf is None
        if first:
            buf = state["momentum_buffer"] = np.empty_like(p.data)
        apply_elementwise(sgd_momentum_kernel, p, grad, buf, lr=lr, weight_decay=weight_decay, momentum=momentum,
                          dampening=float(group["dampening"]), nesterov=bool(group["nesterov"]), first=first)


def sgd_kernel(p, g, *, lr, weight_decay):
    """p -= lr * (g + wd p), in place on (slices of) the arrays."""
    if weight_decay != 0:
        g = g + weight_decay * p
    p -= lr * g


def sgd_momentum_kernel(p, g, buf, *, lr, weight_decay, momentum, dampening, nesterov, first):
    if weight_decay != 0:
        g = g + weight_decay * p
    if first:  # the buffer starts as the first gradient, undamped (as in PyTorch)
        buf[...] = g
    else:
        buf *= momentum
        buf += (1 - dampening) * g
    d = g + momentum * buf if nesterov else buf
    p -= lr * d
