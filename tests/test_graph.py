"""Graph drawing: traversal, .dot content, rendering with Graphviz, collapsing modules."""
import html
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import graph, nn
from chainrule.models.mlp import MLP

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _lecture_graph():
    a, b, c = (cr.tensor(v, requires_grad=True, dtype=np.float64) for v in (3.0, 1.0, -2.0))
    a.name, b.name, c.name = "a", "b", "c"
    d = 2 * b
    e = a + d
    loss = c * e
    d.name, e.name, loss.name = "d", "e", "L"
    return loss, (a, b, c, d, e)


def test_nodes_lists_inputs_before_users_left_to_right():
    loss, _ = _lecture_graph()
    order = graph.nodes(loss)
    names = [t.name if t.name else graph.format_number(t.data) for t in order]
    assert names == ["c", "a", "2", "b", "d", "e", "L"]


def test_dot_of_a_small_graph_after_backward():
    loss, (_, _, _, d, e) = _lecture_graph()
    graph.retain_all(loss)
    loss.backward(retain_graph=True)
    assert float(d.grad) == -2 and float(e.grad) == -2  # retain_all kept the intermediate gradients
    dot = graph.to_dot(loss)
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    for label in ("{ a \\| value 3 \\| grad -2 }", "{ b \\| value 1 \\| grad -4 }", "{ c \\| value -2 \\| grad 5 }",
                  "{ d \\| value 2 \\| grad -2 }", "{ e \\| value 5 \\| grad -2 }", "{ L \\| value -10 \\| grad 1 }",
                  "{ value 2 }"):
        assert label.replace("\\|", "|") in dot
    ops = re.findall(r'op\d+ \[shape=ellipse.*label="([^"]+)"\]', dot)
    assert sorted(ops) == ["*", "*", "+"]
    # 3 ops: each has one edge per input and one to its output.
    assert len(re.findall(r"-> ", dot)) == 2 + 2 + 2 + 3


def test_draw_before_backward_and_error_after_a_freeing_backward(tmp_path):
    loss, _ = _lecture_graph()
    path = graph.draw(loss, tmp_path / "g.dot")
    text = Path(path).read_text()
    assert "value -10" in text and "grad" not in text  # no gradients yet
    loss.backward()  # frees the graph
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        graph.to_dot(loss)


def test_tensor_nodes_show_shape_and_norms_and_names():
    w = cr.tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    x = cr.tensor(np.full((2, 4), 2.0, dtype=np.float32))
    loss = (x @ w.T).sum()
    loss.backward(retain_graph=True)
    dot = graph.to_dot(loss, names={"W{1}": w})
    assert "W\\{1\\} | shape (3, 4) | norm 3.464 | grad norm 13.86" in dot  # escaped braces, once; dL/dW = 4
    assert "shape (2, 4) | norm 5.657 }" in dot  # x: no gradient, so no grad field


def test_a_value_used_twice_by_one_op_gets_two_arrows():
    # x * x reads x twice: a drawing with one arrow would show a one-input op (and d/dx = x, not 2x).
    x = cr.tensor(3.0, requires_grad=True)
    edges = [line.strip() for line in graph.to_dot(x * x - x).splitlines() if "->" in line]
    assert edges.count("v0 -> op1;") == 2 and edges.count("v0 -> op2;") == 1
    s = cr.Scalar(3.0)
    assert [line for line in graph.to_dot(s * s).splitlines() if "->" in line].count("  v0 -> op1;") == 2


def test_norms_of_huge_values_do_not_overflow():
    t = cr.tensor(np.array([1e200, 1e200]), requires_grad=True)
    (t * 2).sum().backward(retain_graph=True)
    dot = graph.to_dot(t)
    assert "norm 1.414e+200" in dot and "grad norm 2.828" in dot and "inf" not in dot


def test_a_name_that_is_not_text_is_drawn_as_text():
    t = cr.tensor(1.0, requires_grad=True)
    t.name = 3
    assert "{ 3 | value 1 }" in graph.to_dot(t)
    assert "{ 7 | value 1 }" in graph.to_dot(cr.Scalar(1.0, name=7))


@needs_dot
@pytest.mark.parametrize("name", ["w{1}", "<s>", "a|b", 'say "hi"', "back\\slash"])
def test_names_with_record_characters_render_as_written(tmp_path, name):
    w = cr.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    svg = graph.draw((w * 2).sum(), tmp_path / "g.svg", names={name: w})
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", Path(svg).read_text())]
    assert name in texts and "shape (3,)" in texts


@needs_dot
def test_svg_and_png_rendering(tmp_path):
    loss, _ = _lecture_graph()
    graph.retain_all(loss)
    loss.backward(retain_graph=True)
    svg = graph.draw(loss, tmp_path / "lecture.svg", title="L = c * (a + 2 * b)")
    assert svg.endswith("lecture.svg")
    content = html.unescape(Path(svg).read_text())  # Graphviz writes - as &#45;
    assert "<svg" in content and "grad -4" in content and "L = c * (a + 2 * b)" in content
    assert (tmp_path / "lecture.dot").exists()
    png = graph.draw(loss, tmp_path / "lecture.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_missing_graphviz_still_writes_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    loss, _ = _lecture_graph()
    with pytest.warns(graph.GraphvizNotFoundWarning, match="apt-get install graphviz"):
        written = graph.draw(loss, tmp_path / "g.svg")
    assert written.endswith("g.dot") and "value -10" in Path(written).read_text()
    assert not (tmp_path / "g.svg").exists()


def test_bad_extension():
    loss, _ = _lecture_graph()
    with pytest.raises(ValueError, match=".svg"):
        graph.draw(loss, "graph.jpeg")


def _mlp_loss():
    cr.manual_seed(0)
    model = MLP(5, hidden=(4, 3), out_features=2, dropout=0.5)
    x = cr.randn(6, 5)
    loss = F.cross_entropy(model(x), np.array([0, 1, 0, 1, 1, 0]))
    return model, loss


def test_collapse_modules_gives_one_box_per_module():
    model, loss = _mlp_loss()
    graph.retain_all(loss)
    loss.backward(retain_graph=True)
    full = graph.to_dot(loss, names=model)
    collapsed = graph.to_dot(loss, names=model, collapse_modules=True)
    # Uncollapsed: an op node per op (3 Linear, 2 ReLU, 2 Dropout, the loss) and the parameters by name.
    assert len(re.findall(r"op\d+ \[", full)) == 8
    assert "net.0.weight | shape (4, 5)" in full
    # Collapsed: one box per module that recorded ops; the parameters fold into their module's box.
    boxes = re.findall(r'm\d+ \[shape=box.*label="([^"]+)"\]', collapsed)
    titles = sorted(b.split("\\n")[0] for b in boxes)
    assert titles == ["net.0 (Linear)", "net.1 (ReLU)", "net.2 (Dropout)", "net.3 (Linear)", "net.4 (ReLU)",
                      "net.5 (Dropout)", "net.6 (Linear)"]
    assert "net.0 (Linear)\\nLinear\\nweight (4, 5)\\nbias (4,)" in boxes
    assert "weight" not in collapsed.replace("weight (", "")  # no separate parameter nodes
    assert len(re.findall(r"op\d+ \[", collapsed)) == 1  # the loss, recorded outside any module
    # The chain is kept: input -> net.0 -> activation -> net.1 -> ... -> loss.
    assert len(re.findall(r" -> ", collapsed)) == 2 * 7 + 2
    assert len(collapsed) < len(full)


def test_module_call_records_scope():
    layer = nn.Linear(3, 2)
    out = layer(cr.randn(4, 3))
    assert out._ctx.scope is layer
    assert not hasattr((out * 2)._ctx, "scope")


def test_two_modules_of_one_class_are_two_boxes_in_a_chain():
    # Boxes used to be keyed by class name: both Linears were one box, drawn with a cycle.
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = F.cross_entropy(model(cr.randn(5, 3)), np.array([0, 1, 0, 1, 1]))
    for names, titles in ((model, ["0 (Linear)", "1 (ReLU)", "2 (Linear)"]), (None, ["Linear", "Linear", "ReLU"])):
        dot = graph.to_dot(loss, names=names, collapse_modules=True)
        boxes = re.findall(r'(m\d+) \[shape=box.*label="([^"]+)"\]', dot)
        assert sorted(label.split("\\n")[0] for _, label in boxes) == titles
        edges = re.findall(r"(\w+) -> (\w+)", dot)
        box = {b for b, _ in boxes}
        # Every box has one way in and one way out: a chain, no cycle.
        assert all(sum(a == b for a, _ in edges) == 1 and sum(c == b for _, c in edges) == 1 for b in box)


def test_retain_all_and_deep_graph():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit
        y = y * 1.0
    graph.retain_all(y)
    y.backward(retain_graph=True)
    assert len(graph.nodes(y)) == 3000 + 1 + 3000  # x, the constants, the products
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert graph.to_dot(y).count("->") == 3 * 3000


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_a_diverged_value_can_still_be_drawn():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    loss = x.log().sum()  # -inf
    assert graph.format_number(float("inf")) == "inf" and graph.format_number(float("nan")) == "nan"
    assert "-inf" in graph.to_dot(loss)


def test_a_scalar_graph_is_drawn_like_the_tensor_graph_of_the_same_expression():
    # L = c * (a + 2 * b) on Scalars: the same values and gradients as the lecture graph of tensors,
    # except that the constant 2 is part of its op's label rather than a node of its own.
    a, b, c = cr.Scalar(3.0, name="a"), cr.Scalar(1.0), cr.Scalar(-2.0, name="c")
    d = 2 * b
    e = a + d
    loss = c * e
    loss.backward()
    dot = graph.to_dot(loss, names={"b": b}, title="L = c * (a + 2 * b)")
    for label in ("{ a | value 3 | grad -2 }", "{ b | value 1 | grad -4 }", "{ c | value -2 | grad 5 }",
                  "{ value 2 | grad -2 }", "{ value 5 | grad -2 }", "{ value -10 | grad 1 }"):
        assert label in dot
    # The constant shows in its op's label, so 2 * b and b - 2 could not be confused.
    assert sorted(re.findall(r'op\d+ \[shape=ellipse.*label="([^"]+)"\]', dot)) == ["*", "* 2", "+"]
    assert len(re.findall(r"-> ", dot)) == (1 + 1) + (2 + 1) + (2 + 1)
    assert 'label="L = c * (a + 2 * b)"' in dot
    with pytest.raises(TypeError, match="not a Scalar"):
        graph.to_dot(loss, names={"b": cr.tensor(1.0)})


@needs_dot
def test_a_scalar_graph_renders(tmp_path):
    a = cr.Scalar(0.5, name="a")
    out = (a * a).tanh()
    out.backward()
    svg = graph.draw(out, tmp_path / "scalar.svg")
    assert "grad 1" in html.unescape(Path(svg).read_text())
