"""Draw a recorded computation graph with Graphviz.

    loss = model(x)                      # record the graph
    cr.graph.retain_all(loss)            # keep every node's gradient, not only the leaves'
    loss.backward(retain_graph=True)     # keep the graph so it can still be walked
    cr.graph.draw(loss, "loss.svg", names=model, collapse_modules=True)

Values are boxes (name, value and gradient; for tensors the shape and the
norms), operations are ellipses between them. A graph of ``chainrule.Scalar``
values is drawn the same way, from the Scalar that ends it. ``collapse_modules=True`` folds
the ops each module recorded (``Function.scope``, set while a module runs)
into one box per module, so a model's loss graph stays a handful of boxes.

Graphviz's ``dot`` program does the layout; it is called as a subprocess, so
no Python package is needed. Without it the ``.dot`` file is still written,
with a warning saying how to install Graphviz.
"""
import math
import os
import shutil
import subprocess
import warnings

import numpy as np

from .scalar import Scalar
from .tensor import Tensor
from .train.atomic import atomic_write_text

INSTALL_HINT = ("Graphviz's `dot` program was not found; install it (Debian/Ubuntu: "
                "`apt-get install graphviz`, macOS: `brew install graphviz`) to render the graph")

# How op nodes are labelled: a symbol where the op has one, else its class name.
OP_LABELS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Neg": "neg", "MatMul": "@",
             "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Tanh": "tanh", "Sigmoid": "sigmoid",
             "Relu": "relu", "Abs": "abs", "Sum": "sum", "Max": "max"}

# Fill colours: parameters and other leaves that get a gradient, inputs and constants, the output.
_PARAM_FILL, _CONST_FILL, _ROOT_FILL, _MODULE_FILL = "#dbe9f6", "#eeeeee", "#fde2c4", "#fff6d5"


class GraphvizNotFoundWarning(UserWarning):
    """``dot`` is not installed: only the ``.dot`` file was written."""


# ------------------------------------------------------------------ traversal
def nodes(root):
    """Every tensor the graph of ``root`` reaches, leaves included, each once, inputs before users.

    Parents are visited left to right, so for ``c * (a + 2 * b)`` the order is
    c, a, 2, b, 2*b, a+2*b, the product: the order a lecture writes the
    forward pass in. Iterative, so very deep graphs do not hit the recursion limit.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        parents = _parents(node)
        for parent in reversed(parents):  # reversed: the stack pops the first parent first
            if id(parent) not in seen:
                stack.append((parent, False))
    return order


def _parents(tensor):
    ctx = tensor._ctx
    if ctx is None:
        return ()
    if ctx.freed:
        raise RuntimeError(
            "this graph was freed by backward(): draw it before calling backward(), or call "
            "backward(retain_graph=True) (after cr.graph.retain_all(loss) to see every node's gradient)")
    return ctx.parents


def retain_all(root):
    """Mark every non-leaf tensor of ``root``'s graph to keep its ``.grad`` after backward.

    Call it before ``backward(retain_graph=True)`` so a drawing shows the
    gradient of every intermediate value, not only of the leaves. Returns ``root``.
    """
    for node in nodes(root):
        if node._ctx is not None:
            node.retain_grad()
    return root


# ------------------------------------------------------------------- labels
def format_number(x, digits=4):
    """A short, readable number: 5 rather than 5.0, -0.1966 rather than -0.19661193."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)  # inf, -inf, nan: a diverged loss must still be drawable
    if x == 0:
        return "0"  # also turns -0 into 0
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def _module_paths(names):
    """Module id -> its name in ``names`` ("hidden", "convs.0"), when ``names`` is a Module."""
    if not hasattr(names, "named_modules"):
        return {}
    return {id(m): name for name, m in names.named_modules() if name}


def _module_title(module, paths):
    """A module box's first line: its name in the model and its class, or the class alone."""
    kind = type(module).__name__
    path = paths.get(id(module))
    return kind if path is None else f"{path} ({kind})"


def _name_table(names):
    """``names`` (a Module, or a mapping of name to Tensor) as a dict from tensor id to name."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):
        names = dict(names.named_parameters())
    table = {}
    for name, t in names.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"names: {name!r} maps to a {type(t).__name__}, not a Tensor")
        table[id(t)] = name
    return table


def _value_fields(tensor, name):
    """The fields of a value node: name, then value and gradient (shape and norms for tensors)."""
    fields = [name] if name else []
    grad = tensor.grad
    if tensor.data.size == 1:
        fields.append(f"value {format_number(tensor.data.reshape(()))}")
        if grad is not None:
            fields.append(f"grad {format_number(np.asarray(grad).reshape(()))}")
    else:
        fields.append(f"shape {tuple(tensor.shape)}")
        if np.issubdtype(tensor.dtype, np.number):
            fields.append(f"norm {format_number(_norm(tensor.data))}")
        if grad is not None:
            fields.append(f"grad norm {format_number(_norm(grad))}")
    return fields


def _record(fields):
    """A record label, quoted for DOT: its fields side by side.

    Record labels give { } | < > special meanings, so each field escapes them
    (and backslashes and quotes) once; the result is quoted as it stands,
    because a second round of escaping (``_quote``) would show the backslashes.
    """
    escaped = []
    for f in fields:
        for ch in '\\{}|<>"':
            f = f.replace(ch, "\\" + ch)
        escaped.append(f.replace("\n", " "))
    return '"{ ' + " | ".join(escaped) + ' }"'


def _quote(text):
    """A plain label quoted for DOT (record labels: ``_record``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def op_label(ctx):
    label = OP_LABELS.get(ctx.name)
    if label is None and ctx.name == "PowScalar":
        label = f"pow {format_number(ctx.p)}"
    return label or ctx.name


# --------------------------------------------------------------------- dot
def _dot_header(title):
    """The first lines of a drawing: layout left to right, fonts, and the title if any."""
    lines = ["digraph chainrule {",
             '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.25, ranksep=0.35];',
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [arrowsize=0.7];']
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)};")
    return lines


def _norm(array):
    """The Euclidean norm in float64, scaled first so that values above ~1e154 do not overflow it to inf."""
    a = np.asarray(array, dtype=np.float64)
    scale = np.max(np.abs(a)) if a.size else 0.0
    if not np.isfinite(scale) or scale == 0:
        return float(np.linalg.norm(a))  # inf or NaN in the data: the norm is inf or NaN anyway
    return float(scale * np.linalg.norm(a / scale))


def to_dot(root, names=None, collapse_modules=False, title=None):
    """The Graphviz source of ``root``'s graph, as a string.

    ``names`` names leaves: a Module (its ``named_parameters()``) or a mapping
    of names to tensors; a tensor's own ``.name`` is used otherwise. With
    ``collapse_modules`` the ops recorded inside each module become one box.
    ``root`` may also be a :class:`chainrule.Scalar` (then ``collapse_modules`` does not apply).
    """
    if isinstance(root, Scalar):
        return _scalar_to_dot(root, names, title)
    order = nodes(root)
    table = _name_table(names)
    paths = _module_paths(names)
    index = {id(t): i for i, t in enumerate(order)}

    def name_of(t):
        name = table.get(id(t)) or t.name
        return None if name is None else str(name)  # a name set to a number is drawn as text

    def scope_of(t):
        """The module whose run recorded ``t``'s op (one box per module object, so two Linear
        layers are two boxes), or None."""
        ctx = t._ctx
        return getattr(ctx, "scope", None) if (ctx is not None and collapse_modules) else None

    # Which op outputs use each tensor, by the scope they were recorded in.
    consumers = {id(t): [] for t in order}
    for t in order:
        for parent in _parents(t):
            consumers[id(parent)].append(t)

    # A value disappears into a module's box when only that module's ops use it: its own
    # intermediate results, and the parameters it alone reads (listed in the box's label).
    group_of = {}  # tensor id -> scope it is folded into
    for t in order:
        users = {scope_of(u) for u in consumers[id(t)]}
        own = scope_of(t)
        if own is not None and t is not root and users <= {own}:
            group_of[id(t)] = own
        elif t._ctx is None and t.requires_grad and len(users) == 1 and None not in users:
            group_of[id(t)] = users.pop()

    lines = _dot_header(title)

    groups = {}  # module -> {"ops": {op name: count}, "params": [labels]}
    for t in order:
        scope = group_of.get(id(t))
        if scope is not None:
            info = groups.setdefault(scope, {"ops": {}, "params": []})
            if t._ctx is None:
                label = name_of(t) or "parameter"
                prefix = paths.get(id(scope), "") + "."
                label = label.removeprefix(prefix)
                info["params"].append(f"{label} {tuple(t.shape)}")
        if t._ctx is not None and scope_of(t) is not None:
            info = groups.setdefault(scope_of(t), {"ops": {}, "params": []})
            info["ops"][t._ctx.name] = info["ops"].get(t._ctx.name, 0) + 1
    group_ids = {scope: f"m{i}" for i, scope in enumerate(groups)}
    for scope, info in groups.items():
        ops = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in info["ops"].items())
        label = "\n".join([_module_title(scope, paths), ops] + info["params"])
        lines.append(f"  {group_ids[scope]} [shape=box, style=\"rounded,filled\", fillcolor=\"{_MODULE_FILL}\", "
                     f"label={_quote(label)}];")

    def value_id(t):
        scope = group_of.get(id(t))
        return group_ids[scope] if scope is not None else f"v{index[id(t)]}"

    def op_id(t):
        scope = scope_of(t)
        return group_ids[scope] if scope is not None else f"op{index[id(t)]}"

    edges = []
    for t in order:
        i = index[id(t)]
        if id(t) not in group_of:
            if t is root:
                style = f'style=filled, fillcolor="{_ROOT_FILL}", penwidth=1.5'
            elif t._ctx is not None:
                style = "style=solid"
            elif t.requires_grad:
                style = f'style=filled, fillcolor="{_PARAM_FILL}"'
            else:
                style = f'style="filled,dashed", fillcolor="{_CONST_FILL}"'
            label = _record(_value_fields(t, name_of(t)))
            lines.append(f"  v{i} [shape=record, {style}, label={label}];")
        if t._ctx is None:
            continue
        if scope_of(t) is None:
            lines.append(f"  op{i} [shape=ellipse, style=filled, fillcolor=white, label={_quote(op_label(t._ctx))}];")
        for parent in _parents(t):
            edges.append((value_id(parent), op_id(t)))
        edges.append((op_id(t), value_id(t)))

    boxes = set(group_ids.values())
    written = set()
    for src, dst in edges:
        if src == dst:  # inside one module's box: no edge
            continue
        if src in boxes or dst in boxes:
            # One arrow between a box and a node, however many of the box's ops read or make it.
            if (src, dst) in written:
                continue
            written.add((src, dst))
        # Otherwise one arrow per operand: x * x has two arrows into its op, as it has two inputs.
        lines.append(f"  {src} -> {dst};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _scalar_to_dot(root, names, title):
    """``to_dot`` for a graph of Scalars: every node is a value with its gradient, every op an ellipse."""
    order = root.topological_order()
    table = {}
    for name, s in (names or {}).items():
        if not isinstance(s, Scalar):
            raise TypeError(f"names: {name!r} maps to a {type(s).__name__}, not a Scalar")
        table[id(s)] = name
    index = {id(s): i for i, s in enumerate(order)}
    lines = _dot_header(title)
    for i, s in enumerate(order):
        name = table.get(id(s)) or s.name
        fields = ([str(name)] if name else []) + [f"value {format_number(s.data)}"]
        if s.grad is not None:
            fields.append(f"grad {format_number(s.grad)}")
        if s is root:
            style = f'style=filled, fillcolor="{_ROOT_FILL}", penwidth=1.5'
        elif s.is_leaf:
            style = f'style=filled, fillcolor="{_PARAM_FILL}"'
        else:
            style = "style=solid"
        lines.append(f"  v{i} [shape=record, {style}, label={_record(fields)}];")
        if not s.is_leaf:
            lines.append(f"  op{i} [shape=ellipse, style=filled, fillcolor=white, label={_quote(s.op_label)}];")
            lines.extend(f"  v{index[id(p)]} -> op{i};" for p in s.parents)
            lines.append(f"  op{i} -> v{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- rendering
def dot_available():
    return shutil.which("dot") is not None


def render(dot_path, out_path, timeout=120):
    """Lay out ``dot_path`` with Graphviz into ``out_path`` (format from its extension).

    Returns ``out_path``, or None (with a GraphvizNotFoundWarning) when ``dot``
    is not installed. The image is written to a temporary file and renamed, so
    a failed layout never leaves half a file behind.
    """
    fmt = os.path.splitext(out_path)[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"cannot render {out_path}: the extension must be .svg, .png or .pdf")
    exe = shutil.which("dot")
    if exe is None:
        warnings.warn(f"{INSTALL_HINT}; wrote only {dot_path}", GraphvizNotFoundWarning, stacklevel=2)
        return None
    directory = os.path.dirname(os.path.abspath(out_path))
    tmp = os.path.join(directory, f".{os.path.basename(out_path)}.{os.getpid()}.tmp")
    try:
        result = subprocess.run([exe, f"-T{fmt}", os.fspath(dot_path), "-o", tmp],
                                check=False, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"Graphviz failed to render {dot_path}: {result.stderr.strip()}")
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_path


def draw(root, path, collapse_modules=False, names=None, title=None):
    """Write ``root``'s graph to ``path``: ``.dot`` source, or an ``.svg`` / ``.png`` / ``.pdf`` image.

    For an image the ``.dot`` source is written next to it (same name, ``.dot``
    extension). Returns the path of the image, or of the ``.dot`` file when
    only that was asked for or Graphviz is missing (then with a warning).
    Works on a graph before backward, or after ``backward(retain_graph=True)``
    to show gradients (see :func:`retain_all`).
    """
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if ext.lower() not in (".dot", ".gv", ".svg", ".png", ".pdf"):
        raise ValueError(f"draw: cannot tell the format of {path}; use .dot, .svg, .png or .pdf")
    source = to_dot(root, names=names, collapse_modules=collapse_modules, title=title)
    dot_path = path if ext.lower() in (".dot", ".gv") else stem + ".dot"
    atomic_write_text(dot_path, source)
    if dot_path == path:
        return path
    rendered = render(dot_path, path)
    return rendered if rendered is not None else dot_path
