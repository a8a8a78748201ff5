"""Backpropagation, one node at a time, on a formula typed by the user.

    >>> print(explain("c*(a+2*b)", {"a": 3, "b": 1, "c": -2}).text())

builds the formula from real chainrule Tensors, runs the engine's forward and
backward passes, and then reads the recorded graph back: every op node's
``Function``, its parents, the gradients the engine left in ``.grad``, and the
local derivatives, which are the op's own ``backward`` applied to an upstream
gradient of 1. Nothing printed is computed a second time by other means;
the symbolic rules (``∂(c·e)/∂c = e``) only label the engine's numbers.

The formula is parsed with :mod:`ast` and checked against a short whitelist
(numbers, variables, ``+ - * / **``, unary minus and a few functions) before
anything is built; it is never passed to ``eval``.
"""
import ast
import math
import unicodedata

import numpy as np

from . import graph
from .backend import shorten
from .tensor import Tensor

FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu", "sqrt")
MAX_LENGTH = 2000
# A lecture slide, not a compiler: past this many operations the steps are unreadable anyway
# (and the recursive walks over the tree stay far from Python's recursion limit).
MAX_OPERATIONS = 100

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_OPERATORS = {ast.BitXor: "^ (write powers as **)", ast.FloorDiv: "//", ast.Mod: "%",
                      ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&"}
_DESCRIPTIONS = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Lambda: "a lambda",
                 ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
                 ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator expression",
                 ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.IfExp: "if/else",
                 ast.NamedExpr: "an assignment", ast.List: "a list", ast.Tuple: "a tuple",
                 ast.Dict: "a dict", ast.Set: "a set", ast.JoinedStr: "an f-string", ast.Starred: "unpacking"}


class ExplainError(ValueError):
    """The formula or its values cannot be explained; the message says why."""


# -------------------------------------------------------------------- parsing
def parse(expression):
    """Check ``expression`` against the whitelist; return its syntax tree and its variables.

    Variables are listed in the order they first appear. Raises ExplainError,
    naming the column and the refused piece, for anything outside the whitelist.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ExplainError("the expression is empty")
    if len(expression) > MAX_LENGTH:
        raise ExplainError(f"the expression is {len(expression)} characters long; the limit is {MAX_LENGTH}")
    source = _Source(expression.strip())
    source.lead = len(expression) - len(expression.lstrip())  # for columns counted as typed
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise ExplainError(f"cannot parse {shorten(expression)!r}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ExplainError("the expression is nested too deeply") from None
    variables = []
    try:
        _check(tree.body, source, variables)
    except RecursionError:
        raise ExplainError("the expression is nested too deeply") from None
    operations = sum(isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Call)) for n in ast.walk(tree))
    if operations > MAX_OPERATIONS:
        raise ExplainError(f"the expression has {operations} operations; the explainer shows at most "
                           f"{MAX_OPERATIONS}")
    return tree, variables


class _Source(str):
    """The expression parsed, knowing how many spaces were stripped before it (``lead``)."""
    lead = 0


def _refuse(node, source, what):
    piece = shorten(ast.get_source_segment(source, node) or "")
    where = ""
    if hasattr(node, "col_offset"):
        # ast counts UTF-8 bytes of the stripped expression; the user counts characters of what they typed.
        chars = len(source.encode("utf-8")[:node.col_offset].decode("utf-8", "replace"))
        where = f" at column {chars + getattr(source, 'lead', 0) + 1}"
    raise ExplainError(f"{what} is not allowed in an expression{where}: {piece!r}. Allowed: numbers, "
                       f"variables, + - * / **, unary minus and {', '.join(FUNCTIONS)}")


def _check(node, source, variables):
    """Walk the tree depth first (so variables come out left to right), refusing anything unlisted."""
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):  # bool is a subclass of int: refused here too
            _refuse(node, source, f"the constant {node.value!r}")
        if type(node.value) is int and abs(node.value) > 2 ** 53:  # beyond exact float64: 1e300 is the way
            _refuse(node, source, "an integer this large (write it as a float, e.g. 1e20)")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            _refuse(node, source, f"{node.id} without an argument")
        if node.id not in variables:
            variables.append(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            _refuse(node, source, f"the operator {_REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)}")
        _check(node.left, source, variables)
        _check(node.right, source, variables)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            _refuse(node, source, f"the operator {type(node.op).__name__}")
        _check(node.operand, source, variables)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            callee = node.func.id if isinstance(node.func, ast.Name) else ast.get_source_segment(source, node.func)
            _refuse(node, source, f"calling {callee}()")
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
            _refuse(node, source, f"{node.func.id}() with other than one plain argument")
        _check(node.args[0], source, variables)
    else:
        _refuse(node, source, _DESCRIPTIONS.get(type(node), type(node).__name__))


def _build(node, leaves):
    """Compute the checked tree with chainrule ops, recording the graph as any model would."""
    if isinstance(node, ast.Constant):
        return Tensor(node.value, dtype=np.float64)
    if isinstance(node, ast.Name):
        return leaves[node.id]
    if isinstance(node, ast.UnaryOp):
        x = _build(node.operand, leaves)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.Call):
        return getattr(_build(node.args[0], leaves), node.func.id)()
    left, right = _build(node.left, leaves), _build(node.right, leaves)
    op = type(node.op)
    if op is ast.Pow:
        if not right.requires_grad:  # a constant exponent: the PowScalar op, d/dx x^p = p x^(p-1)
            return left ** float(right.data)
        return left ** right
    return {ast.Add: left.__add__, ast.Sub: left.__sub__, ast.Mult: left.__mul__,
            ast.Div: left.__truediv__}[op](right)


# ---------------------------------------------------------------- the steps
def _fresh_names(taken):
    """Lecture-style names for intermediate nodes: the first unused letters, then t1, t2, ..."""
    for letter in "abcdefghijkmnpqrstuvwxyz":  # no l or o: too easily read as 1 and 0
        if letter not in taken:
            yield letter
    i = 1
    while True:
        if f"t{i}" not in taken:
            yield f"t{i}"
        i += 1


_FORWARD = {"Add": "{0} + {1}", "Sub": "{0} - {1}", "Mul": "{0} · {1}", "Div": "{0} / {1}", "Neg": "-{0}",
            "Pow": "{0}^{1}", "Exp": "exp({0})", "Log": "log({0})", "Sqrt": "sqrt({0})", "Tanh": "tanh({0})",
            "Sigmoid": "sigmoid({0})", "Relu": "relu({0})"}
# Operands that read fine when negative without parentheses: the first of + - · /, and function arguments.
_BARE_FIRST = {"Add", "Sub", "Mul", "Div"}
_FUNCTION_OPS = {"Exp", "Log", "Sqrt", "Tanh", "Sigmoid", "Relu"}


def _paren(text):
    return f"({text})" if text.startswith("-") else text


def _expr(ctx, operands):
    """``ctx``'s operation written with the given operand strings, e.g. 'a + d' or '3 + 2'."""
    name = ctx.name
    shown = [s if (name in _FUNCTION_OPS or (i == 0 and name in _BARE_FIRST)) else _paren(s)
             for i, s in enumerate(operands)]
    if name == "PowScalar":
        return f"{shown[0]}^{graph.format_number(ctx.p)}"
    template = _FORWARD.get(name)
    return template.format(*shown) if template else f"{name}({', '.join(operands)})"


def _local_rule(ctx, slot, labels, out):
    """The textbook derivative of ``ctx``'s output with respect to input ``slot``, as text."""
    x = labels[0]
    y = labels[1] if len(labels) > 1 else None
    px, py, po = _paren(x), _paren(y or ""), _paren(out)
    name = ctx.name
    if name == "Add":
        return "1"
    if name == "Sub":
        return "1" if slot == 0 else "-1"
    if name == "Mul":
        return y if slot == 0 else x
    if name == "Div":
        return f"1/{py}" if slot == 0 else f"-{px}/{py}^2"
    if name == "Neg":
        return "-1"
    if name == "PowScalar":
        p = ctx.p
        if p == 1:
            return "1"
        if p == 2:
            return f"2·{px}"
        return f"{graph.format_number(p)}·{px}^{graph.format_number(p - 1)}"
    if name == "Pow":
        return f"{py}·{px}^({y} - 1)" if slot == 0 else f"{po}·log({x})"
    if name == "Exp":
        return out
    if name == "Log":
        return f"1/{px}"
    if name == "Sqrt":
        return f"1/(2·{po})"
    if name == "Tanh":
        return f"1 - {po}^2"
    if name == "Sigmoid":
        return f"{po}·(1 - {po})"
    if name == "Relu":
        return f"(1 if {x} > 0 else 0)"
    return None


def _distinct(tensors):
    """Each tensor once, in order (a*a has the same parent twice), compared by identity."""
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _scalar(array):
    return float(np.asarray(array, dtype=np.float64).reshape(()))


class Explanation:
    """The engine's forward and backward pass over one formula, ready to print, dump or draw.

    ``value`` is the output, ``grads`` maps each variable to dL/d(variable);
    ``nodes`` lists every node (inputs, constants, operations) in forward order
    with its value, gradient and, for operations, the local derivative with
    respect to each input. ``root`` is the output Tensor, with its graph kept.
    """

    def __init__(self, expression, values, root, order, labels, root_name):
        self.expression = expression
        self.formula = ast.unparse(parse(expression)[0])  # as parsed, evenly spaced
        self.values = values
        self.root = root
        self.root_name = root_name
        self._order = order
        self._labels = labels
        self.value = _scalar(root.data)
        self.grads = {name: _scalar(values[name].grad) for name in values}
        self._locals = {}
        for t in order:
            if t._ctx is not None:
                ctx = t._ctx
                # The op's own backward with an upstream gradient of 1 is its local derivative.
                # retain=True asks it not to reuse the arrays it saved (the graph stays usable).
                ctx.retain = True
                raw = ctx.backward(np.ones_like(t.data))
                self._locals[id(t)] = [None if (g is None or not p.requires_grad) else _scalar(g)
                                       for g, p in zip(raw, ctx.parents)]
        self.nodes = [self._node_dict(t) for t in order]

    # ---------------------------------------------------------------- pieces
    def _label(self, t):
        return self._labels[id(t)]

    def _grad(self, t):
        return _scalar(t.grad) if t.grad is not None else None

    def _node_dict(self, t):
        entry = {"name": self._label(t), "value": _scalar(t.data)}
        if t._ctx is None:
            entry["kind"] = "input" if t.requires_grad else "constant"
            if t.requires_grad:
                entry["grad"] = self._grad(t)
            return entry
        parents = t._ctx.parents
        labels = [self._label(p) for p in parents]
        entry.update(kind="op", op=t._ctx.name,
                     expr=_expr(t._ctx, labels).replace("·", "*").replace("^", "**"),
                     inputs=labels, grad=self._grad(t), local_grads=self._locals[id(t)])
        return entry

    def backward_order(self):
        """Nodes needing a gradient, from the output back, each once every node it feeds is done.

        Kahn's algorithm from the output with a first-in, first-out queue gives
        the lecture's order: L, then L's inputs left to right, then theirs.
        """
        users = {}
        for t in self._order:
            if t._ctx is not None:
                for p in _distinct(t._ctx.parents):
                    if p.requires_grad:
                        users.setdefault(id(p), []).append(t)
        pending = {key: len(v) for key, v in users.items()}
        queue, done = [self.root], []
        while queue:
            t = queue.pop(0)
            done.append(t)
            if t._ctx is None:
                continue
            for p in _distinct(t._ctx.parents):
                if p.requires_grad:
                    pending[id(p)] -= 1
                    if pending[id(p)] == 0:
                        queue.append(p)
        return done, users

    def steps(self):
        """One dict per backward step: the node, the chain-rule terms and the engine's gradient."""
        order, users = self.backward_order()
        out = []
        for t in order:
            name = self._label(t)
            step = {"node": name, "grad": self._grad(t), "terms": []}
            for user in users.get(id(t), []):
                ctx = user._ctx
                labels = [self._label(p) for p in ctx.parents]
                slots = [i for i, p in enumerate(ctx.parents) if p is t]
                local = sum(self._locals[id(user)][i] for i in slots)
                rules = [_local_rule(ctx, i, labels, self._label(user)) for i in slots]
                rule = " + ".join(r for r in rules if r is not None) if None not in rules else None
                step["terms"].append({"user": self._label(user), "user_expr": _expr(ctx, labels),
                                      "upstream": self._grad(user), "local": local, "rule": rule,
                                      "from_output": user is self.root})
            # The chain rule from the printed numbers; equals the engine's gradient (tests check it).
            step["chain"] = sum(s["upstream"] * s["local"] for s in step["terms"]) if step["terms"] else None
            out.append(step)
        return out

    # --------------------------------------------------------------- output
    def text(self, ascii=False):
        """The lecture-slide text: inputs, forward pass, backward pass, gradients."""
        fmt = graph.format_number
        root = self.root_name
        lines = [f"Expression   {root} = {self.formula}",
                 "Inputs       " + ",  ".join(f"{k} = {fmt(v.data)}" for k, v in self.values.items()), ""]

        lines.append("Forward pass: every node from its inputs")
        rows = []
        for t in self._order:
            if t._ctx is None:
                continue
            parents = t._ctx.parents
            symbolic = _expr(t._ctx, [self._label(p) for p in parents])
            numeric = _expr(t._ctx, [fmt(p.data) for p in parents])
            rows.append((f"{self._label(t)} = {symbolic}", f"= {numeric}", f"= {fmt(t.data)}"))
        if not rows:  # the formula is a single variable
            rows.append((f"{root} = {self._label(self.root)}", "", f"= {fmt(self.root.data)}"))
        lines += _columns(rows)
        lines.append("")

        d = "∂"
        lines.append(f"Backward pass: from {root} back to the inputs; "
                     f"each gradient = gradient of the node it feeds · local derivative")
        rows = []
        for step in self.steps():
            x = step["node"]
            lhs = f"{d}{root}/{d}{x}"
            if not step["terms"]:
                rows.append((f"{lhs} = 1", "", "", "start: the output with respect to itself"))
                continue
            symbolic, numeric, notes = [], [], []
            for k, term in enumerate(step["terms"]):
                user, local = term["user"], fmt(term["local"])
                rule = term["rule"]
                if term["from_output"]:
                    # The output's own inputs: the local derivative is the whole gradient.
                    symbolic.append(rule if rule is not None else f"{d}{root}/{d}{x}")
                    numeric.append(local if k == 0 else _paren(local))
                    notes.append(f"{user} = {term['user_expr']}")
                else:
                    symbolic.append(f"{d}{root}/{d}{user} · {d}{user}/{d}{x}")
                    up = fmt(term["upstream"])
                    numeric.append(f"{up if k == 0 else _paren(up)} · {_paren(local)}")
                    why = f"{d}{user}/{d}{x} = {rule}" if rule is not None else f"{d}{user}/{d}{x}"
                    if rule is None or rule != local:
                        why += f" = {local}"
                    notes.append(f"{user} = {term['user_expr']}, so {why}")
            sym, num, result = " + ".join(symbolic), " + ".join(numeric), fmt(step["grad"])
            if all(term["from_output"] for term in step["terms"]):
                num = ""  # the numbers are the local derivatives, which the result already shows
            rows.append((f"{lhs} = {sym}", f"= {num}" if num and num != sym else "",
                         f"= {result}" if result != sym else "", ";  ".join(notes)))
        lines += _columns(rows, gap="   ")
        lines.append("")
        lines.append("Gradients    " + ",  ".join(f"{d}{root}/{d}{k} = {fmt(g)}" for k, g in self.grads.items()))
        text = "\n".join(lines) + "\n"
        if ascii:
            text = text.translate(str.maketrans({"∂": "d", "·": "*"}))
        return text

    def to_dict(self):
        return {"expression": self.expression.strip(), "value": self.value, "grads": dict(self.grads),
                "nodes": self.nodes, "backward_order": [s["node"] for s in self.steps()]}

    def draw(self, path):
        """Draw the graph (values and gradients) to a .dot, .svg or .png file; returns the path written."""
        return graph.draw(self.root, path, title=f"{self.root_name} = {self.formula}")


def _columns(rows, gap="  ", widest=60):
    """Left-align each column of ``rows`` (tuples of strings), indented by two spaces.

    A cell longer than ``widest`` (a variable used many times) does not widen
    its whole column; it pushes the rest of its own row to the right instead.
    """
    widths = [max([len(r[i]) for r in rows if len(r[i]) <= widest] or [widest]) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        out.append(("  " + gap.join(cells)).rstrip())
    return out


def parse_assignments(items):
    """``["a=3", "b=1"]`` -> ``{"a": 3.0, "b": 1.0}``, with clear errors for anything else."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        # Python reads identifiers in NFKC form (a full-width ｘ is x), so the names must match that.
        name, text = unicodedata.normalize("NFKC", name.strip()), text.strip()
        if not sep or not name.isidentifier():
            raise ExplainError(f"expected NAME=VALUE (like a=3), got {item!r}")
        if name in values:
            raise ExplainError(f"{name} is given twice")
        try:
            values[name] = float(text)
        except ValueError:
            raise ExplainError(f"the value of {name} is not a number: {text!r}") from None
    return values


def explain(expression, values=None, **more):
    """Run the engine on ``expression`` with ``values`` (a dict, or keyword arguments) and explain it.

    Every variable in the expression needs a value, and every value a variable.
    Returns an :class:`Explanation`; ``print(explain(...).text())`` shows the lecture slide.
    """
    values = {unicodedata.normalize("NFKC", str(k)): v for k, v in dict(values or {}, **more).items()}
    tree, variables = parse(expression)
    missing = [v for v in variables if v not in values]
    extra = [v for v in values if v not in variables]
    if missing:
        raise ExplainError(f"no value given for {', '.join(missing)} (write e.g. {missing[0]}=1)")
    if extra:
        raise ExplainError(f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} given a value but not "
                           f"used in the expression {shorten(expression)!r}")
    if not variables:
        raise ExplainError("the expression has no variables, so there is nothing to differentiate")
    leaves = {}
    for name in values:  # in the order given, which is how the inputs are listed
        try:
            number = float(values[name])
        except (TypeError, ValueError):
            raise ExplainError(f"the value of {name} must be a number, got {values[name]!r}") from None
        leaves[name] = Tensor(number, requires_grad=True, dtype=np.float64)
        leaves[name].name = name

    with np.errstate(all="ignore"):  # non-finite results are reported below, by node
        root = _build(tree.body, leaves)
        order = graph.nodes(root)
        preferred = [n for n in ("L", "out", "y", "result") if n not in values]
        root_name = preferred[0] if preferred else next(_fresh_names(set(values)))
        labels, fresh = {}, _fresh_names(set(values) | {root_name})
        for t in order:
            if t is root and t._ctx is not None:
                labels[id(t)] = root_name
            elif t._ctx is not None:
                labels[id(t)] = next(fresh)
            elif t.requires_grad:
                labels[id(t)] = t.name
            else:
                labels[id(t)] = graph.format_number(t.data)
        for t in order:
            if t._ctx is not None:
                t.name = labels[id(t)]
            if not math.isfinite(_scalar(t.data)):
                raise ExplainError(_not_finite("value", t, labels, values))
        graph.retain_all(root)
        root.backward(retain_graph=True)
        for t in order:
            if t.requires_grad and t.grad is not None and not math.isfinite(_scalar(t.grad)):
                raise ExplainError(_not_finite("gradient", t, labels, values))
    return Explanation(expression, leaves, root, order, labels, root_name)


def _not_finite(what, t, labels, values):
    at = ", ".join(f"{k} = {graph.format_number(v)}" for k, v in values.items())
    node = labels[id(t)]
    if t._ctx is not None:
        node += f" = {_expr(t._ctx, [labels[id(p)] for p in t._ctx.parents])}"
    number = _scalar(t.data if what == "value" else t.grad)
    return f"the {what} of {node} is {number} at {at}; the explainer needs finite numbers"
