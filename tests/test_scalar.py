"""chainrule.Scalar: each op's value and derivative against PyTorch (float64, edge values included),
composite expressions against finite differences and against the Tensor engine, and the graph walk."""
import gc
import itertools
import math
import sys

import numpy as np
import pytest
import torch
from helpers import BINARY

import chainrule as cr
import chainrule.functional as F
from chainrule import Scalar
from chainrule import scalar as scalar_module

INF, NAN = math.inf, math.nan

# Values for the unary ops: ordinary ones, both zeros, the far tails and the non-finite.
UNARY_VALUES = [-3.5, -1.0, -1e-300, -0.0, 0.0, 1e-300, 0.5, 2.0, 30.0, -800.0, 800.0, 1e200, INF, -INF, NAN]

UNARY = {
    "exp": (lambda s: s.exp(), torch.exp),
    "log": (lambda s: s.log(), torch.log),
    "sqrt": (lambda s: s.sqrt(), torch.sqrt),
    "tanh": (lambda s: s.tanh(), torch.tanh),
    "sigmoid": (lambda s: s.sigmoid(), torch.sigmoid),
    "relu": (lambda s: s.relu(), torch.relu),
    "abs": (lambda s: abs(s), torch.abs),
    "neg": (lambda s: -s, torch.neg),
    "square": (lambda s: s ** 2, lambda t: t ** 2),
    "cube_root": (lambda s: s ** (1 / 3), lambda t: t ** (1 / 3)),
    "root": (lambda s: s ** 0.5, lambda t: t ** 0.5),
    "inverse_root": (lambda s: s ** -0.5, lambda t: t ** -0.5),
    "self_over_self": (lambda s: s / s, lambda t: t / t),
    "inverse": (lambda s: s ** -1, lambda t: t ** -1),
    "pow0": (lambda s: s ** 0, lambda t: t ** 0),
    "two_to_the": (lambda s: 2.0 ** s, lambda t: 2.0 ** t),
    "zero_to_the": (lambda s: 0.0 ** s, lambda t: 0.0 ** t),
    "one_over": (lambda s: 1.0 / s, lambda t: 1.0 / t),
    "three_minus": (lambda s: 3.0 - s, lambda t: 3.0 - t),
    "times_minus_two": (lambda s: s * -2.0, lambda t: t * -2.0),
    "over_four": (lambda s: s / 4.0, lambda t: t / 4.0),
}

BINARY_VALUES = [-2.0, -0.0, 0.0, 0.5, 3.0, 1e-200, -1e300, INF, NAN]


def torch_value_and_grads(fn, *values):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = fn(*ts)
    grads = torch.autograd.grad(out, ts, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


def assert_same(ours, theirs, what, zero_sign=False):
    # Equal as IEEE values: NaN matches NaN, infinities must agree in sign, finite values to 1e-12;
    # with zero_sign, a zero's sign too (values keep it; gradients are sums from +0.0, see scalar.py).
    if zero_sign and theirs == 0:
        assert ours == 0 and math.copysign(1, ours) == math.copysign(1, theirs), f"{what}: {ours} but PyTorch gives {theirs}"
    elif math.isnan(theirs):
        assert math.isnan(ours), f"{what}: {ours} but PyTorch gives NaN"
    elif math.isinf(theirs):
        assert ours == theirs, f"{what}: {ours} but PyTorch gives {theirs}"
    else:
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-300), f"{what}: {ours} but PyTorch gives {theirs}"


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_torch_on_edge_values(name):
    ours_fn, torch_fn = UNARY[name]
    for v in UNARY_VALUES:
        x = Scalar(v)
        out = ours_fn(x)
        out.backward()
        value, (grad,) = torch_value_and_grads(torch_fn, v)
        assert_same(out.data, value, f"{name}({v}) value", zero_sign=True)
        assert_same(x.grad, grad, f"{name}'({v})")


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_match_torch_on_edge_values(name):
    fn = BINARY[name]
    for a in BINARY_VALUES:
        for b in BINARY_VALUES:
            x, y = Scalar(a), Scalar(b)
            out = fn(x, y)
            out.backward()
            value, (ga, gb) = torch_value_and_grads(fn, a, b)
            assert_same(out.data, value, f"{a} {name} {b}", zero_sign=True)
            assert_same(x.grad, ga, f"d({a} {name} {b})/da")
            assert_same(y.grad, gb, f"d({a} {name} {b})/db")


def test_python_float_edge_cases_follow_ieee_not_python():
    # Each of these raises in plain Python float arithmetic.
    assert (Scalar(1.0) / 0.0).data == INF
    assert (Scalar(-1.0) / Scalar(0.0)).data == -INF
    assert math.isnan((Scalar(0.0) / 0.0).data)
    assert Scalar(0.0).log().data == -INF
    assert math.isnan(Scalar(-1.0).log().data)
    assert math.isnan(Scalar(-1.0).sqrt().data)
    assert Scalar(1000.0).exp().data == INF
    assert math.isnan((Scalar(-8.0) ** (1 / 3)).data)  # Python would give a complex number
    assert (Scalar(0.0) ** -1).data == INF
    assert (Scalar(10.0) ** 400).data == INF
    assert Scalar(-1000.0).sigmoid().data == 0.0


def finite_difference(fn, values, i, eps=1e-6):
    up, down = list(values), list(values)
    up[i] += eps
    down[i] -= eps
    return (fn(*[Scalar(v) for v in up]).data - fn(*[Scalar(v) for v in down]).data) / (2 * eps)


def expression(a, b, c):
    # Reuses a and b on several paths, and goes through every kind of op.
    h = (a * b + c).tanh() * a - b / (c * c + 1.0)
    return (h.sigmoid() + (a ** 2 + 1.5).log() * (b.exp() - 1.0) + (c - a).relu() ** 1.5
            + abs(b - 0.3) + (a * a + 0.1).sqrt() + 2.0 ** (b * 0.5))


@pytest.mark.parametrize("values", [(0.7, -1.3, 0.4), (-0.2, 0.9, 1.8), (1.6, 0.05, -0.6)])
def test_gradients_match_finite_differences(values):
    xs = [Scalar(v) for v in values]
    expression(*xs).backward()
    for i, x in enumerate(xs):
        assert x.grad == pytest.approx(finite_difference(expression, values, i), rel=1e-6, abs=1e-8)


def test_gradients_match_the_tensor_engine_in_float64():
    values = (0.7, -1.3, 0.4)
    xs = [Scalar(v) for v in values]
    ts = [cr.tensor(v, dtype=np.float64, requires_grad=True) for v in values]
    out_s, out_t = expression(*xs), expression(*ts)
    out_s.backward()
    out_t.backward()
    assert out_s.data == pytest.approx(out_t.item(), rel=1e-14)
    for x, t in zip(xs, ts):
        assert x.grad == pytest.approx(float(t.grad), rel=1e-12)


def test_micrograd_style_mlp_gives_the_tensor_engines_loss_and_gradients():
    # The benchmark's scalar MLP, written neuron by neuron: same loss and gradients as with 0-d tensors.
    rng = np.random.default_rng(0)
    sizes = (3, 4, 4, 1)
    weights = [[(rng.uniform(-1, 1, n_in).tolist(), float(rng.uniform(-1, 1))) for _ in range(n_out)]
               for n_in, n_out in itertools.pairwise(sizes)]
    inputs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0]]
    targets = [1.0, -1.0, -1.0]

    def run(make):
        layers = [[([make(v) for v in w], make(b)) for w, b in layer] for layer in weights]
        loss = 0.0
        for x, y in zip(inputs, targets):
            h = x
            for i, layer in enumerate(layers):
                h = [(sum((wi * hi for wi, hi in zip(w, h)), b)) for w, b in layer]
                h = [cr.relu(v) for v in h] if i < len(layers) - 1 else h
            loss = loss + (h[0] - y) ** 2
        loss.backward()
        return loss, [p.grad for layer in layers for w, b in layer for p in (*w, b)]

    loss_s, grads_s = run(Scalar)
    loss_t, grads_t = run(lambda v: cr.tensor(v, dtype=np.float64, requires_grad=True))
    assert loss_s.data == pytest.approx(loss_t.item(), rel=1e-13)
    assert grads_s == pytest.approx([float(g) for g in grads_t], rel=1e-12, abs=1e-15)
    assert any(g != 0 for g in grads_s)


def test_reused_node_gets_the_sum_of_its_paths():
    a = Scalar(3.0)
    b = a * a        # db/da = 2a = 6
    c = b + a        # dc/da = 6 + 1
    d = c * b        # d = (a^2 + a) a^2 = a^4 + a^3: dd/da = 4a^3 + 3a^2 = 135
    d.backward()
    assert a.grad == 135.0
    assert b.grad == c.data + b.data  # dd/db = c + b (through c)
    assert d.grad == 1.0


def test_gradients_add_up_over_backward_calls_and_reset_with_none():
    a = Scalar(2.0)
    out = a * 5.0
    out.backward()
    out.backward()
    assert a.grad == 10.0
    a.grad = None
    out.backward(grad=0.5)
    assert a.grad == 2.5


def test_constants_are_not_part_of_the_graph():
    a = Scalar(2.0)
    out = 3.0 * a + np.float64(1.0) - np.float32(0.5) + 2
    assert out.data == 8.5
    assert [node for node in out.topological_order() if node.is_leaf] == [a]
    out.backward()
    assert a.grad == 3.0


def test_topological_order_puts_inputs_first_and_lists_each_node_once():
    a, b = Scalar(1.0, name="a"), Scalar(2.0, name="b")
    c = a * b
    d = c + a
    e = d * c
    order = e.topological_order()
    assert len(order) == len(set(order)) == 5
    position = {node: i for i, node in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[parent] < position[node]


def test_a_graph_100000_deep_backpropagates_and_is_freed():
    x = Scalar(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    del y
    gc.collect()  # no recursion error on the way out either
    assert sys.getrefcount(x) == 2


def test_numbers_mix_in_but_tensors_and_arrays_are_refused():
    a = Scalar(2.0)
    assert (np.float64(3.0) * a).data == 6.0
    assert (True + a).data == 3.0
    with pytest.raises(TypeError):
        a + cr.tensor(1.0)
    with pytest.raises(TypeError, match="expected numbers, got Scalar"):
        cr.tensor([1.0, 2.0]) * a
    for tensor_function in (F.sigmoid, F.relu, F.tanh, cr.Tensor):  # each would cut the graph silently
        with pytest.raises(TypeError, match="expected numbers, got Scalar"):
            tensor_function(a)
    assert (a * np.bool_(True)).data == 2.0 and Scalar(np.bool_(True)).data == 1.0
    with pytest.raises(TypeError, match="grad must be a real number"):
        (a * 2.0).backward(grad="2.5")
    with pytest.raises(TypeError):
        np.array([1.0, 2.0]) + a
    with pytest.raises(TypeError):
        a * "2"
    with pytest.raises(TypeError, match="real number"):
        Scalar("2.0")
    with pytest.raises(TypeError, match="real number"):
        Scalar(1 + 2j)


def test_comparisons_are_on_values_and_scalars_hash_by_identity():
    a, b = Scalar(1.0), Scalar(1.0)
    assert a <= b and a >= b and not a < b and a < 2 and b > 0.5
    assert len({a, b}) == 2
    assert float(a) == 1.0 and a.item() == 1.0


def test_chainrule_functions_take_scalars():
    x = Scalar(0.3)
    out = cr.tanh(x) + cr.sigmoid(x) + cr.relu(x) + cr.exp(x) + cr.log(x) + cr.sqrt(x)
    out.backward()
    expected = (1 - math.tanh(0.3) ** 2 + (s := 1 / (1 + math.exp(-0.3))) * (1 - s) + 1
                + math.exp(0.3) + 1 / 0.3 + 0.5 / math.sqrt(0.3))
    assert x.grad == pytest.approx(expected, rel=1e-14)


def test_explain_backward_never_gives_two_nodes_one_name():
    x, y = cr.Scalar(2.0, name="v1"), cr.Scalar(3.0)  # y would be "v1" too, by its place in the graph
    lines = (x * y).explain_backward()
    assert "(v2 = v1 * v1')" in lines[1] and lines[1].startswith("dv2/dv1 +=") and lines[2].startswith("dv2/dv1' +=")


def test_explain_backward_lists_one_product_per_edge_and_reaches_the_gradients():
    a, b = Scalar(2.0, name="a"), Scalar(-3.0, name="b")
    c = a * b
    c.name = "c"
    d = c + a
    d.name = "d"
    lines = d.explain_backward()
    assert lines[0] == "dd/dd = 1"
    assert lines[1:] == [
        "dd/dc += ∂d/∂c · dd/dd = 1 · 1 (d = c + a) -> 1",
        "dd/da += ∂d/∂a · dd/dd = 1 · 1 (d = c + a) -> 1",
        "dd/da += ∂c/∂a · dd/dc = -3 · 1 (c = a * b) -> -2",
        "dd/db += ∂c/∂b · dd/dc = 2 · 1 (c = a * b) -> 2",
    ]
    assert a.grad is None  # explaining changes nothing
    x = Scalar(2.0, name="x")
    formulas = [line.split("(", 1)[1].rsplit(")", 1)[0] for line in (3.0 - (-x).exp()).explain_backward()[1:]]
    assert formulas == ["v3 = 3 - v2", "v2 = exp(v1)", "v1 = -x"]
    d.backward()
    assert (a.grad, b.grad) == (-2.0, 2.0)


def test_division_by_tiny_and_huge_divisors_matches_torch():
    # The divisor's derivative is -(a/b)/b: written -a/(b*b), b*b overflows or underflows first.
    for a, b in [(1e-200, 1e-200), (-INF, 1e300), (1e300, 1e300), (3.0, 1e-160)]:
        x, y = Scalar(a), Scalar(b)
        (x / y).backward()
        _, (ga, gb) = torch_value_and_grads(lambda s, t: s / t, a, b)
        assert_same(x.grad, ga, f"d({a}/{b})/da")
        assert_same(y.grad, gb, f"d({a}/{b})/db")


def test_an_unpickled_graph_keeps_its_order_in_a_new_process(monkeypatch):
    import pickle
    for _ in range(100):
        Scalar(0.0)  # the numbering has moved on by the time w is made
    w = Scalar(2.0)
    h = w * 3.0
    saved = pickle.dumps((w, h))
    monkeypatch.setattr(scalar_module, "_counter", itertools.count())  # a fresh process numbers from 0
    w2, h2 = pickle.loads(saved)
    loss = h2 * h2
    loss.backward()
    assert w2.grad == 36.0 and h2.grad == 12.0 and w2.data == 2.0 and h2.op_label == "* 3"
    assert w.grad is None  # the original is untouched


def test_op_labels_show_the_constant_and_its_side():
    x = Scalar(2.0)
    labels = [(3.0 - x).op_label, (x - 3.0).op_label, (x ** 2).op_label, (2.0 ** x).op_label,
              (1.0 / x).op_label, (x * 0.5).op_label, (x * x).op_label, x.exp().op_label, x.op_label]
    assert labels == ["3 -", "- 3", "** 2", "2 **", "1 /", "* 0.5", "*", "exp", ""]


def test_python_habits_bool_int_and_subclasses():
    assert not Scalar(0.0) and Scalar(-0.5) and int(Scalar(2.7)) == 2

    class Named(Scalar):
        __slots__ = ()

    a, b = Named(2.0), Named(5.0)
    out = (a - b) * (a ** b) + Scalar(1.0) / b
    out.backward()
    assert a.grad == pytest.approx(2.0 ** 5 + (2.0 - 5.0) * 5 * 2.0 ** 4)
    assert b.grad == pytest.approx(-(2.0 ** 5) + (2.0 - 5.0) * 2.0 ** 5 * math.log(2.0) - 1 / 25)
