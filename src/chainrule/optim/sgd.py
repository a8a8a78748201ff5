"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay."""
import numpy as np

from .optimizer import Optimizer, check_non_negative, weight_decayed


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
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, grad, state, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        d = weight_decayed(grad, p, float(group["weight_decay"]))
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, dtype=p.dtype)
            else:
                buf *= momentum
                buf += (1 - float(group["dampening"])) * d
            d = d + momentum * buf if group["nesterov"] else buf
        p.data -= lr * d
