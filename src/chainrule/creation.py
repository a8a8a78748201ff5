"""Functions that make tensors: tensor, zeros, ones, randn, arange, and joins of tensors."""
import numpy as np

from . import backend, ops, rng
from .tensor import Tensor, _lift


def tensor(data, requires_grad=False, dtype=None):
    """Make a Tensor from a copy of ``data``, as ``torch.tensor`` does.

    Python floats become float32; an ndarray keeps its dtype unless ``dtype``
    is given. The copy matters: an optimiser step on the tensor would
    otherwise change the caller's array (``Tensor(array)`` shares it, as
    ``torch.from_numpy`` does). A list of one-element tensors is a list of
    their values.
    """
    if isinstance(data, Tensor):
        data = data.data.copy()
    elif isinstance(data, np.ndarray):
        data = data.copy()
    elif isinstance(data, (list, tuple)):
        data = [x.data if isinstance(x, Tensor) else x for x in data]
    t = Tensor(data, requires_grad=requires_grad, dtype=dtype)
    if t.data.dtype.kind in "OUSV":
        raise TypeError(f"tensor: expected numbers, got {type(data).__name__} data of dtype {t.data.dtype}")
    return t


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def zeros(*shape, dtype=backend.DEFAULT_FLOAT, requires_grad=False):
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=backend.DEFAULT_FLOAT, requires_grad=False):
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, requires_grad=False):
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*shape, dtype=backend.DEFAULT_FLOAT, requires_grad=False):
    data = rng.generator().standard_normal(_shape(shape), dtype=np.dtype(dtype).type)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=backend.DEFAULT_FLOAT, requires_grad=False):
    data = rng.generator().random(_shape(shape), dtype=np.dtype(dtype).type)
    return Tensor(data, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    data = np.arange(start, stop, step)
    if dtype is None and np.issubdtype(data.dtype, np.floating):
        dtype = backend.DEFAULT_FLOAT
    return Tensor(data, dtype=dtype)


def _as_tensors(tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("expected a non-empty list of tensors")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def cat(tensors, axis=0, *, dim=None):
    return ops.Cat.apply(*_as_tensors(tensors), axis=axis if dim is None else dim)


concatenate = cat


def stack(tensors, axis=0, *, dim=None):
    return ops.Stack.apply(*_as_tensors(tensors), axis=axis if dim is None else dim)


def where(cond, a, b):
    """Elementwise choice: ``a`` where ``cond`` is true, else ``b`` (gradients flow to a and b)."""
    cond = cond if isinstance(cond, Tensor) else Tensor(np.asarray(cond))
    # A Python number takes the dtype of the tensor it meets, as in a + 1.0.
    if not isinstance(a, Tensor):
        a = _lift(a, b) if isinstance(b, Tensor) else Tensor(a)
    if not isinstance(b, Tensor):
        b = _lift(b, a)
    return ops.Where.apply(cond, a, b)
