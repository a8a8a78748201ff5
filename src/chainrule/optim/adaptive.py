"""Optimisers that scale each coordinate's step by its own gradient history: Adagrad and Adadelta."""
import numpy as np

from .optimizer import Optimizer, apply_elementwise, apply_to_rows, check_non_negative, nonzero_rows


def eps_counts(eps, p):
    """Whether eps is above zero in the parameter's dtype (1e-50 is 0 in float32), which the lazy rows need."""
    return p.data.dtype.type(eps) > 0


class Adagrad(Optimizer):
    """torch.optim.Adagrad (Duchi et al., 2011).

    s += g * g;  p -= lr_t * g / (sqrt(s) + eps),  with lr_t = lr / (1 + (t - 1) * lr_decay).

    A zero gradient leaves both s and p as they are (while eps > 0), so of a
    large 2-D parameter whose gradient is zero in most rows (an embedding
    table) only the used rows are updated (``nonzero_rows``), which gives the
    dense update bit for bit.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        for name, value in (("learning rate", lr), ("lr_decay", lr_decay), ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value), ("epsilon", eps)):
            check_non_negative(name, value)
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                      "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _init_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, grad, state, group):
        state["step"] += 1
        lr_t = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        scalars = {"lr": lr_t, "eps": float(group["eps"]), "weight_decay": float(group["weight_decay"])}
        # With eps = 0 an unused row whose sum is still 0 gets 0 / 0 = NaN, as in PyTorch: update every row.
        rows = nonzero_rows(grad) if scalars["weight_decay"] == 0 and eps_counts(scalars["eps"], p) else None
        if rows is None:
            apply_elementwise(adagrad_kernel, p, grad, state["sum"], **scalars)
            return
        apply_to_rows(adagrad_kernel, p, grad, rows, state["sum"], **scalars)


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

    Sparse rows (an embedding table, where a batch uses a few rows): where
    g = 0 the step only multiplies v and u by rho and leaves p. So for a large
    2-D parameter whose gradient is zero in most rows (``nonzero_rows``), and
    without weight decay, only the used rows are updated; each other row's
    factors of rho are multiplied into the per-row state ``row_decay`` and
    applied to its v and u when it is next used, or all at once when a step
    uses most rows. Rows of ``square_avg`` and ``acc_delta`` whose
    ``row_decay`` is not 1 are therefore still to be multiplied by it. The
    result is the dense update's up to float32 rounding (rho^k applied once
    instead of rho k times); ``optimizer.LAZY_ROWS = False`` turns this off.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        for name, value in (("learning rate", lr), ("epsilon", eps), ("weight_decay", weight_decay)):
            check_non_negative(name, value)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"invalid rho: {rho} (must be in [0, 1])")
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": np.zeros_like(p.data), "acc_delta": np.zeros_like(p.data)}

    def _state_shape(self, name, p):
        return p.shape[:1] if name == "row_decay" else p.shape

    def _update(self, p, grad, state, group):
        state["step"] += 1
        scalars = {"lr": float(group["lr"]), "rho": float(group["rho"]), "eps": float(group["eps"]),
                       "weight_decay": float(group["weight_decay"])}
        # With eps = 0, 0 / 0 = NaN in every unused row whose v and u are still 0, as in PyTorch.
        rows = nonzero_rows(grad) if scalars["weight_decay"] == 0 and eps_counts(scalars["eps"], p) else None
        if rows is None:
            if "row_decay" in state:
                _catch_up(state)
            apply_elementwise(adadelta_kernel, p, grad, state["square_avg"], state["acc_delta"], **scalars)
            return
        decay = state.get("row_decay")
        if decay is None:
            decay = state["row_decay"] = np.ones(p.shape[0], dtype=p.dtype)
        # The used rows' v and u first catch up on the decays they owe.
        apply_to_rows(adadelta_kernel, p, grad, rows, state["square_avg"], state["acc_delta"],
                      state_scale=decay[rows], **scalars)
        decay *= scalars["rho"]  # this step's decay of every row not used ...
        decay[rows] = 1          # ... the used ones are up to date


def _catch_up(state):
    """Apply the decays that lazily updated rows still owe (see Adadelta), and forget ``row_decay``."""
    decay = state.pop("row_decay")
    rows = np.flatnonzero(decay != 1)
    for name in ("square_avg", "acc_delta"):
        state[name][rows] *= decay[rows][:, None]


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
