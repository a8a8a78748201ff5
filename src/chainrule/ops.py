"""Primitive operations: each forward next to its vector-Jacobian product.

``forward`` receives plain arrays and saves on ``self`` what ``backward``
needs. ``backward`` receives dL/d(output) and returns dL/d(input) for each
input. Gradients may keep the output's broadcast shape: ``Tensor.backward``
sums them back to each input's shape (see ``function.unbroadcast``).
"""
import numpy as np

from .function import Function


def _broadcast_error(name, a, b):
    # Raised from the op's own ValueError: checking the shapes up front would
    # cost more than a small op itself.
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    def forward(self, a, b):
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    def backward(self, g):
        return g, -g


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    def backward(self, g):
        return g * self.b, g * self.a


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    def backward(self, g):
        gb = g / self.b
        return gb, -gb * self.a / self.b


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class PowScalar(Function):
    """x ** p for a constant exponent p."""

    def forward(self, a, exponent):
        self.a, self.p = a, exponent
        # PyTorch computes x ** 0.5 as sqrt(x) (NumPy does too) and x ** -0.5 as 1 / sqrt(x), which
        # differ from IEEE pow only at -0.0: -0.0 and -inf, where pow gives 0.0 and inf.
        if exponent == -0.5:
            return 1 / np.sqrt(a)
        out = a ** exponent
        if exponent == 0.5:
            self.out = out
        return out

    def backward(self, g):
        p = self.p
        if p == 0:
            return (np.zeros_like(self.a),)
        if p == 0.5:  # from the saved root, as PyTorch does: -inf (0.5 / -0.0) at -0.0, where pow gives +inf
            return (g * (0.5 / self.out),)
        return (g * p * self.a ** (p - 1),)


class Pow(Function):
    """a ** b where both are tensors: d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            self.out = a ** b
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        # PyTorch's conventions at the edges: d/da is 0 where b == 0 (even at
        # a == 0, where b a^(b-1) would be 0 * inf), and d/db is 0 where
        # a == 0 and b >= 0; for a < 0, log a makes d/db NaN, as it does there.
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = np.where(b == 0, 0, g * b * a ** (b - 1))
            gb = np.where((a == 0) & (b >= 0), 0, g * self.out * np.log(a))
        return ga.astype(g.dtype, copy=False), gb.astype(g.dtype, copy=False)


class MatMul(Function):
    """NumPy's matmul, including vectors and stacks of matrices."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least one dimension, got shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k_a} != {k_b})")
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        if a.ndim == 1 and b.ndim == 1:  # a dot product: g is a scalar
            return g * b, g * a
        # Treat vectors as matrices (a row for a, a column for b) so one rule
        # covers all cases; batch dimensions that broadcasting added are summed
        # away by the engine.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = g2 @ np.swapaxes(b2, -1, -2)
        gb = np.swapaxes(a2, -1, -2) @ g2
        if a.ndim == 1:
            ga = ga[..., 0, :]
        if b.ndim == 1:
            gb = gb[..., 0]
        return ga, gb


class Cast(Function):
    def forward(self, a, dtype):
        self.dtype_in = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype_in),)


# ---------------------------------------------------------------- elementwise
class Exp(Function):
    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, g):
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, a):
        self.out = np.sqrt(a)
        return self.out

    def backward(self, g):
        return (g / (2 * self.out),)


class Abs(Function):
    def forward(self, a):
        self.a = a
        return np.abs(a)

    def backward(self, g):
        # sign(a), but 0 rather than NaN at a NaN, as PyTorch's abs backward gives.
        a = self.a
        return (g * ((a > 0).astype(g.dtype) - (a < 0)),)


class Tanh(Function):
    def forward(self, a):
        self.out = np.tanh(a)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


def stable_sigmoid(a):
    """1 / (1 + e^-a) without overflow: e^a / (1 + e^a) where a is negative."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


class Sigmoid(Function):
    def forward(self, a):
        self.out = stable_sigmoid(a)
        return self.out

    def backward(self, g):
        s = self.out
        return (g * s * (1 - s),)


class Relu(Function):
    def forward(self, a):
        # As PyTorch: NaN passes through, forward and backward (the mask is "not <= 0", not "> 0").
        # max(a, 0) rather than where(mask, a, 0): ten times faster, and keeps the input's layout.
        self.mask = ~(a <= 0)
        return np.maximum(a, np.zeros((), a.dtype))

    def backward(self, g):
        # The derivative at exactly 0 is taken as 0, as in PyTorch.
        with np.errstate(invalid="ignore"):
            grad = g * self.mask
        # An inf or NaN gradient arriving where the input was <= 0 gives inf * 0 = NaN in that
        # product, where PyTorch's where(x <= 0, 0, g) gives 0. Only then take the (16x slower) where.
        if np.isnan(grad).any():
            grad = np.where(self.mask, g, np.zeros((), grad.dtype))
        return (grad,)


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = cond.astype(bool, copy=False)
        try:
            return np.where(self.cond, a, b)
        except ValueError:
            raise ValueError(f"where: condition {cond.shape}, input {a.shape} and other {b.shape} "
                             f"cannot be broadcast together") from None

    def backward(self, g):
        zero = np.zeros((), dtype=g.dtype)
        return None, np.where(self.cond, g, zero), np.where(self.cond, zero, g)


# ------------------------------------------------------------------ reductions
class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, self.axis)
        return (np.broadcast_to(g, self.shape),)


class Max(Function):
    """max over all elements or over axes.

    Gradient as in PyTorch: over one axis (``torch.max(x, dim)``) all of it
    goes to the first maximal element; over everything or several axes
    (``torch.amax``) it is shared evenly between tied maxima.
    """

    def forward(self, a, axis=None, keepdims=False):
        reduced = range(a.ndim) if axis is None else axis
        if any(a.shape[i] == 0 for i in reduced):  # a max of no values; other empty axes just stay empty
            raise ValueError(f"max: cannot reduce an empty tensor of shape {a.shape}")
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.out = np.asarray(a.max(axis=axis, keepdims=True))
        return self.out if keepdims else np.asarray(self.out.squeeze(axis=axis) if axis is not None else self.out.reshape(()))

    def backward(self, g):
        a, axis = self.a, self.axis
        if axis is not None and not self.keepdims:
            g = np.expand_dims(g, axis)
        elif axis is None:
            g = g.reshape((1,) * a.ndim)
        if axis is not None and len(axis) == 1:
            idx = np.expand_dims(a.argmax(axis=axis[0]), axis[0])
            grad = np.zeros_like(a)
            np.put_along_axis(grad, idx, np.broadcast_to(g, idx.shape), axis[0])
            return (grad,)
        tied = (a == self.out)
        if np.issubdtype(a.dtype, np.floating):
            tied |= np.isnan(a) & np.isnan(self.out)  # a NaN maximum is the NaN element(s), as in torch
        count = tied.sum(axis=axis, keepdims=True).astype(g.dtype)
        return (tied * (g / count),)


# -------------------------------------------------------------------- shapes
class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} into {tuple(shape)}") from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    def forward(self, a, axes=None):
        if axes is not None:
            # Negative axes are made positive so the inverse permutation below is right.
            if sorted(ax % a.ndim if -a.ndim <= ax < a.ndim else ax for ax in axes) != list(range(a.ndim)):
                raise ValueError(f"transpose: {tuple(axes)} is not a permutation of the axes of a tensor "
                                 f"of shape {a.shape}")
            axes = tuple(ax % a.ndim for ax in axes)
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g):
        if self.axes is None:
            return (g.transpose(),)
        return (g.transpose(np.argsort(self.axes)),)


class Expand(Function):
    def forward(self, a, shape):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(f"expand: a tensor of shape {a.shape} cannot be expanded to {tuple(shape)}") from None

    def backward(self, g):
        return (g,)  # summing back to the input's shape is the engine's job


def _is_basic_index(index):
    """True when indexing makes a view (slices, ints, None, ...), so no position repeats."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


def _is_mask(index):
    """True for one boolean array: it picks each position at most once."""
    return isinstance(index, np.ndarray) and index.dtype == bool


def _flat_row_ids(index, shape):
    """Row ids into ``shape`` viewed as (prod(shape[:k]), rest) when ``index`` is k integer arrays.

    ``x[i]`` and ``x[i, j]`` (integer arrays or ints, at least one array, from
    the first axis on) pick whole rows of that 2-D view, so their gradient is
    a row scatter. Returns None for any other index.
    """
    parts = index if isinstance(index, tuple) else (index,)
    if not parts or len(parts) > len(shape):
        return None
    has_array = False
    for p in parts:
        if isinstance(p, np.ndarray) and np.issubdtype(p.dtype, np.integer):
            has_array = True
        elif not isinstance(p, (int, np.integer)) or isinstance(p, bool):
            return None
    if not has_array:
        return None
    # The forward already checked the bounds, so 'wrap' only turns -1 into n - 1.
    return np.ravel_multi_index(np.broadcast_arrays(*parts), shape[:len(parts)], mode="wrap")


def scatter_add_rows(rows, ids, num_rows):
    """Sum ``rows[i]`` into row ``ids[i]`` of a zero (num_rows, width) array.

    Repeated ids accumulate. Instead of ``np.add.at`` (slow, unbuffered), the
    rows are sorted by id and each run of equal ids is summed by
    ``np.add.reduceat``, so each distinct row is written once.
    """
    ids = ids.reshape(-1)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if ids.size else np.zeros(0, int)
    out = np.zeros((num_rows, rows.shape[1]), dtype=rows.dtype)
    if ids.size:
        out[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


class GetItem(Function):
    def forward(self, a, index):
        if isinstance(index, list):
            # A list indexes as the array it spells (NumPy and PyTorch agree).
            index = np.asarray(index, dtype=None if index else np.intp)
        self.shape, self.index = a.shape, index
        try:
            return np.asarray(a[index])
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {a.shape}: {e}") from None

    def backward(self, g):
        index = self.index
        if _is_basic_index(index) or _is_mask(index):
            grad = np.zeros(self.shape, dtype=g.dtype)
            grad[index] = g
            return (grad,)
        ids = _flat_row_ids(index, self.shape)
        if ids is not None:
            # Rows picked by integer arrays (embedding lookups, x[arange(n), targets]):
            # repeated ids accumulate through the sort-and-reduce scatter.
            k = len(index) if isinstance(index, tuple) else 1
            num_rows, width = int(np.prod(self.shape[:k])), int(np.prod(self.shape[k:]))
            rows = scatter_add_rows(g.reshape(ids.size, width), ids, num_rows)
            return (rows.reshape(self.shape),)
        grad = np.zeros(self.shape, dtype=g.dtype)
        np.add.at(grad, index, g)  # other advanced indexing (mixed with slices): rare, never on a hot path
        return (grad,)


class Cat(Function):
    def forward(self, *arrays, axis=0):
        shapes = [a.shape for a in arrays]
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            raise ValueError(f"cat: shapes {shapes} do not match outside axis {axis}") from None
        self.splits = np.cumsum([s[axis] for s in shapes])[:-1]
        self.axis = axis
        return out

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))


class Stack(Function):
    def forward(self, *arrays, axis=0):
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
        self.axis, self.n = axis, len(arrays)
        return np.stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(np.take(g, i, axis=self.axis) for i in range(self.n))
