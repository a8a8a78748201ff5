"""The graph's lifetime: freed by backward, deep graphs without recursion, and the errors around reuse."""
import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F


def count_live_tensors():
    # issubclass(type(o)) rather than isinstance(o): the latter makes some modules' lazy attributes warn
    return sum(issubclass(type(o), cr.Tensor) for o in gc.get_objects())


def small_model_graph(x, w1, w2, keep):
    """A two-layer network's loss; weak references to every intermediate tensor go into ``keep``."""
    h = F.linear(x, w1)
    a = h.tanh()
    logits = a @ w2
    loss = F.cross_entropy(logits, np.array([0, 1, 2, 1]))
    keep.extend(weakref.ref(t) for t in (h, a, logits))
    return loss


@pytest.fixture
def no_gc():
    """Prove the graph is freed by reference counting alone: no cycles for the collector to find."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_backward_frees_every_intermediate_tensor(no_gc):
    x, w1, w2 = cr.randn(4, 5), cr.randn(6, 5, requires_grad=True), cr.randn(6, 3, requires_grad=True)
    refs = []
    loss = small_model_graph(x, w1, w2, refs)
    assert all(r() is not None for r in refs)  # the graph holds them
    loss.backward()
    assert all(r() is None for r in refs)  # freed as soon as backward is done with them
    assert w1.grad.shape == w1.shape and w2.grad.shape == w2.shape
    node = weakref.ref(loss.grad_fn)
    del loss
    assert node() is None


def test_no_tensor_of_a_finished_graph_stays_alive(no_gc):
    w = cr.randn(8, 8, requires_grad=True)
    before = count_live_tensors()
    for _ in range(3):
        h = cr.randn(2, 8)
        for _ in range(5):
            h = (h @ w).relu() + h * 0.5
        loss = h.sum()
        loss.backward()
        del h, loss
    assert count_live_tensors() == before


def test_retained_graph_is_freed_when_dropped(no_gc):
    x, w1, w2 = cr.randn(4, 5), cr.randn(6, 5, requires_grad=True), cr.randn(6, 3, requires_grad=True)
    refs = []
    loss = small_model_graph(x, w1, w2, refs)
    loss.backward(retain_graph=True)
    assert all(r() is not None for r in refs)
    del loss
    assert all(r() is None for r in refs)


def test_graph_without_backward_is_freed(no_gc):
    x, w1, w2 = cr.randn(4, 5), cr.randn(6, 5, requires_grad=True), cr.randn(6, 3, requires_grad=True)
    refs = []
    loss = small_model_graph(x, w1, w2, refs)
    del loss
    assert all(r() is None for r in refs)


def test_deep_chain_backpropagates_without_recursion():
    x = cr.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.sum().backward()
    # The factor as float32 stores it; float32 rounding over the 100,000 products stays far below 1e-3.
    np.testing.assert_allclose(x.grad, [float(np.float32(1.00001)) ** 100_000], rtol=1e-3)


def test_deep_chain_retained_twice_then_deleted_whole():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y - 1.0
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    assert x.grad == 2.0
    del y  # dropping an intact 100,000-deep graph must not overflow the C stack either


def test_second_backward_without_retain_graph_raises():
    x = cr.randn(3, requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_backward_through_a_freed_shared_subgraph_raises():
    x = cr.randn(3, requires_grad=True)
    h = x.exp()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 3).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-6)
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])), rtol=1e-6)


def test_backward_on_a_non_scalar_needs_grad():
    y = cr.randn(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar output.*shape \(2, 3\).*grad="):
        y.backward()


def test_detect_anomaly_names_the_forward_op():
    x = cr.tensor([1.0, -1.0, 2.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        x.log()  # NaN is allowed outside detect_anomaly
        pattern = r"Log forward produced NaN \(input shapes: \(3,\)\)"
        with cr.detect_anomaly(), pytest.raises(FloatingPointError, match=pattern):
            x.log()


def test_detect_anomaly_names_the_backward_op():
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"), cr.detect_anomaly():
        y = (x.sqrt() * 2).sum()  # sqrt(0) is fine; its derivative there is inf
        with pytest.raises(FloatingPointError, match=r"Sqrt backward produced inf \(input shapes: \(2,\)\)"):
            y.backward()
    assert not cr.grad_mode.state.detect_anomaly
