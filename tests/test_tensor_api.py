"""The Tensor API as a PyTorch user meets it: conversions, comparisons, iteration, .grad and grad modes."""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def test_numpy_reads_a_tensor_as_its_values():
    t = cr.tensor([[1.0, 2.0]])
    assert np.asarray(t).dtype == np.float32 and np.asarray(t).shape == (1, 2)  # not an object array
    assert np.float32(cr.tensor(2.0)) == 2.0 and np.exp(cr.tensor(0.0)) == 1.0
    copied = np.array(t, copy=True)
    copied[0, 0] = 9
    assert t.data[0, 0] == 1.0
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("other", [np.float64(0.1), 0.1, np.array(0.1)])
def test_comparisons_follow_the_arithmetic_dtype_rules(other):
    ours = cr.tensor([0.1, 0.2]) == (cr.tensor(other) if isinstance(other, np.ndarray) else other)
    theirs = torch.tensor([0.1, 0.2]) == (torch.tensor(other) if isinstance(other, np.ndarray) else other)
    np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert (cr.tensor([0.1]) < np.float64(0.1)).data.tolist() == (torch.tensor([0.1]) < np.float64(0.1)).tolist()


def test_comparing_with_none_is_false_not_elementwise():
    t = cr.tensor([1.0, 2.0])
    assert (t == None) is False and (t != None) is True


def test_in_looks_for_an_element():
    t = cr.tensor([[1, 2], [3, 4]])
    assert (2 in t) is True and (5 in t) is False
    assert (2 in torch.tensor([[1, 2], [3, 4]])) is True


def test_iteration():
    with pytest.raises(TypeError, match="0-d"):
        list(cr.tensor(2.5))  # as torch; it used to give [] silently
    rows = list(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]]
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    sum(v * v for v in x).backward()  # iterating keeps the graph
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_float_of_a_float32_tensor_is_the_tensor_itself():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    assert w.float() is w and w.double() is not w
    (w.float() * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])  # the leaf got its gradient


def test_an_assigned_grad_is_checked_and_then_accumulates():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.grad = cr.zeros(2)  # a Tensor, as in PyTorch code: stored as its array
    (x * 2).sum().backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = np.zeros(3, np.float32)
    with pytest.raises(RuntimeError, match="dtype"):
        x.grad = np.zeros(2, np.float64)
    with pytest.raises(TypeError):
        x.grad = [0.0, 0.0]
    x.grad = None
    assert x.grad is None


def test_retain_grad_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        cr.tensor([1.0]).retain_grad()
    with pytest.raises(RuntimeError):
        torch.tensor([1.0]).retain_grad()


def test_no_grad_can_be_entered_again_and_used_without_parentheses():
    x = cr.tensor([1.0], requires_grad=True)
    guard = cr.no_grad()
    for _ in range(2):
        with guard, guard:
            assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @cr.no_grad
    def bare():
        return (x * 2).requires_grad

    @cr.no_grad()
    def called():
        return (x * 2).requires_grad

    assert bare() is False and called() is False and cr.is_grad_enabled()


def test_no_grad_on_a_generator_function_covers_each_step():
    x = cr.tensor([1.0], requires_grad=True)

    @cr.no_grad()
    def steps():
        yield (x * 2).requires_grad
        received = yield cr.is_grad_enabled()
        yield received
        return "done"

    gen = steps()
    assert next(gen) is False and next(gen) is False
    assert cr.is_grad_enabled()  # between steps the caller records again
    assert gen.send("sent") == "sent"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"


def test_set_grad_enabled_as_call_block_and_decorator():
    x = cr.tensor([1.0], requires_grad=True)
    cr.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def f():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled() and f() is False and cr.is_grad_enabled()
    with cr.no_grad(), cr.enable_grad():
        assert (x * 2).requires_grad


def test_backward_through_a_graph_whose_weights_a_step_changed_is_refused():
    from chainrule import nn, optim

    def scenario(lib_param, lib_optim, make):
        w = lib_param(make([1.0, 2.0]))
        opt = lib_optim([w], lr=0.5)
        first, second = (w * w).sum(), (w * w * w).sum()  # both recorded before the step
        first.backward()
        opt.step()
        opt.zero_grad()
        second.backward()  # would use the updated w: gradient [1, 4] instead of [3, 12]

    with pytest.raises(RuntimeError, match="changed in place"):
        scenario(nn.Parameter, optim.SGD, lambda v: np.array(v, np.float32))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        scenario(torch.nn.Parameter, torch.optim.SGD, torch.tensor)

    w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    opt = optim.SGD([w], lr=0.5)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="optimizer.step"):
        loss.backward()
    opt.zero_grad()
    (w * w).sum().backward()  # a forward pass after the step is fine
    np.testing.assert_allclose(w.grad, 2 * w.data)

    layer = nn.Linear(2, 1)
    out = layer(cr.ones(1, 2)).sum()
    layer.load_state_dict({k: v.copy() for k, v in layer.state_dict().items()})
    with pytest.raises(RuntimeError, match="changed in place"):
        out.backward()


def test_a_decorated_generator_may_be_empty_or_return_after_a_throw():
    @cr.no_grad()
    def batches(items):
        yield from items

    assert list(batches([1, 2])) == [1, 2] and list(batches([])) == []

    @cr.no_grad()
    def catches():
        try:
            yield 1
        except ValueError:
            return "caught"

    gen = catches()
    next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.throw(ValueError())
    assert stop.value.value == "caught"

    @cr.set_grad_enabled(False)
    def steps():
        yield cr.is_grad_enabled()

    assert list(steps()) == [False] and cr.is_grad_enabled()


def test_a_tensor_that_requires_grad_does_not_slip_into_numpy():
    y = cr.tensor([1.0, 2.0], requires_grad=True)
    x = cr.ones((2, 2), requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x * [y, y]  # the list would become a constant: y's gradient silently lost
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(y)
    assert np.asarray(y.detach()).tolist() == [1.0, 2.0]


def test_comparing_with_what_is_not_a_number_is_false_as_in_torch():
    f = cr.tensor([0.5, 1.0, 2.0])
    assert (f == "1") is False and (f == object()) is False and (f == cr.Scalar(1.0)) is False
    assert ("a" in f) is False and (torch.tensor([0.5, 1.0, 2.0]) == "1") is False
    with pytest.raises(TypeError):
        f < "a"  # noqa: B015 - the comparison's error is what is tested


def test_the_in_place_check_copes_with_a_tensor_from_older_code():
    from chainrule import nn

    w = nn.Parameter(np.array([1.0, 2.0], np.float32))
    loss = (w * w).sum()
    del w._changed_at  # as a tensor unpickled from a version without the slot
    nn.init.constant_(nn.Parameter(np.zeros(2, np.float32)), 1.0)  # some other change: the slow path runs
    loss.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
