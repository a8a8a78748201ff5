"""Check an op's backward against central finite differences in float64."""
import numpy as np

from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare ``fn``'s autodiff gradient with central differences.

    ``inputs`` is a Tensor or a sequence of Tensors (and other arguments
    passed through). Floating tensors that require grad are copied to
    float64 and checked. For a non-scalar output, the check projects it on a
    fixed random vector v, so it tests the vector-Jacobian product v^T J.
    Returns True, or raises GradcheckError naming the worst entry; a NaN on
    either side counts as a failure.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    args = [Tensor(np.array(a.data, dtype=np.float64), requires_grad=True)
            if isinstance(a, Tensor) and a.requires_grad else a for a in inputs]
    checked = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")

    with enable_grad():
        out = fn(*args)
    if out.requires_grad and out.dtype != np.float64:
        # Finite differences of a float32 result are rounding noise, and the mismatch would be blamed on autodiff.
        raise TypeError(f"gradcheck: fn must compute in float64 (the inputs are float64 copies), but its "
                        f"output is {out.dtype}; remove the cast to a lower precision")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:  # otherwise the output does not depend on the inputs: gradient 0
        (out * Tensor(v)).sum().backward()

    def projected():
        with no_grad():
            return float(np.sum(fn(*args).data.astype(np.float64) * v))

    for i in checked:
        a = args[i]
        analytic = np.zeros_like(a.data) if a.grad is None else a.grad
        numeric = np.zeros_like(a.data)
        flat = a.data.reshape(-1)  # a view: a.data is a fresh contiguous copy
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            up = projected()
            flat[j] = old - eps
            down = projected()
            flat[j] = old
            numeric.reshape(-1)[j] = (up - down) / (2 * eps)
        # Written so that NaN (in either gradient) compares as a failure.
        within = np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)
        if not within.all():
            excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            worst = tuple(int(k) for k in np.unravel_index(
                np.argmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape))
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {a.shape}) at index {worst}: "
                f"autodiff {analytic[worst]:.8g}, finite differences {numeric[worst]:.8g} "
                f"(atol={atol}, rtol={rtol})")
    return True
