"""Fused operations for neural networks, each with its hand-derived backward.

These could be written from the primitives in ``ops.py``, but fusing them
saves memory and passes over the data, and keeps them numerically stable
(log-softmax never forms exp of a large logit, cross-entropy never forms
log of a probability). ``tests/`` checks each against its composition from
primitives, against float64 finite differences, and against PyTorch.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import threads
from .function import Function
from .ops import scatter_add_rows, stable_sigmoid


class Linear(Function):
    """y = x W^T + b with x of shape (..., in) and W of shape (out, in), as torch.nn.functional.linear."""

    def forward(self, x, w, b=None):
        if w.ndim != 2:
            raise ValueError(f"linear: the weight must be 2-D (out_features, in_features), got shape {w.shape}")
        if x.ndim == 0 or x.shape[-1] != w.shape[-1]:
            raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {w.shape} "
                             f"({x.shape[-1]} != {w.shape[-1]})")
        self.x, self.w, self.has_bias = x, w, b is not None
        self.row_bias = b is not None and b.shape == (w.shape[0],)
        y = x @ w.T
        if b is not None:
            if self.row_bias and y.size:
                add_to_rows(y.reshape(-1, y.shape[-1]), b)  # matmul's result is contiguous: a view
            else:  # a bias that broadcasts some other way (as (1, out)), or nothing to add to
                try:
                    widened = math.prod(np.broadcast_shapes(y.shape, b.shape)) != y.size
                except ValueError:
                    widened = True
                if widened:  # the bias may add leading 1s to the output's shape, not repeat it
                    raise ValueError(f"linear: bias of shape {b.shape} does not match weight of shape "
                                     f"{w.shape} and input of shape {x.shape}")
                y = y + b
        return y

    def backward(self, g):
        x, w = self.x, self.w
        g2 = g.reshape(-1, g.shape[-1])
        # The input's gradient is a product as large as the forward's; skip it
        # when the input needs none (raw features, a frozen embedding's output).
        gx = (g2 @ w).reshape(x.shape) if self.needs_grad(0) else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if self.needs_grad(1) else None
        if self.has_bias:
            # Any other bias shape gets the whole gradient, which the engine sums back to its shape.
            return gx, gw, sum_rows(g2) if self.row_bias else g
        return gx, gw


# The two bias passes of a linear layer, split over chainrule's threads. With
# a language model's (batch, vocabulary) output they are passes over the
# step's largest array, and NumPy alone runs them on one core while the
# products beside them use all of BLAS's threads. Both only change which
# thread does which element: the results equal ``y += b`` and
# ``g.sum(axis=0)`` bit for bit (``tests/test_perf_parity.py``).
def add_to_rows(y, b, blocked=True):
    """``y += b`` for a 2-D ``y`` (in place) and a bias ``b`` of one value per column."""
    if not blocked:
        y += b
        return

    def rows(lo, hi):
        y[lo:hi] += b

    n, c = y.shape
    threads.parallel_blocks(rows, n, block=threads.one_block_per_thread(n), work=n * c)


def sum_rows(g, blocked=True):
    """``g.sum(axis=0)`` of a 2-D ``g``, each thread summing its own columns."""
    n, c = g.shape
    parts = threads.get_num_threads()
    # NumPy sums axis 0 of a 2-D array row after row, which a slice of two or
    # more columns repeats exactly; a single column it would sum pairwise, a
    # different rounding. So: one slice per thread, and only when each is wide.
    if not blocked or c < 64 * parts:
        return g.sum(axis=0)
    out = np.empty(c, dtype=g.dtype)

    def columns(lo, hi):
        np.sum(g[:, lo:hi], axis=0, out=out[lo:hi])

    threads.parallel_blocks(columns, c, block=threads.one_block_per_thread(c), work=n * c)
    return out


class LogSoftmax(Function):
    def forward(self, x, axis=-1):
        z = x - x.max(axis=axis, keepdims=True)
        self.out = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, g):
        return (g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class Softmax(Function):
    def forward(self, x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        self.out, self.axis = e, axis
        return e

    def backward(self, g):
        s = self.out
        return (s * (g - (g * s).sum(axis=self.axis, keepdims=True)),)


class LogSumExp(Function):
    def forward(self, x, axis=None, keepdims=False):
        m = x.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # a row of -inf gives -inf, not NaN
        out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
        self.x, self.out_keep, self.axis, self.keepdims = x, out, axis, keepdims
        if keepdims:
            return out
        return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)

    def backward(self, g):
        if not self.keepdims:
            g = g.reshape(self.out_keep.shape)
        return (g * np.exp(self.x - self.out_keep),)


class CrossEntropy(Function):
    """Softmax and negative log-likelihood fused: logits (N, C), integer targets (N,).

    The forward keeps e = exp(z - max z) and its row sums s, not the
    probabilities: the backward's gradient, scale * (e / s - onehot(target)),
    then takes one pass over e (scaled by scale / s per row, in place unless
    the graph is retained) instead of one to normalise and one to scale.
    With the (N, C) logits of a language model's output layer, every pass
    saved is a pass over the largest array of the step.
    """

    def forward(self, logits, targets, ignore_index=None, reduction="mean"):
        n, c = logits.shape
        if targets.shape != (n,):
            raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of shape ({n},), "
                             f"got {targets.shape}")
        if not np.issubdtype(targets.dtype, np.integer):
            raise TypeError(f"cross_entropy: targets must be integer class indices, got {targets.dtype}")
        valid = np.ones(n, bool) if ignore_index is None else targets != ignore_index
        t = np.where(valid, targets, 0)
        if t.size and (t.min() < 0 or t.max() >= c):
            bad = t[(t < 0) | (t >= c)][0]
            raise IndexError(f"cross_entropy: target {bad} is out of range for {c} classes")
        z, total, z_target = softmax_parts(logits, t, blocked=True)
        loss = np.log(total) - z_target
        loss[~valid] = 0
        count = int(valid.sum())
        self.e, self.total, self.t, self.valid, self.reduction, self.count = z, total, t, valid, reduction, count
        if reduction == "none":
            return loss
        if reduction == "sum":
            return np.asarray(loss.sum())
        if reduction == "mean":
            return np.asarray(loss.sum() / count if count else np.nan, dtype=logits.dtype)
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', not {reduction!r}")

    def backward(self, g):
        n = self.e.shape[0]
        if self.reduction == "none":
            scale = g.astype(self.e.dtype, copy=False)
        else:
            scale = g / max(self.count, 1) if self.reduction == "mean" else g
            scale = np.full(n, scale, dtype=self.e.dtype)
        scale = np.where(self.valid, scale, 0).astype(self.e.dtype, copy=False)  # ignored rows get nothing
        # The one pass over (N, C): probabilities times scale, as e * (scale / total),
        # one slice of rows per thread.
        coef = (scale / self.total)[:, None]
        e = self.e
        grad = np.empty_like(e) if self.retain else e

        def rows(lo, hi):
            np.multiply(e[lo:hi], coef[lo:hi], out=grad[lo:hi])

        threads.parallel_blocks(rows, n, block=threads.one_block_per_thread(n), work=e.size)
        grad[np.arange(n), self.t] -= scale
        if not self.valid.all():
            grad[~self.valid] = 0  # also where e held NaN from a NaN logit
        return grad, None


def softmax_parts(logits, targets, blocked=True):
    """For each row of (N, C) logits: e = exp(z - max z), its sum, and z - max z at the target.

    The four passes (max, subtract, exp, sum) are fused by blocking: run on
    a few rows at a time (``threads.parallel_blocks``), each block is still
    in cache for the next pass, so the logits of a 10,000-word output layer
    stream through memory once instead of four times, and the blocks are
    shared between chainrule's threads. Every step is per row, so this
    gives bit for bit what one whole-array call gives (``blocked=False``,
    the reference the tests compare with).
    """
    n, c = logits.shape
    e = np.empty_like(logits)
    total = np.empty(n, dtype=logits.dtype)
    z_target = np.empty(n, dtype=logits.dtype)

    def rows(lo, hi):
        block = logits[lo:hi]
        zb = e[lo:hi]
        np.subtract(block, block.max(axis=1, keepdims=True), out=zb)
        z_target[lo:hi] = zb[np.arange(hi - lo), targets[lo:hi]]
        np.exp(zb, out=zb)
        np.sum(zb, axis=1, out=total[lo:hi])

    if not blocked or n == 0 or c == 0:
        rows(0, n)
    else:
        # Blocks of about threads.BLOCK elements: with the logits block and
        # its exp, a few MiB of L2 cache per core holds them.
        threads.parallel_blocks(rows, n, block=max(1, threads.BLOCK // c), work=n * c)
    return e, total, z_target


class BCEWithLogits(Function):
    """Binary cross-entropy on logits: max(x,0) - x y + log(1 + e^-|x|), stable for any x."""

    def forward(self, x, y, reduction="mean"):
        if x.shape != y.shape:
            raise ValueError(f"binary_cross_entropy_with_logits: input {x.shape} and target {y.shape} differ")
        self.x, self.y, self.reduction = x, y, reduction
        loss = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
        if reduction == "none":
            return loss
        if reduction == "sum":
            return np.asarray(loss.sum())
        if reduction == "mean":
            return np.asarray(loss.mean())
        raise ValueError(f"binary_cross_entropy_with_logits: unknown reduction {reduction!r}")

    def backward(self, g):
        scale = g / self.x.size if self.reduction == "mean" else g
        gx = (stable_sigmoid(self.x) - self.y) * scale
        gy = -self.x * scale
        return gx, gy


class Embedding(Function):
    """Rows of ``weight`` picked by integer ``ids`` of any shape.

    The weight's gradient is built from the distinct ids only (sort, then
    sum each run), never with ``np.add.at`` over the whole batch.
    """

    def forward(self, weight, ids, padding_idx=None):
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
        v = weight.shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= v):
            raise IndexError(f"embedding: id {int(ids.max() if ids.max() >= v else ids.min())} is out of range "
                             f"for a table of {v} rows")
        self.ids, self.shape, self.padding_idx = ids, weight.shape, padding_idx
        return weight[ids]

    def backward(self, g):
        grad = scatter_add_rows(g.reshape(self.ids.size, self.shape[1]), self.ids, self.shape[0])
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        # Reshape only when needed: a reshaped view would make the engine copy
        # this (vocabulary x width) array before storing it as weight.grad.
        return (grad if grad.shape == self.shape else grad.reshape(self.shape)), None


def _conv_out_len(name, length, kernel, stride, padding):
    for what, value, least in (("kernel size", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name}: {what} must be an integer of at least {least}, got {value!r}")
    padded = length + 2 * padding
    if padded < kernel:
        raise ValueError(f"{name}: input length {length} (padded to {padded}) is shorter than the kernel size {kernel}")
    return (padded - kernel) // stride + 1


class Conv1d(Function):
    """Cross-correlation over the last axis, PyTorch layout: x (N, C_in, L), w (C_out, C_in, k).

    One matrix product computes every tap of every filter at every position,
    Z[n, t, j, o] = sum_c x[n, c, t] w[o, c, j]; the output then adds the k
    shifted diagonals, y[n, o, t] = sum_j Z[n, t*stride + j, j, o]. The
    backward runs the same two steps in reverse.
    """

    def forward(self, x, w, b=None, stride=1, padding=0):
        if x.ndim != 3 or w.ndim != 3 or x.shape[1] != w.shape[1]:
            raise ValueError(f"conv1d: input {x.shape} (N, C_in, L) and weight {w.shape} (C_out, C_in, k) "
                             f"do not match")
        n, c_in, length = x.shape
        c_out, _, k = w.shape
        l_out = _conv_out_len("conv1d", length, k, stride, padding)
        if padding:
            x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
        lp = x.shape[2]
        x2 = x.transpose(0, 2, 1).reshape(n * lp, c_in)
        w2 = w.transpose(1, 2, 0).reshape(c_in, k * c_out)
        z = (x2 @ w2).reshape(n, lp, k, c_out)
        span = stride * (l_out - 1) + 1
        y = z[:, 0:span:stride, 0, :].copy()
        for j in range(1, k):
            y += z[:, j:j + span:stride, j, :]
        if b is not None:
            y += b
        self.x2, self.w2, self.has_bias = x2, w2, b is not None
        self.dims = (n, c_in, length, c_out, k, lp, l_out, stride, padding)
        return y.transpose(0, 2, 1)

    def backward(self, g):
        n, c_in, length, c_out, k, lp, l_out, stride, padding = self.dims
        gt = g.transpose(0, 2, 1)  # (N, L_out, C_out)
        span = stride * (l_out - 1) + 1
        # At stride 1 tap j fills rows j .. j + span - 1 and only the k - 1 rows around them need
        # zeros, so the buffer is not zero-filled first (a full extra pass over it).
        gz = (np.empty if stride == 1 else np.zeros)((n, lp, k, c_out), dtype=g.dtype)
        for j in range(k):
            gz[:, j:j + span:stride, j, :] = gt
            if stride == 1:
                gz[:, :j, j, :] = 0
                gz[:, j + span:, j, :] = 0
        gz2 = gz.reshape(n * lp, k * c_out)
        gw = None
        if self.needs_grad(1):
            # As gz2^T x2 rather than x2^T gz2: the same numbers, but OpenBLAS
            # runs this shape (long inner dimension, small output) up to several
            # times faster on two threads with the output's long side first.
            gw = np.ascontiguousarray((gz2.T @ self.x2).reshape(k, c_out, c_in).transpose(1, 2, 0))
        gx = None
        if self.needs_grad(0):
            gx = (gz2 @ self.w2.T).reshape(n, lp, c_in).transpose(0, 2, 1)
            if padding:
                gx = gx[:, :, padding:padding + length]
        if self.has_bias:
            return gx, gw, gt.sum(axis=(0, 1))
        return gx, gw


def _pool_args(name, x, kernel_size, stride, padding):
    if x.ndim not in (2, 3):
        raise ValueError(f"{name}: expected input of shape (N, C, L) or (C, L), got {x.shape}")
    stride = kernel_size if stride is None else stride
    if padding > kernel_size // 2:
        raise ValueError(f"{name}: padding {padding} should be at most half the kernel size {kernel_size}")
    l_out = _conv_out_len(name, x.shape[-1], kernel_size, stride, padding)
    return stride, l_out


class MaxPool1d(Function):
    """Max over windows of the last axis; padding counts as -inf, as in PyTorch."""

    def forward(self, x, kernel_size, stride=None, padding=0):
        stride, l_out = _pool_args("max_pool1d", x, kernel_size, stride, padding)
        if padding:
            pad = [(0, 0)] * (x.ndim - 1) + [(padding, padding)]
            x = np.pad(x, pad, constant_values=-np.inf)
        windows = sliding_window_view(x, kernel_size, axis=-1)[..., 0:stride * (l_out - 1) + 1:stride, :]
        self.arg = windows.argmax(axis=-1)  # first maximum, as PyTorch's kernel picks
        out = np.take_along_axis(windows, self.arg[..., None], axis=-1)[..., 0]
        if padding:
            # A window whose real values are all -inf ties with its padding: the maximum (and its
            # gradient) is the first real value, as in PyTorch, not the padding before it.
            first_real = np.clip(padding - stride * np.arange(l_out), 0, kernel_size - 1)
            self.arg = np.where(out == -np.inf, first_real, self.arg)
        self.dims = (x.shape, kernel_size, stride, padding, l_out)
        return out

    def backward(self, g):
        shape, k, stride, padding, l_out = self.dims
        grad = np.zeros(shape, dtype=g.dtype)
        if l_out == 1:  # global pooling: one window, so a direct scatter
            np.put_along_axis(grad, self.arg, g, axis=-1)
        else:
            span = stride * (l_out - 1) + 1
            for j in range(k):
                grad[..., j:j + span:stride] += np.where(self.arg == j, g, 0)
        if padding:
            grad = grad[..., padding:shape[-1] - padding]
        return (grad,)


class AvgPool1d(Function):
    """Mean over windows of the last axis; padded zeros count in the mean (count_include_pad=True)."""

    def forward(self, x, kernel_size, stride=None, padding=0):
        stride, l_out = _pool_args("avg_pool1d", x, kernel_size, stride, padding)
        if padding:
            x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(padding, padding)])
        span = stride * (l_out - 1) + 1
        out = x[..., 0:span:stride].copy()
        for j in range(1, kernel_size):
            out += x[..., j:j + span:stride]
        out /= kernel_size
        self.dims = (x.shape, kernel_size, stride, padding, l_out)
        return out

    def backward(self, g):
        shape, k, stride, padding, l_out = self.dims
        grad = np.zeros(shape, dtype=g.dtype)
        span = stride * (l_out - 1) + 1
        share = g / k
        for j in range(k):
            grad[..., j:j + span:stride] += share
        if padding:
            grad = grad[..., padding:shape[-1] - padding]
        return (grad,)


class Dropout(Function):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)."""

    def forward(self, x, p, rng):
        keep = rng.random(x.shape, dtype=np.float32) >= p
        self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)
