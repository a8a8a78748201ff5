"""The layers of torch.nn that chainrule's models use, with PyTorch's defaults."""
import math
from collections import OrderedDict

import numpy as np

from .. import functional as F
from ..backend import DEFAULT_FLOAT
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


def _empty(*shape):
    return Parameter(np.zeros(shape, dtype=DEFAULT_FLOAT))


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty(out_features, in_features)
        if bias:
            self.bias = _empty(out_features)
        else:
            self.register_parameter("bias", None)  # an empty slot, as in PyTorch: only a Parameter may fill it
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)).
        bound = 1 / math.sqrt(self.in_features) if self.in_features else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A (num_embeddings, embedding_dim) table of vectors looked up by integer ids.

    Initialised N(0, 1) as in PyTorch. The row ``padding_idx``, if given,
    starts at zero and never receives a gradient, so padding stays neutral.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {num_embeddings} rows")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = _empty(num_embeddings, embedding_dim)
            init.normal_(self.weight)
            if padding_idx is not None:
                self.weight.data[padding_idx] = 0
        else:
            if _weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: weight has shape {_weight.shape}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(np.array(_weight, dtype=DEFAULT_FLOAT))

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding a copy of the given (V, D) vectors (as float32); frozen unless freeze=False.

        As in PyTorch, the ``padding_idx`` row keeps its pretrained values but gets no gradient.
        """
        data = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained needs a 2-D array, got shape {data.shape}")
        layer = cls(data.shape[0], data.shape[1], padding_idx=padding_idx, _weight=data)
        layer.weight.requires_grad = not freeze
        return layer

    def freeze(self, flag=True):
        """Stop (or with flag=False, resume) training the vectors; returns self."""
        self.weight.requires_grad = not flag
        return self

    def forward(self, ids):
        return F.embedding(ids, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        frozen = ", frozen" if not self.weight.requires_grad else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}{frozen}"


class Conv1d(Module):
    """Filters sliding over the last axis of (N, C_in, L); for text, C_in is the embedding width."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"Conv1d: kernel_size must be a positive integer, got {kernel_size!r}")
        self.weight = _empty(out_channels, in_channels, kernel_size)
        if bias:
            self.bias = _empty(out_channels)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default, as for Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in * k.
        bound = 1 / math.sqrt(self.in_channels * self.kernel_size)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv1d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            text += f", padding={self.padding!r}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Pool1d(Module):
    """Windows of ``kernel_size`` over the last axis, ``stride`` apart (default: the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride  # PyTorch stores the resolved stride too
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool1d):
    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding)


class AvgPool1d(_Pool1d):
    """Mean over each window; zero padding counts in the mean, as PyTorch's default count_include_pad=True."""

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p); in eval, the identity."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        # The size, not -1: NumPy cannot infer -1 in an empty batch.
        return x.reshape(x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class CrossEntropyLoss(Module):
    def __init__(self, ignore_index=None, reduction="mean"):
        super().__init__()
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets, ignore_index=self.ignore_index, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets, reduction=self.reduction)


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: length, iteration, and adding at the end under the next number."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self


class Sequential(_ModuleSequence):
    """Modules applied in order; built from modules, or from an OrderedDict of names to modules.

    ``del``, ``pop`` and ``insert`` (except at the end) renumber the keys 0..n-1, named ones too, as PyTorch does.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __getitem__(self, i):
        items = list(self._modules.items())
        if isinstance(i, slice):
            return type(self)(OrderedDict(items[i]))
        return items[_index(i, len(items), type(self).__name__)][1]

    def __setitem__(self, i, module):
        # The slot keeps its name, as in PyTorch; setattr refuses what is neither a Module nor None.
        setattr(self, list(self._modules)[_index(i, len(self._modules), type(self).__name__)], module)

    def __delitem__(self, i):
        items = list(self._modules.values())
        if isinstance(i, slice):
            del items[i]
        else:
            del items[_index(i, len(items), type(self).__name__)]
        _renumber(self, items)

    def insert(self, index, module):
        """Put ``module`` before position ``index`` (-n <= index <= n, as in PyTorch); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.insert: {type(module).__name__} is not a Module")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"index {index} is out of range to insert into a {type(self).__name__} of {n} modules")
        if index == n:
            return self.append(module)  # the other keys stay as they are (names too), as in PyTorch
        items = list(self._modules.values())
        items.insert(index, module)
        _renumber(self, items)
        return self

    def pop(self, i):
        """Remove and return the module at ``i`` (a Sequential for a slice)."""
        popped = self[i]
        del self[i]
        return popped

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (a plain list's would be invisible)."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        _renumber(self, items)

    def __getitem__(self, i):
        items = list(self._modules.values())
        if isinstance(i, slice):
            return type(self)(items[i])
        return items[_index(i, len(items), "ModuleList")]

    def __setitem__(self, i, module):
        setattr(self, str(_index(i, len(self._modules), "ModuleList")), module)

    def __delitem__(self, i):
        items = list(self._modules.values())
        del items[i]
        _renumber(self, items)

    def __iadd__(self, modules):
        return self.extend(modules)


def _renumber(container, modules):
    """Register ``modules`` in ``container`` under the keys 0..n-1, in order, dropping the old keys.

    PyTorch keeps a Sequential's and a ModuleList's keys so, and state_dict names follow positions.
    """
    for name in list(container._modules):
        delattr(container, name)
    for i, m in enumerate(modules):
        container.add_module(str(i), m)


def _index(i, n, owner):
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {owner} of {n} modules")
    return i % n
