"""Scalar: reverse-mode autodiff on single Python floats, one number at a time.

    from chainrule import Scalar
    a, b = Scalar(2.0), Scalar(-3.0)
    c = (a * b + a).tanh()
    c.backward()
    a.grad, b.grad     # dc/da = (b + 1)(1 - c^2), dc/db = a(1 - c^2)

A Tensor holds a NumPy array, and on an array of one element each NumPy call
costs close to a microsecond, several times the arithmetic itself. An
expression built number by number (a lecture's worked example, an MLP written
neuron by neuron) is all such calls. A Scalar holds a plain Python float
instead, so that kind of code runs at the speed of Python arithmetic.

Each operation computes its value and, right beside it, the local derivative
of that value with respect to each input (for a * b: b and a). ``backward``
then applies the chain rule as one product per edge of the graph,
d loss/d input += (d out/d input) * (d loss/d out), walking the nodes in
reverse topological order without recursion (so very deep graphs work).
``explain_backward`` prints those products one by one.

Semantics (kept close to a PyTorch tensor of one element, in float64):
- every Scalar is part of the graph and gets a gradient; a plain number mixed
  in (``x * 2``) is a constant and gets none;
- ``.grad`` is None until ``backward`` reaches the Scalar, and gradients add
  up over several ``backward`` calls (set ``.grad = None`` between steps);
  unlike PyTorch, intermediate Scalars keep their ``.grad`` too, so a drawing
  or a lecture can show every node's gradient;
- the graph is only floats, so it is kept after ``backward`` rather than
  freed; it goes when its output does;
- IEEE arithmetic as in NumPy: 1/0 is inf, log(0) is -inf, sqrt(-1) is NaN
  (where Python's own float operations would raise), and the derivative at an
  edge follows PyTorch's convention (ReLU'(0) = 0; d(a**b)/db = 0 where a == 0
  and b >= 0). Three limits of multiplying by a stored local derivative: where it
  overflows (1/x for |x| below ~1e-308) the gradient is inf even if PyTorch's
  g/x would be finite; a zero gradient is +0.0 whatever PyTorch's sign; and an
  infinite gradient reaching a zero local derivative gives inf * 0 = NaN, where
  PyTorch's ReLU masks it to 0 (``Tensor.relu`` does as PyTorch);
- ``==`` is identity, as for any Python object (``<`` ``<=`` ``>`` ``>=``
  compare values), so Scalars can be kept in sets and dicts;
- ``backward`` is not thread-safe (see its docstring).
"""
import itertools
import math
import numbers
import operator

import numpy as np

_new = object.__new__
_counter = itertools.count()  # creation order: see Scalar.topological_order
_creation = operator.attrgetter("_id")


class Scalar:
    __slots__ = ("__weakref__", "_a", "_b", "_da", "_db", "_g", "_id", "data", "grad", "name", "op")
    __array_ufunc__ = None  # ndarray + Scalar is refused rather than turned into an object array

    def __init__(self, data, name=None):
        value = _constant(data.data if isinstance(data, Scalar) else data)
        if value is None:
            raise TypeError(f"Scalar needs a real number, not {type(data).__name__}")
        self.data = value
        self.grad = None
        self.name = name
        self.op = ""
        self._a = self._b = self._da = self._db = None  # inputs: none for a Scalar made by hand (a leaf)
        self._id = next(_counter)

    # ---------------------------------------------------------------- fields
    @property
    def is_leaf(self):
        return self._a is None

    @property
    def parents(self):
        """The Scalars this one was computed from (none for a leaf)."""
        return () if self._a is None else (self._a,) if self._b is None else (self._a, self._b)

    @property
    def local_grads(self):
        """d self / d parent for each of ``parents``: the factors the chain rule multiplies."""
        return () if self._a is None else (self._da,) if self._b is None else (self._da, self._db)

    @property
    def op_label(self):
        """The op as drawings and explanations show it, with its constant: "- 3", "3 -" (for 3 - x), "exp"."""
        if self._a is None:
            return ""
        constant = self._db if self._b is None else None
        if constant is None:
            return self.op
        if self.op.startswith("r"):  # the constant came first: 3 - x, 2 ** x
            return f"{constant:.4g} {self.op[1:]}"
        return f"{self.op} {constant:.4g}"

    def item(self):
        return self.data

    def __float__(self):
        return self.data

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return self.data != 0

    # Pickling and copying: the creation numbers are per process (see topological_order), so an
    # unpickled Scalar takes a fresh one. Its inputs are unpickled before it, so they stay earlier.
    def __getstate__(self):
        return {k: getattr(self, k) for k in _STATE}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._id = next(_counter)

    def __repr__(self):
        grad = "" if self.grad is None else f", grad={self.grad:.6g}"
        name = "" if self.name is None else f", name={self.name!r}"
        return f"Scalar({self.data:.6g}{grad}{name})"

    # Comparisons are on the values and give plain booleans; there is no ``==``
    # so that Scalars hash by identity (the backward walk keeps them in a set).
    def __lt__(self, other):
        return self.data < _value(other)

    def __le__(self, other):
        return self.data <= _value(other)

    def __gt__(self, other):
        return self.data > _value(other)

    def __ge__(self, other):
        return self.data >= _value(other)

    # ------------------------------------------------------------ arithmetic
    # Each op: the value, then the local derivative for each Scalar input.
    def __add__(self, other):
        if isinstance(other, Scalar):
            return _node(self.data + other.data, "+", self, 1.0, other, 1.0)
        c = _constant(other)
        return NotImplemented if c is None else _node(self.data + c, "+", self, 1.0, None, c)

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, Scalar):
            return _node(self.data - other.data, "-", self, 1.0, other, -1.0)
        c = _constant(other)
        return NotImplemented if c is None else _node(self.data - c, "-", self, 1.0, None, c)

    def __rsub__(self, other):
        c = _constant(other)
        return NotImplemented if c is None else _node(c - self.data, "r-", self, -1.0, None, c)

    def __mul__(self, other):
        a = self.data
        if isinstance(other, Scalar):
            b = other.data
            return _node(a * b, "*", self, b, other, a)
        c = _constant(other)
        return NotImplemented if c is None else _node(a * c, "*", self, c, None, c)

    __rmul__ = __mul__

    def __truediv__(self, other):
        a = self.data
        if isinstance(other, Scalar):
            b = other.data
            q = _div(a, b)
            # -(a/b)/b rather than -a/(b*b): b*b overflows or underflows long before the quotient does
            return _node(q, "/", self, _div(1.0, b), other, -_div(q, b))
        c = _constant(other)
        return NotImplemented if c is None else _node(_div(a, c), "/", self, _div(1.0, c), None, c)

    def __rtruediv__(self, other):
        c = _constant(other)
        if c is None:
            return NotImplemented
        q = _div(c, self.data)
        return _node(q, "r/", self, -_div(q, self.data), None, c)

    def __neg__(self):
        return _node(-self.data, "neg", self, -1.0)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        a = self.data
        if isinstance(exponent, Scalar):
            b = exponent.data
            out = _pow(a, b)
            return _node(out, "**", self, _dpow_base(a, b), exponent, _dpow_exponent(a, b, out))
        p = _constant(exponent)
        if p is None:
            return NotImplemented
        if p == 0.5:
            # As NumPy and PyTorch do for a constant exponent of 0.5: sqrt, so -inf gives NaN and -0.0 gives
            # -0.0 with derivative -inf (Python's ** gives inf and 0.0).
            out = _sqrt(a)
            return _node(out, "**", self, _div(0.5, out), None, p)
        # And x ** -0.5 as 1 / sqrt(x), as PyTorch does: -inf at -0.0 (pow gives inf).
        out = _div(1.0, _sqrt(a)) if p == -0.5 else _pow(a, p)
        return _node(out, "**", self, _dpow_base(a, p), None, p)

    def __rpow__(self, base):
        c = _constant(base)
        if c is None:
            return NotImplemented
        b = self.data
        out = _pow(c, b)
        return _node(out, "r**", self, _dpow_exponent(c, b, out), None, c)

    # ---------------------------------------------------------- functions
    def exp(self):
        out = _exp(self.data)
        return _node(out, "exp", self, out)

    def log(self):
        a = self.data
        return _node(_log(a), "log", self, _div(1.0, a))

    def sqrt(self):
        out = _sqrt(self.data)
        return _node(out, "sqrt", self, _div(0.5, out))

    def tanh(self):
        t = math.tanh(self.data)
        return _node(t, "tanh", self, 1.0 - t * t)

    def sigmoid(self):
        a = self.data
        # Split by sign so exp never overflows.
        if a >= 0:
            s = 1.0 / (1.0 + math.exp(-a))
        else:
            e = _exp(a)
            s = e / (1.0 + e)
        return _node(s, "sigmoid", self, s * (1.0 - s))

    def relu(self):
        a = self.data
        # NaN passes through with derivative 1, and ReLU'(0) = 0, as in PyTorch.
        if a <= 0:
            return _node(a if a == 0 else 0.0, "relu", self, 0.0)  # relu(-0.0) is -0.0, as in PyTorch
        return _node(a, "relu", self, 1.0)

    def abs(self):
        a = self.data
        # The sign of a; 0 at 0 and at NaN, as in PyTorch.
        return _node(abs(a), "abs", self, 1.0 if a > 0 else (-1.0 if a < 0 else 0.0))

    __abs__ = abs

    # ------------------------------------------------------------- backward
    def backward(self, grad=1.0):
        """Backpropagate from this Scalar: add d self/d node times ``grad`` to every node's ``.grad``.

        Not thread-safe: the walk keeps its running sums on the nodes, so two threads must not run
        ``backward`` at the same time on graphs that share a Scalar.
        """
        g = _constant(grad)
        if g is None:
            raise TypeError(f"backward: grad must be a real number, not {type(grad).__name__}")
        order = self.topological_order()
        self._g = g
        for node in reversed(order):
            # Every op using this node came later and has been walked: its gradient is complete.
            g = node._g
            node.grad = g if node.grad is None else node.grad + g
            a = node._a
            if a is not None:
                a._g += node._da * g
                b = node._b
                if b is not None:
                    b._g += node._db * g

    def topological_order(self):
        """Every Scalar this one was computed from, each once, inputs before the ops that use them.

        Each Scalar is numbered when it is made, and an op's inputs always exist before its
        result, so the creation order is a topological order: collecting the graph is a plain
        walk, and ordering it is one sort in C. (Also zeroes the walk's working gradients.)
        """
        self._g = 0.0
        seen = {self}
        stack = [self]
        pop, push, mark = stack.pop, stack.append, seen.add
        while stack:
            node = pop()
            a = node._a
            if a is None:  # a leaf
                continue
            if a not in seen:
                a._g = 0.0
                mark(a)
                push(a)
            b = node._b
            if b is not None and b not in seen:
                b._g = 0.0
                mark(b)
                push(b)
        return sorted(seen, key=_creation)

    def explain_backward(self, grad=1.0):
        """The chain-rule products ``backward`` would add up, in the order it adds them, as text lines.

        Names are each Scalar's ``name``, or ``v0, v1, ...`` in forward order (with a ``'`` added
        where a Scalar was given that name, so no two nodes read alike). In each line, ``d``
        is the gradient of the output so far and ``∂`` the local derivative of one op.
        Nothing is changed: the gradients are computed into a separate table.
        """
        order = self.topological_order()
        given = {str(node.name) for node in order if node.name}
        labels = {}
        for i, node in enumerate(order):
            label = str(node.name) if node.name else f"v{i}"
            while not node.name and label in given:
                label += "'"
            labels[node] = label
        grads = {node: 0.0 for node in order}
        grads[self] = float(grad)
        lines = [f"d{labels[self]}/d{labels[self]} = {grads[self]:.6g}"]
        for node in reversed(order):
            g = grads[node]
            for parent, local in zip(node.parents, node.local_grads):
                grads[parent] += local * g
                # d for the gradient of the output so far, ∂ for the op's local derivative.
                lines.append(f"d{labels[self]}/d{labels[parent]} += ∂{labels[node]}/∂{labels[parent]} "
                             f"· d{labels[self]}/d{labels[node]} = {local:.6g} · {g:.6g} "
                             f"({labels[node]} = {_formula(node, labels)}) -> {grads[parent]:.6g}")
        return lines


# What pickling keeps: every slot but the weak-reference slot, the walk's scratch sum and the
# per-process creation number.
_STATE = tuple(k for k in Scalar.__slots__ if k not in ("__weakref__", "_g", "_id"))


def _formula(node, labels):
    """How ``node`` was computed, in its inputs' names: "v1 + 1", "3 - x", "a * b", "tanh(v2)"."""
    a = labels[node._a]
    if node._b is not None:
        return f"{a} {node.op} {labels[node._b]}"
    if node._db is None:  # a function of one input
        return f"{node.op}({a})" if node.op != "neg" else f"-{a}"
    # An op with a constant: its label holds the constant on the side it was written ("3 -", "- 3").
    return f"{node.op_label} {a}" if node.op.startswith("r") else f"{a} {node.op_label}"


# An op has one or two inputs, each kept with its local derivative in a slot of its own rather
# than in tuples: one object per op instead of three (tuples would also be more for the garbage
# collector to scan, which costs as much as the arithmetic on expressions this small).
def _node(data, op, a, da, b=None, db=None):
    """The result of an op: its value, its inputs ``a`` (and ``b``) and d value/d input for each.

    For an op of one Scalar, ``b`` is None and ``db`` may hold its constant operand (the 3 of
    ``x - 3``), so that drawings and explanations can show it.
    """
    out = _new(Scalar)
    out.data = data
    out.grad = None
    out.name = None
    out.op = op
    out._a = a
    out._da = da
    out._b = b
    out._db = db
    out._id = next(_counter)
    return out


def _constant(x):
    """``x`` as a float when it is a plain real number (a constant in the graph), else None."""
    cls = x.__class__
    if cls is float:
        return x
    if cls is int or isinstance(x, (numbers.Real, np.bool_)):  # bool, NumPy's scalars, fractions, ...
        return float(x)
    return None


def _value(x):
    return x.data if isinstance(x, Scalar) else x


# IEEE results where Python's float operations raise: the same values NumPy gives.
def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        with np.errstate(all="ignore"):
            return float(np.float64(a) / np.float64(b))


def _pow(a, b):
    try:
        out = a ** b
    except (ZeroDivisionError, OverflowError):
        out = None
    if out is None or out.__class__ is complex:  # Python gives (-8) ** (1/3) as a complex number
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(a), np.float64(b)))
    return out


def _exp(a):
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _log(a):
    if a > 0:
        return math.log(a)
    with np.errstate(all="ignore"):
        return float(np.log(np.float64(a)))


def _sqrt(a):
    return math.sqrt(a) if a >= 0 else math.nan


def _dpow_base(a, b):
    # d(a**b)/da = b a^(b-1), taken as 0 where b == 0 (even at a == 0), as PyTorch does.
    return 0.0 if b == 0 else b * _pow(a, b - 1.0)


def _dpow_exponent(a, b, out):
    # d(a**b)/db = a^b log a, taken as 0 where a == 0 and b >= 0, as PyTorch does.
    return 0.0 if a == 0 and b >= 0 else out * _log(a)
