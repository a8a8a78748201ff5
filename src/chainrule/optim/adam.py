"""Adam and AdamW: steps from bias-corrected running moments of the gradient."""
import math

import numpy as np

from .optimizer import Optimizer, apply_elementwise, check_non_negative


class Adam(Optimizer):
    """torch.optim.Adam (Kingma & Ba, 2015), with AMSGrad (Reddi et al., 2018) as an option.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2   (v_max = max(v_max, v) with amsgrad)
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``weight_decay`` adds wd * p to the gradient (L2 regularisation); AdamW
    instead shrinks the weights directly.
    """

    #: AdamW sets this: decay the weights, not the gradient (Loshchilov & Hutter, 2019).
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        for name, value in (("learning rate", lr), ("epsilon", eps), ("weight_decay", weight_decay)):
            check_non_negative(name, value)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                      "amsgrad": amsgrad})

    def _init_state(self, p, group):
        state = {"step": 0, "exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p.data)
        return state

    def _update(self, p, grad, state, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        state["step"] += 1
        t = state["step"]
        max_sq = None
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:  # amsgrad switched on after the first step
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
            max_sq = state["max_exp_avg_sq"]
        extra = () if max_sq is None else (max_sq,)
        apply_elementwise(adam_kernel, p, grad, state["exp_avg"], state["exp_avg_sq"], *extra,
                          lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                          decoupled=self.decoupled_weight_decay, step_size=lr / (1 - beta1 ** t),
                          sqrt_correction=math.sqrt(1 - beta2 ** t))


def adam_kernel(p, g, m, v, max_sq=None, *, lr, beta1, beta2, eps, weight_decay, decoupled, step_size,
                sqrt_correction):
    """One Adam step in place on (slices of) the parameter, its gradient and its moments."""
    if decoupled:
        p *= 1 - lr * weight_decay
    elif weight_decay != 0:
        g = g + weight_decay * p
    work = np.multiply(g, 1 - beta1)  # one scratch array, reused for every term below
    m *= beta1
    m += work
    np.multiply(g, g, out=work)
    work *= 1 - beta2
    v *= beta2
    v += work
    if max_sq is not None:
        v = np.maximum(max_sq, v, out=max_sq)
    # step_size * m / (sqrt(v) / c + eps) written as (step_size * c) * m / (sqrt(v) + eps * c), with
    # c = sqrt_correction: the same value (up to float32 rounding) in one pass fewer.
    np.sqrt(v, out=work)
    work += eps * sqrt_correction
    np.divide(m, work, out=work)
    work *= step_size * sqrt_correction
    p -= work


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * wd before each step."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
