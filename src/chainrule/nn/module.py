"""Module: the base class of every layer and model, with PyTorch's interface.

Attributes that are Parameters or Modules are registered in assignment order,
so ``parameters()``, ``named_parameters()`` and ``state_dict()`` walk them in
a stable order and ``load_state_dict`` can match names one to one.
"""
from collections import OrderedDict

import numpy as np

from ..function import module_scope
from ..tensor import Tensor
from .parameter import Parameter


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_name", type(self).__name__)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ "
                                 f"before assigning attribute {name!r}")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """A saved, non-trained array (for example a fitted mean); it appears in state_dict."""
        object.__setattr__(self, name, array)
        self._buffers[name] = name

    def add_module(self, name, module):
        setattr(self, name, module)

    # --------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        # The scope lets graph drawings collapse the ops each module made.
        module_scope.append(self._scope_name)
        try:
            return self.forward(*args, **kwargs)
        finally:
            module_scope.pop()

    # ------------------------------------------------------------- traversal
    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix=""):
        seen = set()
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) in seen:
                    continue  # a shared (tied) parameter is listed once
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def _set_scope_names(self):
        for name, module in self.named_modules():
            object.__setattr__(module, "_scope_name", name or type(module).__name__)

    # ----------------------------------------------------------------- modes
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def num_parameters(self, trainable_only=False):
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """Names mapped to NumPy arrays (parameters and buffers), in registration order."""
        state = OrderedDict()
        for mod_name, module in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for name, p in module._parameters.items():
                state[dot + name] = p.data
            for name in module._buffers:
                state[dot + name] = np.asarray(getattr(module, name))
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays into this model's parameters; shapes must match, and with strict names too."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        targets = {}
        for mod_name, module in self.named_modules():
            dot = f"{mod_name}." if mod_name else ""
            for name, p in module._parameters.items():
                targets[dot + name] = (module, name, p)
            for name in module._buffers:
                targets[dot + name] = (module, name, None)
        for key, value in state.items():
            if key not in targets:
                continue
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            module, name, p = targets[key]
            if key in own and own[key].shape != value.shape:
                raise ValueError(f"load_state_dict: {key} has shape {value.shape} in the file but "
                                 f"{own[key].shape} in the model")
            if p is not None:
                p.data = value.astype(p.data.dtype, copy=True)
            else:
                object.__setattr__(module, name, value.copy())
        return missing, unexpected

    # ----------------------------------------------------------------- repr
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = [(n, m) for n, m in self._modules.items()]
        if not children:
            return lines[0] + ")"
        for name, child in children:
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {text}")
        return "\n".join(lines) + "\n)"
