"""Gradient clipping and the max-norm weight constraint, applied in place."""
import math

import numpy as np

from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over every gradient as if they were one vector (``norm_type``
    may be ``inf``). As in PyTorch, the scale is max_norm / (norm + 1e-6), capped
    at 1. Returns the norm before clipping, as a NumPy float scalar (``.item()``
    and ``float()`` both work on it).
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return np.float32(0.0)
    if norm_type == math.inf:
        # np.max, not Python's max: max(2.0, nan) is 2.0, which would hide a NaN in any gradient but the first.
        total = np.max([np.abs(g).max() if g.size else 0.0 for g in grads])
    else:
        # Summed in at least float32: float16 squares overflow at 256 (PyTorch accumulates in float32 too).
        per_grad = [np.linalg.norm(g.reshape(-1).astype(np.promote_types(g.dtype, np.float32), copy=False),
                                   ord=norm_type) for g in grads]
        total = np.linalg.norm(np.asarray(per_grad), ord=norm_type)
    total = grads[0].dtype.type(total)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite ({total}), "
                           f"so they cannot be clipped")
    scale = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    for g in grads:
        g *= scale
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)


def max_norm_(weight, max_norm, axis=0):
    """Rescale each slice of ``weight`` whose L2 norm exceeds ``max_norm`` back to norm ``max_norm``.

    This is the constraint of Hinton et al. (2012) that Kim (2014) applies to
    the output layer after each step: a weight vector w with ||w|| > s becomes
    w * s / ||w||; shorter vectors are untouched. ``axis`` names the axis that
    indexes the vectors, as ``torch.renorm``'s ``dim`` does: the default 0 takes
    each row of a Linear weight (one output unit's incoming weights) or each
    filter of a Conv1d weight. ``axis=None`` treats the whole tensor as one
    vector. Works on a Tensor's data or on an ndarray, in place; returns it.
    """
    data = weight.data if isinstance(weight, Tensor) else weight
    if axis is None:
        norm = np.sqrt(np.sum(np.square(data, dtype=np.float64)))
    else:
        others = tuple(i for i in range(data.ndim) if i != axis % data.ndim)
        norm = np.sqrt(np.sum(np.square(data, dtype=np.float64), axis=others, keepdims=True))
    too_long = norm > max_norm
    if np.any(too_long):
        scale = np.where(too_long, max_norm / np.where(too_long, norm, 1.0), 1.0)
        data *= scale.astype(data.dtype)
    return weight
