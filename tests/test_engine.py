"""The engine's rules: dtypes, no_grad, accumulation, retain_grad, error messages, gradcheck."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.function import Function


# ---------------------------------------------------------------------- dtypes
def test_creation_dtypes():
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor(3.5).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == bool
    assert cr.tensor(np.zeros(2)).dtype == np.float64  # an ndarray keeps its dtype, as torch.tensor does
    assert cr.tensor(np.zeros(2), dtype=np.float32).dtype == np.float32
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64
    for t in (cr.zeros(2, 3), cr.ones((2, 3)), cr.randn(2, 3), cr.rand(2, 3)):
        assert t.dtype == np.float32 and t.shape == (2, 3)
    assert cr.randn(2, dtype=np.float64).dtype == np.float64
    assert cr.arange(5).dtype == np.int64 and cr.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(cr.arange(2, 8, 2).numpy(), [2, 4, 6])


def test_arithmetic_dtype_promotion():
    x = cr.tensor([1.0, 2.0])
    assert (x * 2.5).dtype == np.float32  # a Python number does not widen a tensor
    assert (x + 1).dtype == np.float32
    assert (x + cr.tensor(np.ones(2))).dtype == np.float64  # float32 with float64 gives float64, as in torch
    assert (cr.tensor([1, 2]) * 2).dtype == np.int64


def test_gradient_has_the_dtype_of_its_tensor():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w * cr.tensor(np.array([3.0, 4.0]))).sum().backward()  # the product is float64
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [3, 4])


def test_only_floating_tensors_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        cr.tensor([1, 2], requires_grad=True)


def test_seed_reproduces_random_tensors():
    cr.manual_seed(3)
    a = cr.randn(4).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(cr.randn(4).numpy(), a)
    cr.manual_seed(-1)  # accepted, as torch.manual_seed(-1) is: the 64-bit two's complement
    b = cr.randn(4).numpy()
    cr.manual_seed(2**64 - 1)
    np.testing.assert_array_equal(cr.randn(4).numpy(), b)


def test_tensor_copies_its_data_as_torch_tensor_does():
    init = np.ones(3, np.float32)
    w = cr.tensor(init, requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_array_equal(init, 1.0)  # the caller's array is not the parameter
    a = cr.ones(3)
    b = cr.tensor(a)
    b.data[0] = 5
    assert a.data[0] == 1
    pair = cr.tensor([cr.tensor(1.0), cr.tensor(2.0)])  # a list of one-element tensors: their values
    assert pair.dtype == np.float32 and pair.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="expected numbers"):
        cr.tensor("abc")
    with pytest.raises(TypeError, match="expected numbers"):
        cr.tensor(None)


# -------------------------------------------------------------- basic fields
def test_tensor_fields():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.shape == (2, 2) and x.ndim == 2 and x.size == 4 and len(x) == 2 and x.is_leaf
    assert isinstance(x.numpy(), np.ndarray) and x.data is x.numpy()
    assert x.sum().item() == 10.0
    d = x.detach()
    assert not d.requires_grad and d.data is x.data and d.grad_fn is None
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert "grad_fn=<Mul>" in repr(y)
    with pytest.raises(ValueError, match=r"one element.*\(2, 2\)"):
        x.item()


# ------------------------------------------------------------------- no_grad
def test_no_grad_records_nothing():
    x = cr.randn(3, requires_grad=True)
    with cr.no_grad():
        y = x * 2 + 1
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            z = x * 2
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restores_state_after_an_error():
    with pytest.raises(ZeroDivisionError), cr.no_grad():
        raise ZeroDivisionError
    assert cr.is_grad_enabled()


def test_constants_do_not_require_grad():
    x = cr.randn(3)
    assert not (x * 2).requires_grad
    assert (x * cr.randn(3, requires_grad=True)).requires_grad


# --------------------------------------------------------------- accumulation
def test_gradients_accumulate_until_zero_grad():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 4, 6])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [5, 7, 9])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 3, 3])


def test_grad_is_assignable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    x.grad = np.array([10.0, 10.0], np.float32)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [12, 12])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2])


def test_reused_node_sums_its_gradients():
    x = cr.tensor([2.0], requires_grad=True)
    y = x * 3
    (y * y + y).sum().backward()  # d/dx (9x^2 + 3x) = 18x + 3
    np.testing.assert_array_equal(x.grad, [39])


def test_gradients_of_two_leaves_never_share_memory():
    a = cr.randn(3, requires_grad=True)
    b = cr.randn(3, requires_grad=True)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    assert not np.shares_memory(a.grad, b.grad)
    a.grad *= 2
    np.testing.assert_array_equal(b.grad, [1, 1, 1])


def test_backward_with_explicit_grad_does_not_alias_the_callers_array():
    x = cr.randn(3, requires_grad=True)
    upstream = np.ones(3, np.float32)
    (x + 0).backward(upstream)
    x.grad *= 5
    np.testing.assert_array_equal(upstream, [1, 1, 1])


def test_leaf_backward_with_grad():
    x = cr.randn(2, 2, requires_grad=True)
    x.backward(np.full((2, 2), 3.0))
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 3.0))


def test_retain_grad_keeps_intermediate_gradients():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    g = h * 2
    loss = (h * g).sum()  # 2 h^2
    loss.backward()
    np.testing.assert_array_equal(h.grad, 4 * h.numpy())
    assert g.grad is None  # not retained: only leaves and retain_grad() tensors keep .grad
    np.testing.assert_array_equal(x.grad, 12 * h.numpy())


def test_backward_only_reaches_inputs_that_require_grad():
    a = cr.randn(3, requires_grad=True)
    b = cr.randn(3)
    (a * b).sum().backward()
    assert b.grad is None and a.grad is not None


# ----------------------------------------------------------- error messages
@pytest.mark.parametrize("make,pattern", [
    (lambda: cr.randn(3, 4) + cr.randn(2), r"add: shapes \(3, 4\) and \(2,\)"),
    (lambda: cr.randn(3, 4) - cr.randn(2), r"sub: shapes \(3, 4\) and \(2,\)"),
    (lambda: cr.randn(3, 4) * cr.randn(5, 1, 2), r"mul: shapes \(3, 4\) and \(5, 1, 2\)"),
    (lambda: cr.randn(3, 4) / cr.randn(3, 2), r"div: shapes \(3, 4\) and \(3, 2\)"),
    (lambda: cr.randn(3, 4) @ cr.randn(3, 4), r"matmul: shapes \(3, 4\) and \(3, 4\)"),
    (lambda: cr.randn(3, 4).reshape(5, 2), r"reshape: .*\(3, 4\) into \(5, 2\)"),
    (lambda: cr.randn(3, 4).expand(2, 3, 5), r"expand: .*\(3, 4\).*\(2, 3, 5\)"),
    (lambda: cr.cat([cr.randn(2, 3), cr.randn(2, 4)]), r"cat: shapes \[\(2, 3\), \(2, 4\)\]"),
    (lambda: cr.stack([cr.randn(2, 3), cr.randn(2, 4)]), r"stack: .*\(2, 3\), \(2, 4\)"),
    (lambda: cr.where(cr.tensor([True, False]), cr.randn(3), cr.randn(2)), r"where: .*\(2,\).*\(3,\).*\(2,\)"),
    (lambda: cr.randn(2, 3).permute(0, 0), r"transpose: \(0, 0\).*\(2, 3\)"),
    (lambda: cr.functional.linear(cr.randn(2, 3), cr.randn(4, 5)), r"linear: .*\(2, 3\).*\(4, 5\)"),
    (lambda: cr.functional.linear(cr.randn(2, 3), cr.randn(4, 3), cr.randn(5)), r"linear: bias .*\(5,\).*\(4, 3\)"),
    (lambda: cr.randn(2, 3).sum(axis=2), r"axis 2 is out of range"),
])
def test_shape_errors_name_the_op_and_shapes(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_index_error_names_the_shape():
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        cr.randn(2, 3)[5]


def test_backward_grad_of_wrong_shape():
    y = cr.randn(2, 3, requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the tensor has shape \(2, 3\)"):
        y.backward(np.ones(3))


# ------------------------------------------------------------------ gradcheck
class DoubleWithWrongBackward(Function):
    """y = 2x whose backward forgets the factor 2 on the last element."""

    def forward(self, a):
        return 2 * a

    def backward(self, g):
        grad = 2 * g
        grad[..., -1] = g[..., -1]
        return (grad,)


class Square(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return (2 * self.a * g,)


def test_gradcheck_passes_a_correct_custom_function():
    assert cr.gradcheck(lambda x: Square.apply(x), cr.randn(2, 3, requires_grad=True))


def test_gradcheck_refuses_a_function_that_computes_in_float32():
    # Its finite differences would be float32 rounding noise, blamed on autodiff.
    with pytest.raises(TypeError, match="must compute in float64.*float32"):
        cr.gradcheck(lambda x: (x.float() * 2).sum(), cr.randn(3, requires_grad=True))
    # A float32 output that does not depend on the inputs has gradient 0, which needs no differences.
    assert cr.gradcheck(lambda x: cr.tensor(np.ones(3, np.float32)), cr.randn(3, requires_grad=True))


def test_gradcheck_catches_a_wrong_backward():
    x = cr.randn(2, 3, requires_grad=True)
    with pytest.raises(cr.GradcheckError, match=r"input 0 \(shape \(2, 3\)\) at index \(\d, 2\)"):
        cr.gradcheck(lambda x: DoubleWithWrongBackward.apply(x), x)


def test_gradcheck_fails_on_nan_gradient():
    class NanBackward(Square):
        def backward(self, g):
            return (g * np.nan,)
    with pytest.raises(cr.GradcheckError, match="autodiff nan"):
        cr.gradcheck(lambda x: NanBackward.apply(x), cr.randn(3, requires_grad=True))


def test_gradcheck_checks_several_inputs_and_passes_other_arguments():
    a, b = cr.randn(2, 3, requires_grad=True), cr.randn(3, requires_grad=True)
    assert cr.gradcheck(lambda a, b, k: (a * b * k).tanh(), [a, b, 3.0])
    with pytest.raises(ValueError, match="no input has requires_grad"):
        cr.gradcheck(lambda a: a * 2, [cr.randn(2)])


def test_gradcheck_of_an_output_that_ignores_an_input():
    a, b = cr.randn(2, requires_grad=True), cr.randn(2, requires_grad=True)
    assert cr.gradcheck(lambda a, b: a * 2, [a, b])


# ------------------------------------------------------- edge cases (a review against PyTorch)
def test_min_of_integers_and_booleans():
    # -max(-x) would wrap for unsigned and int8 and fail on booleans
    assert cr.tensor(np.array([0, 5], np.uint8)).min().item() == 0
    assert cr.tensor(np.array([-128, 5], np.int8)).min().item() == -128
    flags = cr.tensor(np.array([1.0, 2.0, 3.0])) > 1
    assert flags.min().item() is False and flags.min(axis=0).item() is False


def test_a_nan_maximum_takes_the_whole_gradient_as_in_torch():
    torch = pytest.importorskip("torch")
    pairs = [(lambda t: t.max(), lambda t: t.max()), (lambda t: t.min(), lambda t: t.min()),
             (lambda t: t.max(axis=1), lambda t: t.max(dim=1).values)]
    for ours, theirs in pairs:
        data = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
        x = cr.tensor(data, requires_grad=True)
        ours(x).sum().backward()
        tx = torch.tensor(data, requires_grad=True)
        theirs(tx).sum().backward()
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    # Over several axes (torch.amax's rule, ties share) the NaN takes it too; torch.amax gives NaN everywhere.
    x = cr.tensor(data, requires_grad=True)
    x.max(axis=(0, 1)).backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 0, 0]])


def test_a_cast_to_integers_carries_no_gradient():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    c = x.astype(np.int64)
    assert not c.requires_grad and c.dtype == np.int64
    assert x.astype(np.float64).requires_grad


def test_numpy_scalars_keep_a_float32_tensor_float32():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (x * np.int64(2), x / np.sum(np.array([True, True])), x ** np.float64(2), np.float32(2) + x,
              x - np.bool_(True)):
        assert y.dtype == np.float32
    (x ** np.float64(2)).sum().backward()
    assert x.grad.dtype == np.float32


def test_mean_of_nothing_is_nan_and_flatten_of_an_empty_batch():
    assert np.isnan(cr.zeros(0, 3).mean().item())
    assert np.isnan(cr.zeros(2, 0).mean(axis=1).data).all()
    assert cr.zeros(0, 2, 3).flatten(1).shape == (0, 6)


def test_grad_mode_belongs_to_each_thread():
    import threading
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with cr.no_grad():
            inside.set()
            release.wait(5)
        seen["worker_after"] = cr.is_grad_enabled()

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    seen["main_while_worker_in_no_grad"] = cr.is_grad_enabled()
    with cr.no_grad():
        release.set()
        t.join(5)
    assert seen == {"main_while_worker_in_no_grad": True, "worker_after": True}
    assert cr.is_grad_enabled()
    fresh = []
    with cr.no_grad():
        t = threading.Thread(target=lambda: fresh.append(cr.is_grad_enabled()))
        t.start()
        t.join(5)
    assert fresh == [True]  # a new thread starts with recording on, as in PyTorch


def test_squeeze_leaves_dimensions_that_are_not_1_as_torch_does():
    torch = pytest.importorskip("torch")
    x, t = cr.zeros(2, 1, 3), torch.zeros(2, 1, 3)
    for args in [(), (0,), (1,), (-2,), ((0, 1),)]:
        assert x.squeeze(*args).shape == tuple(t.squeeze(*args).shape)
    assert x.squeeze(dim=1).shape == (2, 3)
