"""Module: the base class of every layer and model, with PyTorch's interface.

Attributes that are Parameters or Modules are registered in assignment order,
so ``parameters()``, ``named_parameters()`` and ``state_dict()`` walk them in
a stable order and ``load_state_dict`` can match names one to one. Buffers
(saved arrays that are not trained) are registered with ``register_buffer``.
A registered parameter or submodule set to None keeps its name (an empty slot
that the walkers skip and that only a Parameter, or a Module, may fill again),
as in PyTorch; ``del`` removes the name.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..function import mark_changed, module_scope
from ..optim.optimizer import zero_grad_in_place
from ..tensor import Tensor
from .parameter import Parameter

#: What ``load_state_dict`` returns, as in PyTorch.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())  # name -> persistent (saved in state_dict)
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            # As in PyTorch: plain attributes may be set before Module.__init__, but not what it registers.
            if isinstance(value, (Parameter, Module)):  # raises, naming the class and the attribute
                self._require_init("parameter" if isinstance(value, Parameter) else "submodule", name)
            object.__setattr__(self, name, value)
            return
        # PyTorch's order of checks. A registered name set to None keeps its slot (holding None, which the
        # walkers skip), so a later plain Tensor is still refused: it would silently stop being trained.
        if isinstance(value, Parameter):
            _check_name(self, name, "parameter")
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (a Parameter or None is expected)")
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as submodule {name!r} of "
                                f"{type(self).__name__} (a Module or None is expected)")
            self._modules[name] = None
        # A buffer stays registered when given a new value.
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def _require_init(self, kind, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} {name!r} before Module.__init__() call: call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")

    def register_buffer(self, name, array, persistent=True):
        """A saved, non-trained array (a fitted mean, a mask); with persistent=True it is in state_dict."""
        self._require_init("buffer", name)
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty string without '.', got {name!r}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        object.__setattr__(self, name, array)
        self._buffers[name] = bool(persistent)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an empty slot that only a Parameter may fill)."""
        self._require_init("parameter", name)
        _check_name(self, name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            # As in PyTorch: a submodule, buffer or attribute of that name would be left half-replaced.
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register a {type(param).__name__} as parameter {name!r} of "
                            f"{type(self).__name__} (a Parameter or None is expected)")
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name, module):
        """Register ``module`` (or None, an empty slot) as the submodule ``name``."""
        self._require_init("submodule", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        _check_name(self, name, "submodule")
        if hasattr(self, name) and name not in self._modules:
            # As in PyTorch: a parameter, buffer, method or plain attribute of that name is not replaced.
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # --------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        # The scope lets graph drawings collapse the ops each module made (graph.py names it).
        module_scope.append(self)
        try:
            return self.forward(*args, **kwargs)
        finally:
            module_scope.pop()

    # ------------------------------------------------------------- traversal
    def children(self):
        for _, module in self.named_children():
            yield module

    def named_children(self):
        """(name, module) for each direct submodule; one registered under two names is listed once, as in PyTorch."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def named_modules(self, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, parents first.

        A module reached twice (shared) is listed once unless ``remove_duplicate=False``.
        """
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def get_submodule(self, target):
        """The module at a dotted path such as ``"encoder.layers.0"``; ``""`` is this module."""
        module = self
        for part in target.split(".") if target else ():
            if module._modules.get(part) is None:  # absent, or a slot set to None
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
            module = module._modules[part]
        return module

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules (tied) is listed once."""
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, p in module._parameters.items():
                if p is None:
                    continue
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, value) of the buffers; one array registered under two names is listed once.

        A buffer set to None is left out, as in PyTorch.
        """
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name in module._buffers:
                value = getattr(module, name)
                if value is None:
                    continue
                # Identity means shared storage only for arrays; a Python number's identity is interning.
                if remove_duplicate and isinstance(value, (np.ndarray, Tensor)):
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn`` on every submodule and then on this one (for custom initialisation); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes
    def train(self, mode=True):
        """Set training mode (dropout active) on this module and all below it; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode must be a bool, got {mode!r}")  # noqa: TRY004 - as torch
        self.training = mode
        # Each child's own train() (not a loop over the flags), so a subclass overriding it is honoured.
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                zero_grad_in_place(p)

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def num_parameters(self, trainable_only=False):
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------ state dict
    def _state_entries(self):
        """(key, module, attribute name, is_parameter) for every saved entry, tied ones under each name."""
        for mod_name, module in self.named_modules(remove_duplicate=False):
            dot = f"{mod_name}." if mod_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, module, name, True
            for name, persistent in module._buffers.items():
                if persistent and getattr(module, name) is not None:
                    yield dot + name, module, name, False

    def state_dict(self, prefix="", keep_vars=False):
        """Names mapped to the parameters' and buffers' NumPy arrays, in registration order.

        As in PyTorch, the arrays are the live ones, not copies: an optimiser
        step changes them. Copy them (``{k: v.copy() for k, v in sd.items()}``)
        to keep a snapshot, or write them with ``chainrule.save``.
        ``keep_vars=True`` gives the Parameters themselves.
        """
        state = OrderedDict()
        # As in PyTorch, the prefix is put before each key as given: state_dict(prefix="model.").
        for key, module, name, is_param in self._state_entries():
            key = prefix + key
            value = getattr(module, name)
            if is_param:
                state[key] = value if keep_vars else value.data
            else:
                state[key] = value.data if isinstance(value, Tensor) else np.asarray(value)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into this model's parameters and buffers, checking names and shapes first.

        Shapes must always match. With ``strict`` (the default) every key of
        the model must be in ``state_dict`` and no other key may be. Nothing is
        changed unless all checks pass; errors raise RuntimeError listing every
        problem, as PyTorch does. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state_dict).__name__}")
        entries = {key: (module, name) for key, module, name, _ in self._state_entries()}
        missing = [k for k in entries if k not in state_dict]
        unexpected = [k for k in state_dict if k not in entries]
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if strict and unexpected:
            problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        updates = []
        for key, value in state_dict.items():
            if key not in entries:
                continue
            module, name = entries[key]
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            current = getattr(module, name)
            current_shape = current.shape if isinstance(current, (Tensor, np.ndarray)) else np.shape(current)
            if value.shape != current_shape:
                problems.append(f"size mismatch for {key}: copying an array of shape {value.shape} from the "
                                f"checkpoint, the shape in the current model is {current_shape}.")
                continue
            updates.append((module, name, value))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        for module, name, value in updates:
            current = getattr(module, name)
            target = current.data if isinstance(current, Tensor) else current
            if isinstance(target, np.ndarray) and target.flags.writeable:
                np.copyto(target, value, casting="unsafe")  # in place: the arrays keep their identity and dtype
                if isinstance(current, Tensor):
                    mark_changed(current)  # a graph recorded before the load must not backpropagate
            elif isinstance(current, Tensor):
                current.data = value.astype(current.dtype, copy=True)
            else:
                object.__setattr__(module, name, value.copy())
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- repr
    def extra_repr(self):
        """Settings shown inside the parentheses of the repr; layers override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_name(module, name, kind):
    """PyTorch's checks on a parameter or submodule name: a string, not empty, without '.' (the path separator)."""
    if not isinstance(name, str):
        raise TypeError(f"{type(module).__name__}: {kind} name must be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{type(module).__name__}: {kind} name must be non-empty and without '.', got {name!r}")
