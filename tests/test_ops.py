"""Every primitive op against PyTorch (forward and gradients) and float64 finite differences."""
import numpy as np
import pytest
import torch
from helpers import helper_test_op

import chainrule as cr
import chainrule.functional as F

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((1, 3, 1, 7, 1), (2, 1, 5, 1, 8)),
]


def away_from_zero(shape, seed=0):
    """Values with |v| in [0.5, 2): safe denominators and bases."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1, 1], size=shape) * rng.uniform(0.5, 2, size=shape)).astype(np.float32)


def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2, size=shape).astype(np.float32)


# ------------------------------------------------------------------ arithmetic
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_binary_broadcast(op, shapes):
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}[op]
    helper_test_op(shapes, fn)


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_div_broadcast(shapes):
    helper_test_op(None, lambda a, b: a / b, vals=[make(shapes[0]), away_from_zero(shapes[1], 1)])


def make(shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


@pytest.mark.parametrize("fn", [
    lambda a: a + 2.0, lambda a: 2.0 + a, lambda a: a - 1.5, lambda a: 1.5 - a, lambda a: a * 3,
    lambda a: 3 * a, lambda a: a / 4.0, lambda a: -a, lambda a: np.float32(2) * a,
], ids=["add", "radd", "sub", "rsub", "mul", "rmul", "div", "neg", "np_scalar_rmul"])
def test_scalar_arithmetic(fn):
    out, _ = helper_test_op([(3, 4)], fn)
    assert out.dtype == np.float32


def test_rtruediv():
    helper_test_op(None, lambda a: 1.0 / a, vals=[away_from_zero((3, 4))])


def test_array_operand_is_a_constant():
    const = np.arange(4, dtype=np.float32)
    helper_test_op([(3, 4)], lambda a: a * const + const, lambda a: a * torch.tensor(const) + torch.tensor(const))


# ------------------------------------------------------------------------ pow
@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 1, 0])
def test_pow_scalar_exponent(p):
    helper_test_op(None, lambda a: a ** p, vals=[positive((3, 4))])


@pytest.mark.parametrize("p", [2, 3, -1])
def test_pow_integer_exponent_negative_base(p):
    helper_test_op(None, lambda a: a ** p, vals=[away_from_zero((3, 4))])


def test_rpow():
    helper_test_op([(3, 4)], lambda a: 2 ** a, lambda a: 2 ** a)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((3, 4), ())], ids=str)
def test_pow_tensor_exponent(shapes):
    helper_test_op(None, lambda a, b: a ** b, vals=[positive(shapes[0]), make(shapes[1], 1)])


def test_pow_edge_values_follow_torch():
    # 0 ** 0, 0 ** positive, negative base: the conventions PyTorch uses (0 gradients, NaN for d/db at a < 0).
    a = np.array([0.0, 0.0, 2.0, -1.5, 0.0], np.float32)
    b = np.array([0.0, 2.0, 0.0, 2.0, 0.5], np.float32)
    ca, cb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ca ** cb).sum().backward()
    (ta ** tb).sum().backward()
    np.testing.assert_array_equal(ca.grad, ta.grad.numpy())
    np.testing.assert_array_equal(cb.grad, tb.grad.numpy())  # equal NaNs compare equal here


# --------------------------------------------------------------------- matmul
@pytest.mark.parametrize("shapes", [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 4)),
    ((2, 1, 2, 3), (3, 3, 4)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((2, 3), (2, 3, 4)),
], ids=str)
def test_matmul(shapes):
    helper_test_op(shapes, lambda a, b: a @ b)


def test_matmul_large_against_torch():
    helper_test_op([(64, 96), (96, 48)], lambda a, b: a @ b, gradcheck=False, atol=1e-4)


def test_rmatmul_with_array():
    w = make((4, 3), 5)
    helper_test_op([(3, 2)], lambda a: w @ a, lambda a: torch.tensor(w) @ a)


# ---------------------------------------------------------------- elementwise
@pytest.mark.parametrize("name", ["abs", "tanh", "sigmoid", "relu", "exp"])
def test_unary(name):
    helper_test_op([(3, 5)], lambda x: getattr(x, name)())


@pytest.mark.parametrize("name", ["log", "sqrt"])
def test_unary_positive_domain(name):
    helper_test_op(None, lambda x: getattr(x, name)(), vals=[positive((3, 5))])


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "relu"])
def test_module_level_functions(name):
    helper_test_op([(4,)], getattr(cr, name), getattr(torch, name))


def test_module_level_log_sqrt():
    helper_test_op(None, lambda x: cr.log(cr.sqrt(x)), lambda x: torch.log(torch.sqrt(x)), vals=[positive((4,))])


def test_relu_and_abs_at_zero_match_torch():
    helper_test_op(None, lambda x: x.relu() + x.abs(), vals=[np.array([-1.0, 0.0, 2.0], np.float32)],
                   gradcheck=False)


def test_relu_of_nan_and_infinities_matches_torch():
    x = np.array([np.nan, -np.inf, np.inf, -1.0, 0.0, 2.0], np.float32)
    t = cr.tensor(x, requires_grad=True)
    y = t.relu()
    y.backward(np.ones_like(x))
    tt = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tt)
    ty.backward(torch.ones_like(tt))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # NaN stays NaN, as in torch
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


def test_relu_masks_an_infinite_or_nan_gradient_as_torch():
    # sqrt(relu(a)) at a <= 0 sends inf down to relu; its derivative there is 0, so a's gradient is 0,
    # not inf * 0 = NaN (PyTorch: where(x <= 0, 0, g)).
    x = np.array([-1.0, 0.0, 0.0, 2.0, 3.0, -2.0], np.float32)
    upstream = np.array([np.inf, -np.inf, np.nan, np.inf, np.nan, 1.0], np.float32)
    t = cr.tensor(x, requires_grad=True)
    t.relu().backward(upstream)
    tt = torch.tensor(x, requires_grad=True)
    torch.relu(tt).backward(torch.tensor(upstream))
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())
    a = cr.tensor(np.float32(-1.0), requires_grad=True)
    with np.errstate(divide="ignore"):  # sqrt's derivative at 0 is inf, as in PyTorch
        a.relu().sqrt().backward()
    assert a.grad == 0


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturating_functions_at_extremes(name):
    x = np.array([-300.0, -100.0, -20.0, 0.0, 20.0, 100.0, 300.0], np.float32)
    # atol=1e-30: at -100 a float32 subnormal (e^-100) may come out where torch flushes to 0.
    out, (cx,) = helper_test_op(None, lambda t: getattr(t, name)(), vals=[x], gradcheck=False, atol=1e-30, rtol=1e-6)
    assert np.isfinite(out.numpy()).all() and np.isfinite(cx.grad).all()
    assert cx.grad[0] == 0 and cx.grad[-1] == 0  # exactly what torch gives


# ----------------------------------------------------------------- reductions
def torch_reduce(name):
    def fn(x, axis, keepdims):
        if axis is None:
            return getattr(x, name)() if not keepdims else getattr(x, name)(dim=tuple(range(x.ndim)), keepdim=True)
        return getattr(x, name)(dim=axis, keepdim=keepdims)
    return fn


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, 0)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, axis, keepdims):
    tfn = torch_reduce(name)
    helper_test_op([(2, 3, 4)], lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
                   lambda x: tfn(x, axis, keepdims))


def test_reductions_take_dim_alias():
    helper_test_op([(2, 3)], lambda x: x.sum(dim=1) + x.mean(dim=-1) + x.max(dim=1) + x.min(dim=1),
                   lambda x: x.sum(dim=1) + x.mean(dim=-1) + x.max(dim=1).values + x.min(dim=1).values)


def torch_max(name):
    def fn(x, axis, keepdims):
        if axis is None:
            # torch.max() with no dim spreads the gradient evenly over ties, as amax does.
            return getattr(x, name)() if not keepdims else getattr(torch, "a" + name)(x, dim=tuple(range(x.ndim)),
                                                                                       keepdim=True)
        if isinstance(axis, tuple):
            return getattr(torch, "a" + name)(x, dim=axis, keepdim=keepdims)
        return getattr(x, name)(dim=axis, keepdim=keepdims).values
    return fn


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min(name, axis, keepdims):
    tfn = torch_max(name)
    helper_test_op([(2, 3, 4)], lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
                   lambda x: tfn(x, axis, keepdims))


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [3.0, -5.0, 3.0, 3.0]], np.float32)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_ties(name, axis):
    # Finite differences cannot judge a tie, so only torch is the reference here.
    vals = TIES if name == "max" else -TIES
    tfn = torch_max(name)
    helper_test_op(None, lambda x: getattr(x, name)(axis=axis), lambda x: tfn(x, axis, False), vals=[vals],
                   gradcheck=False)


def test_max_over_axis_gives_all_to_first_maximum():
    x = cr.tensor(TIES, requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])


def test_full_max_splits_evenly_between_ties():
    x = cr.tensor(TIES, requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, (TIES == 3) / 5)


# --------------------------------------------------------------------- shapes
@pytest.mark.parametrize("shape", [(6, 4), (-1,), (4, 3, 2), (2, -1, 2)], ids=str)
def test_reshape(shape):
    helper_test_op([(2, 3, 4)], lambda x: x.reshape(shape))


def test_reshape_variants():
    helper_test_op([(2, 3, 4)], lambda x: x.reshape(4, 6) * 1.0 + x.view(4, 6) + x.flatten(1).reshape(4, 6),
                   lambda x: x.reshape(4, 6) * 1.0 + x.view(4, 6) + x.flatten(1).reshape(4, 6))


@pytest.mark.parametrize("case", ["T", "reverse", "swap", "swap_negative", "permute_negative", "swap_2d",
                                  "full_perm"])
def test_transpose(case):
    cr_fn, t_fn, shape = {
        "T": (lambda x: x.T, lambda x: x.T, (3, 4)),
        "reverse": (lambda x: x.transpose(), lambda x: x.permute(2, 1, 0), (2, 3, 4)),
        "swap": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), (2, 3, 4)),
        "swap_negative": (lambda x: x.transpose(-1, -2), lambda x: x.transpose(-1, -2), (2, 3, 4)),
        "permute_negative": (lambda x: x.permute(-1, 0, 1), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
        "swap_2d": (lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1), (3, 4)),
        "full_perm": (lambda x: x.transpose((1, 2, 0)), lambda x: x.permute(1, 2, 0), (2, 3, 4)),
    }[case]
    helper_test_op([shape], cr_fn, t_fn)


@pytest.mark.parametrize("src,dst", [((3, 1), (3, 4)), ((1, 3, 1), (2, 3, 4)), ((3,), (2, 3)), ((3, 1), (2, 3, 5))],
                         ids=str)
def test_expand(src, dst):
    helper_test_op([src], lambda x: x.expand(*dst))
    helper_test_op([src], lambda x: x.broadcast_to(dst), lambda x: x.broadcast_to(dst))


def test_expand_keeps_minus_one():
    helper_test_op([(3, 1)], lambda x: x.expand(-1, 4))


def test_squeeze_unsqueeze():
    helper_test_op([(3, 1, 4)], lambda x: x.squeeze(1).unsqueeze(0).unsqueeze(-1) * 2.0,
                   lambda x: x.squeeze(1).unsqueeze(0).unsqueeze(-1) * 2.0)


# ------------------------------------------------------------------- indexing
def to_torch_index(index):
    convert = lambda i: torch.tensor(i) if isinstance(i, np.ndarray) else i
    return tuple(convert(i) for i in index) if isinstance(index, tuple) else convert(index)


MASK = make((4, 5), 3) > 0
INDEXES = {
    "slice": np.s_[1:3],
    "step_slice": np.s_[:, ::2],
    "negative_int": np.s_[-1],
    "ellipsis": np.s_[..., 1],
    "none": np.s_[None, 1:],
    "int_and_slice": np.s_[2, 1:-1],
    "int_array_repeats": np.array([0, 2, 0, -1, 0]),
    "int_array_2d": np.array([[0, 1], [1, 1]]),
    "two_int_arrays": (np.array([0, 1, 1, -1]), np.array([2, 0, 2, 2])),
    "int_and_array": (np.array([3, 3, 0]), 1),
    "slice_and_array": np.s_[:, np.array([0, 0, 4])],
    "bool_mask": MASK,
    "bool_rows": np.array([True, False, True, True]),
}


@pytest.mark.parametrize("name", list(INDEXES))
def test_getitem(name):
    index = INDEXES[name]
    helper_test_op([(4, 5)], lambda x: x[index], lambda x: x[to_torch_index(index)])


def test_getitem_list_and_tensor_index():
    helper_test_op([(4, 5)], lambda x: x[[0, 0, 3]] + x[cr.tensor(np.array([1, 1, 2]))],
                   lambda x: x[[0, 0, 3]] + x[torch.tensor([1, 1, 2])])


def test_getitem_repeated_rows_accumulate_3d():
    ids = np.array([[1, 1], [0, 1]])
    _, (x,) = helper_test_op([(3, 2, 2)], lambda x: x[ids], lambda x: x[torch.tensor(ids)])
    assert x.grad.shape == (3, 2, 2)


# ------------------------------------------------------------ cat, stack, where
@pytest.mark.parametrize("axis,shapes", [(0, [(2, 3), (1, 3), (3, 3)]), (1, [(2, 1), (2, 4)]),
                                         (-1, [(2, 2, 1), (2, 2, 3)])], ids=str)
def test_cat(axis, shapes):
    helper_test_op(shapes, lambda *xs: cr.cat(xs, axis=axis), lambda *xs: torch.cat(xs, dim=axis))
    helper_test_op(shapes, lambda *xs: cr.cat(xs, dim=axis), lambda *xs: torch.cat(xs, dim=axis))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis):
    helper_test_op([(2, 3), (2, 3), (2, 3)], lambda *xs: cr.stack(xs, axis=axis), lambda *xs: torch.stack(xs, dim=axis))


def test_where_with_broadcasting():
    cond = make((3, 1), 7) > 0
    helper_test_op([(3, 4), (4,)], lambda a, b: cr.where(cond, a, b),
                   lambda a, b: torch.where(torch.tensor(cond), a, b))


def test_where_with_a_scalar_keeps_dtype():
    cond = make((3, 4), 7) > 0
    out, _ = helper_test_op([(3, 4)], lambda a: cr.where(cr.tensor(cond), a, 0.0),
                            lambda a: torch.where(torch.tensor(cond), a, 0.0))
    assert out.dtype == np.float32
    assert cr.where(cond, 1.0, 0.0).dtype == np.float32


def test_cast_passes_gradient_back_in_the_input_dtype():
    out, (x,) = helper_test_op([(3,)], lambda x: x.double() * 2, lambda x: x.double() * 2)
    assert out.dtype == np.float64 and x.grad.dtype == np.float32


def test_composite_expression():
    # Reuse of a node (x appears three times) and a diamond through two branches.
    def fn(x, w):
        h = (x @ w).tanh()
        return (h * h.sigmoid() + (x.sum(axis=1, keepdims=True) * h).exp() / 10).mean(axis=0)
    helper_test_op([(3, 4), (4, 5)], fn)


# ---------------------------------------------------------------- dtypes and comparisons, as in PyTorch

def test_equality_is_elementwise_and_hashing_by_identity():
    x = cr.tensor([0.0, 1.0, 0.0])
    t = torch.tensor([0.0, 1.0, 0.0])
    assert (x == 0).data.tolist() == (t == 0).tolist() and (x != 0).data.tolist() == (t != 0).tolist()
    assert x[x == 0].shape == (2,)
    assert cr.where(x != 0, x, cr.tensor(5.0)).data.tolist() == [5.0, 1.0, 5.0]
    assert x.ne(1).data.tolist() == [True, False, True]
    assert len({x, cr.tensor([0.0, 1.0, 0.0])}) == 2  # a set still holds tensors by identity


@pytest.mark.parametrize("make", [
    lambda m: (m.ones(3, dtype=m.float32), m.arange(3)),                     # float32 with int64
    lambda m: (m.ones(3, dtype=m.float32), m.tensor([True, True, True], dtype=m.bool)),
    lambda m: (m.ones(3, dtype=m.float32), m.tensor(2.0, dtype=m.float64)),  # a 0-d float64 does not widen
    lambda m: (m.arange(3), m.tensor(2.0, dtype=m.float64)),                 # ... but does turn ints float
])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_mixed_dtypes_give_pytorchs_result_dtype(make, op):
    import operator
    f = getattr(operator, op)
    try:
        theirs = f(*make(_Lib(torch)))
    except RuntimeError:  # torch refuses some (a float minus a bool)
        pytest.skip(f"torch has no {op} for these dtypes")
    ours = f(*make(_Lib(cr)))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)


class _Lib:
    """The few constructors the dtype test needs, spelled the same for both libraries."""
    def __init__(self, lib):
        self.lib = lib
        self.float32, self.float64, self.bool = (
            (torch.float32, torch.float64, torch.bool) if lib is torch else (np.float32, np.float64, np.bool_))

    def ones(self, n, dtype):
        return self.lib.ones(n, dtype=dtype)

    def arange(self, n):
        return self.lib.tensor(np.arange(1, n + 1))

    def tensor(self, value, dtype):
        return self.lib.tensor(value, dtype=dtype) if self.lib is torch else cr.tensor(np.asarray(value, dtype))


def test_integer_tensors_in_float_ops_become_float32():
    ints = cr.tensor(np.array([0, 1, -1]))
    for name in ("sigmoid", "exp", "tanh"):
        ours, theirs = getattr(ints, name)(), getattr(torch.tensor([0, 1, -1]), name)()
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    assert F.sigmoid(ints).dtype == F.tanh(ints).dtype == np.float32
    assert (cr.tensor(np.array([1, 2])) / cr.tensor(np.array([2, 2]))).dtype == np.float32
    assert (cr.tensor(np.array([1, 2])) * 2.5).dtype == np.float32
    assert (cr.tensor(np.array([1, 2])) * 2).dtype == np.int64
    assert (cr.tensor(np.array([1, 2])) + np.float64(1.5)).dtype == np.float32  # a NumPy scalar is a number
    assert cr.tensor(np.float64(1.5)).dtype == np.float64  # a NumPy float64 keeps its dtype, as torch.tensor
    # A float32 model times an integer mask stays float32, and so does its gradient.
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w * cr.tensor(np.array([1, 0, 1]))).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [1.0, 0.0, 1.0]


def test_power_with_an_array_of_exponents_has_a_gradient():
    x = cr.tensor([2.0, 3.0], requires_grad=True)
    y = x ** np.array([2.0, 3.0], dtype=np.float32)
    y.sum().backward()
    t = torch.tensor([2.0, 3.0], requires_grad=True)
    (t ** torch.tensor([2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(y.data, [4.0, 27.0])
    np.testing.assert_allclose(x.grad, t.grad.numpy())


def test_linear_with_a_row_bias_and_a_bad_weight():
    x = cr.randn(4, 3)
    w = cr.randn(5, 3, requires_grad=True)
    b = cr.randn(1, 5, requires_grad=True)
    F.linear(x, w, b).sum().backward()
    tb = torch.tensor(b.data, requires_grad=True)
    torch.nn.functional.linear(torch.tensor(x.data), torch.tensor(w.data), tb).sum().backward()
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-6)
    assert F.linear(cr.randn(3), w, b).shape == (1, 5)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.linear(x, cr.randn(3), None)
    with pytest.raises(ValueError, match=r"bias of shape \(2, 1, 5\) does not match"):  # it would repeat rows
        F.linear(x, w, cr.ones(2, 1, 5))


def test_max_pool_gradient_goes_to_a_real_minus_infinity_not_the_padding():
    x = cr.tensor([[[-np.inf, -np.inf, 1.0, 2.0]]], requires_grad=True)
    F.max_pool1d(x, 2, stride=2, padding=1).sum().backward()
    t = torch.tensor([[[-np.inf, -np.inf, 1.0, 2.0]]], requires_grad=True)
    torch.nn.functional.max_pool1d(t, 2, stride=2, padding=1).sum().backward()
    assert x.grad.tolist() == t.grad.tolist() == [[[1.0, 0.0, 1.0, 1.0]]]


def test_axis_edge_cases_as_in_pytorch():
    s = cr.tensor(3.0)
    for dim in (0, -1):
        assert s.sum(dim=dim).item() == 3.0 and s.max(dim=dim).item() == 3.0
    x = cr.ones(2, 3, 4)
    assert x.sum(dim=np.int64(1)).shape == (2, 4)
    with pytest.raises(IndexError, match="dimension 5 is out of range"):
        x.transpose(0, 5)
    with pytest.raises(ValueError, match="-1 is not allowed for the new leading"):
        cr.ones(3, 1).expand(-1, 3, 4)
    h = cr.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf tensors"):
        h.requires_grad_(False)
