"""Optimisers that scale each coordinate's step by its own gradient history: Adagrad and Adadelta."""
import numpy as np

from .optimizer import Optimizer, apply_elementwise, check_non_negative


class Adagrad(Optimizer):
    """torch.optim.Adagrad (Duchi et al., 2011).

    s += g * g;  p -= lr_t * g / (sqrt(s) + eps),  with lr_t = lr / (1 + (t - 1) * lr_decay).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        for name, value in (("learning rate", lr), ("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value), ("epsilon", eps)):
            check_non_negative(name, value)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _init_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, grad, state, group):
        state["step"] += 1
        lr_t = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        apply_elementwise(adagrad_kernel, p, grad, state["sum"], lr=lr_t, eps=float(group["eps"]),
                          weight_decay=float(group["weight_decay"]))


def adagrad_kernel(p, g, total, *, lr, eps, weight_decay):
    if weight_decay != 0:
        g = g + weight_decay * p
    work = np.multiply(g, g)  # one scratch array, reused for every term below
    total += work
    np.sqrt(total, out=work)
    work += eps
    np.divide(g, work, out=work)
    work *= lr
    p -= work


class Adadelta(Optimizer):
    """torch.optim.Adadelta (Zeiler, 2012): steps sized by the running RMS of past steps.

    v = rho v + (1 - rho) g^2;  d = sqrt(u + eps) / sqrt(v + eps) * g;
    u = rho u + (1 - rho) d^2;  p -= lr * d.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        for name, value in (("learning rate", lr), ("epsilon", eps), ("weight_decay", weight_decay)):
            check_non_negative(name, value)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"invalid rho: {rho} (must be in [0, 1])")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": np.zeros_like(p.data), "acc_delta": np.zeros_like(p.data)}

    def _update(self, p, grad, state, group):
        state["step"] += 1
        apply_elementwise(adadelta_kernel, p, grad, state["square_avg"], state["acc_delta"],
                          lr=float(group["lr"]), rho=float(group["rho"]), eps=float(group["eps"]),
                          weight_decay=float(group["weight_decay"]))


def adadelta_kernel(p, g, square_avg, acc_delta, *, lr, rho, eps, weight_decay):
    if weight_decay != 0:
        g = g + weight_decay * p
    work = np.multiply(g, g)  # two scratch arrays, reused for every term below
    work *= 1 - rho
    square_avg *= rho
    square_avg += work
    # sqrt(u + eps) / sqrt(v + eps) as sqrt((u + eps) / (v + eps)): one square root instead of two.
    delta = np.add(acc_delta, eps)
    np.add(square_avg, eps, out=work)
    delta /= work
    np.sqrt(delta, out=delta)
    delta *= g
    np.multiply(delta, delta, out=work)
    work *= 1 - rho
    acc_delta *= rho
    acc_delta += work
    if lr != 1:  # Kim's and PyTorch's default is 1: skip a pass that changes nothing
        delta *= lr
    p -= delta
