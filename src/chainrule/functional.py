"""chainrule.functional (``import chainrule.functional as F``): PyTorch's torch.nn.functional, on chainrule Tensors.

Every function here takes and returns Tensors. The heavy ones call a fused
op from ``ops_nn``; the rest are short compositions of primitives.
"""
import numpy as np

from . import ops, ops_nn, rng
from .tensor import Tensor, _axis


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _single_axis(axis, dim, default=-1):
    if dim is not None:
        axis = dim
    return default if axis is None else axis


# --------------------------------------------------------------- activations
def relu(x):
    return ops.Relu.apply(_t(x))


def sigmoid(x):
    return _t(x).sigmoid()  # the Tensor method turns integer input into float32 first


def tanh(x):
    return _t(x).tanh()


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features)."""
    if bias is None:
        return ops_nn.Linear.apply(_t(x), weight)
    return ops_nn.Linear.apply(_t(x), weight, bias)


# ------------------------------------------------------------------- softmax
def softmax(x, axis=None, *, dim=None):
    return ops_nn.Softmax.apply(_t(x), axis=_single_axis(axis, dim))


def log_softmax(x, axis=None, *, dim=None):
    return ops_nn.LogSoftmax.apply(_t(x), axis=_single_axis(axis, dim))


def logsumexp(x, axis=None, keepdims=False, *, dim=None):
    x = _t(x)
    return ops_nn.LogSumExp.apply(x, axis=_axis(axis, dim, x.ndim), keepdims=keepdims)


# -------------------------------------------------------------------- losses
def cross_entropy(logits, targets, ignore_index=None, reduction="mean"):
    """Softmax cross-entropy from raw logits, fused and stable.

    ``logits`` is (N, C) with ``targets`` (N,) of class indices, or (C,) with
    a scalar target, or (N, C, d1, ...) with targets (N, d1, ...) as in PyTorch.
    ``ignore_index`` marks targets that add nothing to the loss or the mean.
    PyTorch's default ignore_index is -100; here None means no target is ignored.
    """
    logits = _t(logits)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    # The shapes are checked here, before flattening: a transposed (d1, N) target has the right
    # number of elements and would otherwise be read in the wrong order.
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have a class axis, shape (C,), (N, C) or (N, C, d1, ...); "
                         "got a 0-d tensor")
    expected = () if logits.ndim == 1 else (logits.shape[0], *logits.shape[2:])
    if t.shape != expected and not (logits.ndim == 1 and t.shape == (1,)):
        raise ValueError(f"cross_entropy: logits of shape {tuple(logits.shape)} need targets of shape {expected}, "
                         f"got {t.shape}")
    if logits.ndim == 1:
        out = ops_nn.CrossEntropy.apply(logits.reshape(1, -1), targets=t.reshape(1),
                                        ignore_index=ignore_index, reduction=reduction)
        return out.reshape(()) if reduction == "none" else out
    if logits.ndim > 2:
        c = logits.shape[1]
        moved = logits.permute(0, *range(2, logits.ndim), 1).reshape(-1, c)
        out = ops_nn.CrossEntropy.apply(moved, targets=t.reshape(-1), ignore_index=ignore_index, reduction=reduction)
        return out.reshape(t.shape) if reduction == "none" else out
    return ops_nn.CrossEntropy.apply(logits, targets=t, ignore_index=ignore_index, reduction=reduction)


def nll_loss(log_probs, targets, ignore_index=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) at integer targets (N,).

    ``ignore_index`` marks targets that add nothing, as in ``cross_entropy``: their
    rows give 0 and the mean is over the other rows (NaN if there are none, as
    in PyTorch). PyTorch's default is -100; here None ignores nothing.
    """
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    shape = tuple(log_probs.shape)
    if len(shape) != 2 or t.shape != shape[:1]:
        raise ValueError(f"nll_loss: log-probabilities of shape (N, C) need targets of shape (N,); got {shape} "
                         f"and {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"nll_loss: targets must be integer class indices, got {t.dtype}")
    keep = None if ignore_index is None else t != ignore_index
    counted = t if keep is None else t[keep]
    if counted.size and (counted.min() < 0 or counted.max() >= shape[1]):  # -1 would pick the last class
        bad = counted[(counted < 0) | (counted >= shape[1])][0]
        raise IndexError(f"nll_loss: target {bad} is out of range for {shape[1]} classes")
    if keep is None:
        picked = -log_probs[np.arange(len(t)), t]
    else:
        picked = -log_probs[np.arange(len(t)), np.where(keep, t, 0)] * Tensor(keep.astype(log_probs.dtype))
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    n = len(t) if keep is None else int(keep.sum())
    return picked.sum() * (1.0 / n if n else np.nan)


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    logits = _t(logits)
    targets = targets if isinstance(targets, Tensor) else Tensor(np.asarray(targets, dtype=logits.dtype))
    return ops_nn.BCEWithLogits.apply(logits, targets, reduction=reduction)


def mse_loss(x, y, reduction="mean"):
    diff = _t(x) - y
    sq = diff * diff
    if reduction == "none":
        return sq
    return sq.sum() if reduction == "sum" else sq.mean()


# ------------------------------------------------------------------- layers
def embedding(ids, weight, padding_idx=None):
    """Rows of ``weight`` (V, D) picked by integer ``ids`` of any shape; result is ids.shape + (D,)."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    return ops_nn.Embedding.apply(weight, ids=ids, padding_idx=padding_idx)


def conv1d(x, weight, bias=None, stride=1, padding=0):
    """1-D cross-correlation, x (N, C_in, L), weight (C_out, C_in, k) -> (N, C_out, L_out).

    ``padding`` is a number of zero columns on each side, or 'same' (stride 1,
    odd or even k, extra column on the right as PyTorch does) or 'valid' (0).
    """
    x = _t(x)
    k = weight.shape[-1]
    if isinstance(padding, str) and padding not in ("valid", "same"):
        raise ValueError(f"conv1d: padding must be a number of columns, 'same' or 'valid', got {padding!r}")
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if stride != 1:
            raise ValueError("conv1d: padding='same' needs stride 1")
        left, right = (k - 1) // 2, k - 1 - (k - 1) // 2
        if left != right:
            x = pad1d(x, left, right)
            padding = 0
        else:
            padding = left
    if x.ndim == 2:  # unbatched (C_in, L), as PyTorch allows
        return conv1d(x.reshape(1, *x.shape), weight, bias, stride, padding).reshape(weight.shape[0], -1)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ops_nn.Conv1d.apply(*inputs, stride=stride, padding=padding)


def pad1d(x, left, right, value=0.0):
    """Pad the last axis with ``left`` and ``right`` constant columns (differentiable)."""
    x = _t(x)
    parts = []
    if left:
        parts.append(Tensor(np.full(x.shape[:-1] + (left,), value, dtype=x.dtype)))
    parts.append(x)
    if right:
        parts.append(Tensor(np.full(x.shape[:-1] + (right,), value, dtype=x.dtype)))
    return ops.Cat.apply(*parts, axis=x.ndim - 1) if len(parts) > 1 else x


def max_pool1d(x, kernel_size, stride=None, padding=0):
    return ops_nn.MaxPool1d.apply(_t(x), kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    return ops_nn.AvgPool1d.apply(_t(x), kernel_size=kernel_size, stride=stride, padding=padding)


def dropout(x, p=0.5, training=True):
    """Inverted dropout: identity when not training or p == 0."""
    if not 0 <= p < 1:
        if p == 1 and training:
            return _t(x) * 0.0
        if p != 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return _t(x)
    return ops_nn.Dropout.apply(_t(x), p=p, rng=rng.generator())
