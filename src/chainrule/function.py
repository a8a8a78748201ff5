"""The graph node: one recorded application of a differentiable operation.

Every primitive is a subclass of :class:`Function` with two methods side by
side: ``forward`` computes the value from plain arrays, and ``backward`` turns
the gradient of the output into the gradient of each input (the vector-Jacobian
product). ``apply`` runs the forward and, when a gradient will be needed,
records the node so that ``Tensor.backward`` can find it later.
"""
import numpy as np

from .grad_mode import state

# The Tensor class. tensor.py imports this module, so it cannot be imported
# here; tensor.py fills this in as soon as Tensor exists. (An import inside
# ``apply`` would cost more than the rest of a small op's bookkeeping.)
Tensor = None

# The modules being run, innermost last; graph drawings use them to collapse a
# model's ops per module. Kept here so recording costs one lookup.
module_scope = []

# In-place changes of tensors' data (optimiser steps, load_state_dict, initialisers), counted.
# Each recorded op keeps the count at its forward pass and each changed tensor the count of its
# last change, so backward can tell cheaply whether an op's saved input was changed since: one
# comparison per op while nothing was changed, the usual case (see tensor._check_unchanged).
inplace_changes = [0]


def mark_changed(tensor):
    """Record that ``tensor.data`` was just changed in place; graphs recorded before can no longer backpropagate."""
    inplace_changes[0] += 1
    tensor._changed_at = inplace_changes[0]


_new_tensor = object.__new__
_ndarray = np.ndarray


class Function:
    #: Set by ``Tensor.backward`` before calling ``backward``: True when the
    #: graph will be walked again, so the op must not overwrite what it saved.
    retain = False
    freed = False

    def forward(self, *arrays, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - interface
        """Return one gradient (or None) per input, in input order.

        A gradient may have the broadcast shape of the output: the engine sums
        it back to the input's shape in one place (``unbroadcast``).
        """
        raise NotImplementedError

    def needs_grad(self, i):
        """Whether input ``i`` wants a gradient, so ``backward`` can skip the work for one that doesn't.

        True when the op was not recorded (``backward`` called by hand on a fresh op).
        """
        parents = self.__dict__.get("parents")
        return True if parents is None else parents[i].requires_grad

    @property
    def name(self):
        return type(self).__name__

    def release(self):
        """Drop saved arrays and parents so the graph's memory is freed."""
        self.__dict__.clear()
        self.freed = True

    @classmethod
    def apply(cls, *inputs, **kwargs):
        # This runs once per op, so it is written for speed: on small arrays
        # (a scalar expression, a chain of 16x16 ops) this bookkeeping, not
        # the arithmetic, is the op's cost. Tensor._wrap is inlined here.
        ctx = cls()
        data = ctx.forward(*[t.data for t in inputs], **kwargs)
        out = _new_tensor(Tensor)
        # NumPy gives a scalar, not a 0-d array, for arithmetic on 0-d arrays.
        out.data = data if data.__class__ is _ndarray else np.asarray(data)
        out._grad = None
        out._changed_at = 0
        out._ctx = None
        out._retains_grad = False
        out.name = None
        out.requires_grad = False
        if state.grad_enabled:
            for t in inputs:
                if t.requires_grad:
                    out.requires_grad = True
                    out._ctx = ctx
                    ctx.parents = inputs
                    ctx.recorded_at = inplace_changes[0]
                    if module_scope:
                        ctx.scope = module_scope[-1]
                    break
        if state.detect_anomaly:
            check_finite(out.data, ctx.name, "forward", inputs)
        return out


def check_finite(array, op_name, phase, inputs):
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        bad = "NaN" if np.isnan(array).any() else "inf"
        raise FloatingPointError(
            f"detect_anomaly: {op_name} {phase} produced {bad} (input shapes: {shapes})")


def unbroadcast(grad, shape):
    """Sum a gradient back to ``shape``, undoing NumPy broadcasting.

    This is the only place broadcasting is handled on the backward pass: the
    dimensions that broadcasting added on the left are summed away, and those
    that were stretched from size 1 are summed with keepdims.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != shape:
        raise ValueError(f"gradient of shape {grad.shape} cannot be summed to shape {shape}")
    return grad
