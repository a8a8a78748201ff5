"""The Tensor: an ndarray plus what is needed to backpropagate through it.

``backward`` walks the recorded graph in reverse topological order without
recursion (so graphs 100,000 nodes deep work), applies each node's
vector-Jacobian product once all of its consumers have passed their
gradients down, and frees every node it has finished with unless
``retain_graph=True``.
"""
import numbers

import numpy as np

from . import backend
from .function import check_finite, inplace_changes, unbroadcast
from .grad_mode import state


class Tensor:
    __slots__ = ("__weakref__", "_changed_at", "_ctx", "_grad", "_retains_grad", "data", "name", "requires_grad")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.as_array(data, dtype)
        self._grad = None
        self._changed_at = 0  # see function.mark_changed
        self._ctx = None
        self._retains_grad = False
        self.name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        """Make a Tensor around an array an op produced, skipping __init__'s checks."""
        t = cls.__new__(cls)
        t.data = array if isinstance(array, np.ndarray) else np.asarray(array)
        t._grad = None
        t._changed_at = 0
        t.requires_grad = False
        t._ctx = None
        t._retains_grad = False
        t.name = None
        return t

    # ------------------------------------------------------------------ fields
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    @property
    def grad(self):
        """The gradient as a NumPy array of this tensor's shape, or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        # What a user assigns is checked as PyTorch checks it: a Tensor would otherwise turn into an
        # object array at the next accumulation, and another shape or dtype would leak into updates.
        if value is not None:
            value = value.data if isinstance(value, Tensor) else value
            if not isinstance(value, np.ndarray):
                raise TypeError(f"grad must be a Tensor, an array or None, not {type(value).__name__}")
            if value.shape != self.data.shape:
                raise RuntimeError(f"assigned grad has shape {value.shape}, the tensor's is {self.data.shape}")
            if value.dtype != self.data.dtype:
                raise RuntimeError(f"assigned grad has dtype {value.dtype}, the tensor's is {self.data.dtype}")
        self._grad = value

    def __iter__(self):
        # Without this Python would iterate through __getitem__, and a 0-d tensor would look empty.
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __contains__(self, value):
        found = self == value  # a bool, not a Tensor, for what tensors do not compare with (a string)
        return bool(found.data.any()) if isinstance(found, Tensor) else bool(found)

    def __array__(self, dtype=None, copy=None):
        # np.asarray(tensor) gives its values, as for a PyTorch tensor (not an object array). As PyTorch,
        # not for a tensor that requires grad: NumPy would drop it from the graph without a word (in
        # ``x * [y, y]`` too, whose list NumPy converts through here).
        if self.requires_grad:
            raise RuntimeError("can't turn a tensor that requires grad into a NumPy array (the gradient would be "
                               "lost): use tensor.detach().numpy(), or keep it a Tensor (cr.stack([...]) for a list)")
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def is_leaf(self):
        return self._ctx is None

    def requires_grad_(self, flag=True):
        if not flag and self._ctx is not None:
            # As in PyTorch: it would silently cut this path out of the graph. detach() says so.
            raise RuntimeError("you can only change requires_grad flags of leaf tensors; use detach() for a "
                               "copy of a computed tensor without a gradient")
        if flag and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require gradients, not {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (as in PyTorch)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        self._retains_grad = True
        return self

    def numpy(self):
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        return Tensor._wrap(self.data)

    def zero_grad(self):
        self.grad = None

    def astype(self, dtype):
        from . import ops
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":  # integers and booleans have no gradient (as in PyTorch)
            return Tensor._wrap(self.data.astype(dtype))
        return ops.Cast.apply(self, dtype=dtype)

    # As PyTorch's: a tensor already of that dtype is returned itself (a leaf stays that leaf).
    float = lambda self: self if self.data.dtype == np.float32 else self.astype(np.float32)
    double = lambda self: self if self.data.dtype == np.float64 else self.astype(np.float64)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != backend.DEFAULT_FLOAT:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None and not self._ctx.freed:
            extra += f", grad_fn=<{self._ctx.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.data)

    # ---------------------------------------------------------------- backward
    def backward(self, grad=None, retain_graph=False):
        """Backpropagate from this tensor, accumulating into the leaves' ``.grad``.

        ``grad`` (dL/d self) is needed unless this tensor has one element. The
        graph's saved arrays are freed on the way unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input of its graph has requires_grad=True)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a grad argument needs a scalar output, but this "
                    f"tensor has shape {self.shape}; pass grad= of that shape")
            grad = np.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape {self.shape}")
            # A copy: the caller's array may otherwise end up as some leaf's .grad
            # and be changed by the next accumulation or optimiser step.
            grad = np.array(grad, dtype=self.dtype)
        if self._ctx is None:  # a leaf: its gradient is the given one
            _accumulate_leaf(self, grad, set())
            return

        # Kahn's algorithm: a node runs its backward once every consumer in the
        # graph has passed its gradient down, so each node runs once with the
        # full sum, and each is dropped (with its saved arrays) right after.
        pending = _count_consumers(self)
        grads = {id(self): grad}
        handed_out = set()  # ids of arrays already stored in some .grad
        anomaly = state.detect_anomaly
        ready = [self]
        while ready:
            node = ready.pop()
            ctx = node._ctx
            g = grads.pop(id(node), None)
            if g is None:  # every path to it had a None gradient: it gets none either
                parent_grads = (None,) * len(ctx.parents)
            else:
                if node._retains_grad:
                    _accumulate_leaf(node, g, handed_out)
                ctx.retain = retain_graph
                if ctx.recorded_at != inplace_changes[0]:  # something was changed in place since this forward
                    _check_unchanged(ctx)
                parent_grads = ctx.backward(g)
            for parent, pg in zip(ctx.parents, parent_grads):
                if not parent.requires_grad:
                    continue
                if pg is not None:
                    data = parent.data
                    if pg.shape != data.shape:  # checked here: a call per edge is most of a small op's cost
                        pg = unbroadcast(pg, data.shape)
                    if pg.dtype != data.dtype:
                        pg = pg.astype(data.dtype)
                    if anomaly:
                        check_finite(pg, ctx.name, "backward", ctx.parents)
                if parent._ctx is None:
                    if pg is not None:
                        _accumulate_leaf(parent, pg, handed_out)
                    continue
                key = id(parent)
                if pg is not None:
                    previous = grads.get(key)
                    grads[key] = pg if previous is None else previous + pg
                if pending[key] == 1:
                    del pending[key]
                    ready.append(parent)
                else:
                    pending[key] -= 1
            if not retain_graph:
                ctx.release()

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        return ops.Add.apply(*_promote(self, _lift(other, self)))

    def __radd__(self, other):
        return ops.Add.apply(*_promote(_lift(other, self), self))

    def __sub__(self, other):
        return ops.Sub.apply(*_promote(self, _lift(other, self)))

    def __rsub__(self, other):
        return ops.Sub.apply(*_promote(_lift(other, self), self))

    def __mul__(self, other):
        return ops.Mul.apply(*_promote(self, _lift(other, self)))

    def __rmul__(self, other):
        return ops.Mul.apply(*_promote(_lift(other, self), self))

    def __truediv__(self, other):
        return ops.Div.apply(*_promote(self, _lift(other, self), divide=True))

    def __rtruediv__(self, other):
        return ops.Div.apply(*_promote(_lift(other, self), self, divide=True))

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return ops.Pow.apply(*_promote(self, exponent))
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a NumPy scalar would turn float32 into float64
        if not isinstance(exponent, (int, float)):
            return ops.Pow.apply(*_promote(self, _lift(exponent, self)))  # an array: elementwise exponents
        return ops.PowScalar.apply(_floating(self) if isinstance(exponent, float) else self, exponent=exponent)

    def __rpow__(self, base):
        return ops.Pow.apply(*_promote(_lift(base, self), self))

    def __matmul__(self, other):
        return ops.MatMul.apply(*_promote(self, _lift(other, self)))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(*_promote(_lift(other, self), self))

    def __neg__(self):
        return ops.Neg.apply(self)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=_plain_index(index))

    # Comparisons give boolean tensors with no gradient, as in PyTorch, after the same dtype rules as
    # arithmetic (a float32 tensor equals the float64 number 0.1 when 0.1 in float32 equals it).
    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        # Elementwise, as in PyTorch (hashing stays by identity, so tensors still work in sets).
        return _compare(np.equal, self, other)  # t == None is False: _compare declines what is not a number

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    eq = __eq__
    ne = __ne__

    # ---------------------------------------------------------- elementwise
    # Integer and boolean tensors become float32 first, as in PyTorch.
    def exp(self):
        return ops.Exp.apply(_floating(self))

    def log(self):
        return ops.Log.apply(_floating(self))

    def sqrt(self):
        return ops.Sqrt.apply(_floating(self))

    def abs(self):
        return ops.Abs.apply(self)

    __abs__ = abs

    def tanh(self):
        return ops.Tanh.apply(_floating(self))

    def sigmoid(self):
        return ops.Sigmoid.apply(_floating(self))

    def relu(self):
        return ops.Relu.apply(self)

    # ----------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims=False, *, dim=None):
        return ops.Sum.apply(self, axis=_axis(axis, dim, self.ndim), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, *, dim=None):
        axis = _axis(axis, dim, self.ndim)
        count = self.data.size if axis is None else int(np.prod([self.shape[a] for a in axis]))
        # The mean of no values is NaN, as in NumPy and PyTorch (0 * NaN).
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims) * (1.0 / count if count else np.nan)

    def max(self, axis=None, keepdims=False, *, dim=None):
        """The largest values along ``axis`` (or ``dim``): the values only, as NumPy's ``max`` and
        PyTorch's ``amax``; PyTorch's ``max(dim)`` also returns indices, here ``argmax`` gives them."""
        return ops.Max.apply(self, axis=_axis(axis, dim, self.ndim), keepdims=keepdims)

    def min(self, axis=None, keepdims=False, *, dim=None):
        axis = _axis(axis, dim, self.ndim)
        if self.data.dtype.kind not in "fc":
            # -max(-x) is exact for floats only: negation wraps unsigned and int8's -128, and fails on
            # booleans. Such tensors have no gradient, so NumPy's min is all there is to do.
            return Tensor._wrap(self.data.min(axis=axis, keepdims=keepdims))  # _wrap makes a scalar an array
        return -ops.Max.apply(-self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, *, dim=None):
        axis = dim if axis is None else axis
        return Tensor._wrap(self.data.argmax(axis=axis))

    # ---------------------------------------------------------------- shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim=0):
        # The size, not -1: NumPy cannot infer -1 when another dimension is 0.
        return self.reshape(self.shape[:start_dim] + (int(np.prod(self.shape[start_dim:])),))

    def transpose(self, *axes):
        """Reverse the axes (no arguments), apply a full permutation, or swap two axes.

        Two axes swap just those two, as ``torch.transpose(x, d0, d1)`` does,
        also on a 2-D tensor (where NumPy would read (0, 1) as the identity
        permutation). A permutation of three or more axes is NumPy's.
        """
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2:
            perm = list(range(self.ndim))
            for ax in axes:
                if not -self.ndim <= ax < self.ndim:
                    raise IndexError(f"transpose: dimension {ax} is out of range for a tensor with {self.ndim} "
                                     f"dimensions")
            a, b = (ax % self.ndim for ax in axes)
            perm[a], perm[b] = perm[b], perm[a]
            axes = tuple(perm)
        return ops.Transpose.apply(self, axes=axes or None)

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes)

    @property
    def T(self):
        return ops.Transpose.apply(self, axes=None)

    def expand(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        # PyTorch's expand keeps a dimension given as -1 (not a new leading one, which has no size to keep).
        new = len(shape) - self.ndim
        if any(n == -1 for n in shape[:max(new, 0)]):
            raise ValueError(f"expand: -1 is not allowed for the new leading dimensions of {tuple(shape)} "
                             f"(the tensor has shape {self.shape})")
        shape = tuple(self.shape[i - new] if n == -1 else n for i, n in enumerate(shape))
        return ops.Expand.apply(self, shape=shape)

    def broadcast_to(self, shape):
        return ops.Expand.apply(self, shape=tuple(shape))

    def squeeze(self, axis=None, *, dim=None):
        """Drop dimensions of size 1 (all, or the given ones that have size 1, as in PyTorch)."""
        axis = _axis(axis, dim, self.ndim)
        if axis is not None:
            axis = tuple(a for a in axis if self.shape[a] == 1)  # others stay, as torch.squeeze(x, d) leaves them
        return self.reshape(np.squeeze(self.data, axis=axis).shape)

    def unsqueeze(self, axis):
        return self.reshape(np.expand_dims(self.data, axis).shape)


def _check_unchanged(ctx):
    """Refuse to backpropagate through an op whose input was changed in place after the forward pass.

    The op saved the input's array, not a copy, so the gradient would be computed from the new
    values: silently wrong. Optimiser steps, ``load_state_dict``, the initialisers and the weight
    averaging mark each change (``function.mark_changed``); writes into ``.data`` by hand are not seen.
    """
    for parent in ctx.parents:
        if getattr(parent, "_changed_at", 0) > ctx.recorded_at:  # getattr: a tensor unpickled from older code
            what = f"{type(parent).__name__} of shape {tuple(parent.shape)}" + (f" ({parent.name})" if parent.name else "")
            raise RuntimeError(
                f"one of the tensors needed for the backward of {ctx.name} was changed in place after the forward "
                f"pass: a {what} was updated (by an optimiser step, load_state_dict, an initialiser or weight "
                f"averaging) since. "
                f"Call backward() before optimizer.step(), or run the forward pass again.")


def _compare(compare, tensor, other):
    """An elementwise comparison of ``tensor`` with ``other`` after arithmetic's dtype rules."""
    if not isinstance(other, (Tensor, np.ndarray, np.generic, numbers.Number, list, tuple)):
        return NotImplemented  # a string, a Scalar, any object: == is False and < raises, as in PyTorch
    a, b = _promote(tensor.detach(), _lift(other, tensor).detach())  # detached: no graph for a comparison
    return Tensor._wrap(compare(a.data, b.data))


def _accumulate_leaf(tensor, grad, handed_out):
    """Add ``grad`` into ``tensor.grad`` without ever aliasing another tensor's gradient."""
    if tensor.grad is None:
        if grad.__class__ is not np.ndarray:
            # NumPy turns arithmetic on 0-d arrays into scalars; .grad must stay
            # an array, or in-place updates of it (clipping) would do nothing.
            grad = np.array(grad)
        elif id(grad) in handed_out or grad.base is not None or not grad.flags.writeable:
            grad = grad.copy()
        handed_out.add(id(grad))
        tensor._grad = grad
    else:
        total = tensor.grad + grad
        tensor._grad = total if total.__class__ is np.ndarray else np.array(total)


def _count_consumers(root):
    """For every non-leaf tensor under ``root`` that needs a gradient: how many graph edges lead to it.

    That is how many gradients it must receive before its own backward can
    run. An explicit stack instead of recursion keeps very deep graphs working.
    """
    pending = {}
    stack = [root]
    while stack:
        ctx = stack.pop()._ctx
        if ctx.freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time: its saved values were "
                "freed by the first backward(). Pass retain_graph=True to the first call "
                "if you need to backpropagate through it again.")
        for parent in ctx.parents:
            if parent.requires_grad and parent._ctx is not None:
                key = id(parent)
                if key in pending:
                    pending[key] += 1
                else:
                    pending[key] = 1
                    stack.append(parent)
    return pending


def _lift(value, like):
    """Wrap a Python scalar or array so it can meet ``like`` in an op (no gradient)."""
    if isinstance(value, Tensor):
        return value
    # NumPy scalars too (np.int64 from a count, np.float64 from a sum): as in PyTorch, a lone
    # number takes the float tensor's dtype instead of turning float32 into float64.
    if isinstance(value, (int, float, bool, np.integer, np.floating, np.bool_)) and like.data.dtype.kind == "f":
        return Tensor._wrap(np.asarray(value, dtype=like.data.dtype))
    if isinstance(value, np.generic):
        value = value.item()  # a NumPy scalar counts as a Python number, as in PyTorch
    return Tensor._wrap(backend.as_array(value))  # refuses what NumPy would keep as an object (a Scalar, ...)


def _promote(a, b, divide=False):
    """Bring two operands to PyTorch's result dtype where NumPy's differs, before the op.

    A float tensor meeting an integer or boolean one keeps its float dtype
    (NumPy would make float32 with int64 float64); a 0-d float tensor does not
    widen an n-d one (float32 with a 0-d float64 stays float32); integers
    divided give float32. Same dtypes, the usual case, cost one comparison.
    """
    da, db = a.data.dtype, b.data.dtype
    if da is db and not (divide and da.kind not in "fc"):
        return a, b
    fa, fb = da.kind in "fc", db.kind in "fc"
    if fa and not fb:
        return a, b.astype(da)
    if fb and not fa:
        return a.astype(db), b
    if not fa:  # both integer or boolean
        return (_floating(a), _floating(b)) if divide else (a, b)
    if (a.data.ndim == 0) != (b.data.ndim == 0) and da != db:
        return (a, b.astype(da)) if b.data.ndim == 0 else (a.astype(db), b)
    return a, b


def _floating(t):
    """``t`` itself if it is floating-point, else its values as PyTorch's default float (float32)."""
    return t if t.data.dtype.kind in "fc" else t.astype(backend.DEFAULT_FLOAT)


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _plain_index(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


def _axis(axis, dim, ndim):
    """Normalise NumPy's ``axis=`` (or PyTorch's ``dim=``) to a sorted tuple or None."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give axis= or dim=, not both")
        axis = dim
    if axis is None:
        return None
    axes = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    if ndim == 0:  # as PyTorch: dim 0 or -1 of a 0-d tensor is the tensor itself
        return None
    return tuple(sorted(a % ndim for a in axes))


# Imported last: ops (and function.apply) need Tensor to exist first.
from . import function, ops

function.Tensor = Tensor
