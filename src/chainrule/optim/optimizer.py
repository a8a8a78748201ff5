"""Optimizer: the base class of every optimiser, with torch.optim's interface.

Parameters live in ``param_groups``, a list of dicts that each hold a
``"params"`` list and that group's hyperparameters (so a schedule or a user
can change ``group["lr"]`` between steps). Per-parameter state (moment
estimates, step counts) lives in ``state``, keyed by the Parameter itself.

Updates are plain NumPy on ``p.data``, in place, so they record no graph
and work inside or outside ``no_grad``. ``state_dict()`` holds only arrays,
numbers, strings, lists and dicts, so ``chainrule.save`` can write it.
"""
import numpy as np

from .. import threads
from ..function import mark_changed
from ..grad_mode import enable_grad
from ..tensor import Tensor

#: Run updates block by block on chainrule's threads (see ``apply_elementwise``).
#: False runs each kernel once over whole arrays: the reference the tests compare with.
BLOCKED = True

#: Let an optimiser that can (Adadelta) update only the gradient's nonzero rows of
#: a large 2-D parameter (see ``nonzero_rows``). False updates every row at every
#: step: the reference the tests compare with.
LAZY_ROWS = True

#: Parameters with fewer rows are always updated whole: finding the used rows
#: would cost about as much as it saves.
LAZY_MIN_ROWS = 1024


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params should be an iterable of Parameters or of dicts, got a single "
                            "Tensor; pass [tensor] or model.parameters()")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, group):
        """Add a dict with a ``"params"`` list; keys it leaves out take the optimiser's defaults."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimise Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimise a non-leaf Tensor (shape {p.shape})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group lists the same parameter more than once")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    # ------------------------------------------------------------------ steps
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: drop them (the default, as in PyTorch) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    zero_grad_in_place(p)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()``'s loss if one is given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, self._state_for(p, group), group)
                    mark_changed(p)  # a graph recorded before this step must not backpropagate through p
        return loss

    def _state_for(self, p, group):
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = self._init_state(p, group)
        return state

    def _init_state(self, p, group):
        """The per-parameter state before the first step (overridden by each optimiser)."""
        return {}

    def _update(self, p, grad, state, group):  # pragma: no cover - interface
        raise NotImplementedError

    # ------------------------------------------------------------ state dict
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``, as in PyTorch.

        Parameters are numbered in group order. As in PyTorch, each parameter's
        state is the live one, not a copy: a later step changes it, counts and
        arrays together. ``chainrule.save`` writes it as it is at that moment;
        ``copy.deepcopy`` keeps a snapshot.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        # The live dicts: a copy of the dict alone would freeze the step count but not the arrays.
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict()`` (arrays are copied)."""
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError("not an optimizer state dict: it needs 'state' and 'param_groups' entries") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} of the loaded state dict has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
            by_index.update(zip(saved["params"], group["params"]))
        # Check everything before changing anything, so a bad file leaves the optimiser as it was.
        new_state = {}
        for key, values in saved_state.items():
            if key not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no group lists")
            p = by_index[key]
            new_state[p] = {name: _copy_state_value(name, value, p, key, self._state_shape(name, p))
                            for name, value in values.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    group[k] = v
        self.state = new_state

    def _state_shape(self, name, p):
        """The shape an array of per-parameter state must have (an optimiser may keep per-row arrays too)."""
        return p.shape


def _copy_state_value(name, value, p, index, shape):
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        if value.shape != shape:
            raise ValueError(f"loaded optimizer state {name!r} of parameter {index} has shape {value.shape}, "
                             f"but it must have shape {shape} (the parameter's is {p.shape})")
        return value.astype(p.dtype, copy=True)  # a copy, so two optimisers never share a buffer
    return value


def nonzero_rows(grad):
    """Sorted indices of the rows of a 2-D gradient holding anything but +0.0; None when most rows do.

    An embedding table's gradient is nonzero only in the rows of the words a
    batch used, often a few percent of them. An optimiser whose step on a
    zero gradient is simple to describe (Adadelta: the running averages decay,
    the weights stay) can then update those rows and catch the others up
    later. Rows are found from the floats' bits, one max per row over them
    as unsigned integers, which reads the gradient once; -0.0 and NaN count as
    nonzero, so such rows take the ordinary update. None (update every row)
    also for small, non-contiguous or non-2-D gradients, or with ``LAZY_ROWS`` off.
    """
    if (not LAZY_ROWS or grad.ndim != 2 or grad.shape[0] < LAZY_MIN_ROWS or grad.shape[1] == 0
            or not grad.flags.c_contiguous
            or grad.itemsize not in (2, 4, 8)):
        return None
    used = np.flatnonzero(grad.view(np.dtype(f"u{grad.itemsize}")).max(axis=1))
    return used if 2 * len(used) <= grad.shape[0] else None


def apply_elementwise(kernel, p, grad, *state_arrays, **scalars):
    """Run ``kernel(param, grad, *state, **scalars)``, an in-place elementwise update, over a parameter.

    ``p`` is the Parameter or an array of weights (e.g. some of its rows).

    Each optimiser's update is a dozen NumPy passes over the parameter, its
    gradient and its state. Run on whole arrays of millions of elements,
    every pass streams them all through memory again. Run here block by
    block (``threads.parallel_blocks``), every pass after the first finds its
    block in cache, and the blocks are shared between chainrule's threads.

    Because the kernel is elementwise, calling it on slices gives bit for bit
    what one call on the whole arrays gives: that whole-array call is the
    reference (``BLOCKED = False``), also used for small or non-contiguous arrays.
    """
    data = p.data if isinstance(p, Tensor) else p
    arrays = (data,) + state_arrays
    if (not BLOCKED or data.size < 2 * threads.BLOCK or grad.shape != data.shape
            or not all(a.flags.c_contiguous and a.shape == data.shape for a in arrays)):
        kernel(data, grad, *state_arrays, **scalars)
        return
    flat = [a.reshape(-1) for a in arrays]
    g = np.ascontiguousarray(grad).reshape(-1)

    def block(start, stop):
        kernel(flat[0][start:stop], g[start:stop], *[a[start:stop] for a in flat[1:]], **scalars)
    threads.parallel_blocks(block, data.size)


def apply_to_rows(kernel, p, grad, rows, *state_arrays, state_scale=None, **scalars):
    """``apply_elementwise`` on some rows of a 2-D parameter (e.g. those ``nonzero_rows`` found).

    The rows of the weights, the gradient and each state array are gathered,
    updated together and written back. ``state_scale``, one value per row,
    first multiplies the gathered state rows (an optimiser's catch-up of them).
    """
    weights = p.data[rows]
    states = [s[rows] for s in state_arrays]
    if state_scale is not None:
        for s in states:
            s *= state_scale[:, None]
    apply_elementwise(kernel, weights, grad[rows], *states, **scalars)
    p.data[rows] = weights
    for full, part in zip(state_arrays, states):
        full[rows] = part


def weight_decayed(grad, p, weight_decay):
    """The L2-penalised gradient g + wd * p, as a new array (``p.grad`` is left untouched, as in PyTorch)."""
    if weight_decay == 0:
        return grad
    return grad + weight_decay * p.data


def check_non_negative(name, value):
    if not value >= 0:
        raise ValueError(f"invalid {name}: {value} (must be >= 0)")


def zero_grad_in_place(p):
    """Zero ``p.grad`` itself, as PyTorch's ``grad.zero_()`` does: code holding the array sees the zeros."""
    if p.grad.flags.writeable:
        p.grad.fill(0)
    else:
        p.grad = np.zeros_like(p.grad)
