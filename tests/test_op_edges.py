"""Edge cases of the ops, against PyTorch: infinities and NaN, zero bases, None and empty gradients, float64.

``test_ops.py`` checks every op on ordinary float32 values. These tests look
at the places where an implementation that is right on ordinary values can
still be wrong: the guards for -inf rows and zero bases, the engine's path for
a node that gets no gradient, NaN in an upstream gradient, dropout's mask,
k-max pooling's ties, float64 precision, casts and empty tensors.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import chainrule as cr
import chainrule.functional as F
from chainrule.models.textcnn import k_max_pool1d

INF, NAN = np.inf, np.nan


def uniform(shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)  # float64


def both(array, requires_grad=True):
    """The same values as a chainrule and a torch tensor, both wanting a gradient."""
    return cr.tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


# ------------------------------------------------------------ logsumexp of -inf
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log(0) and -inf - -inf, on purpose
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_of_infinite_rows_matches_torch(keepdims):
    # The max is shifted to 0 when it is not finite: without that, an all -inf row gives
    # -inf - -inf = NaN instead of -inf, and a row holding +inf gives NaN instead of inf.
    x = np.array([[-INF, -INF, -INF], [0.0, -INF, 1.0], [INF, 0.0, 1.0], [1.0, 2.0, 3.0]])
    c, t = both(x)
    out, t_out = F.logsumexp(c, axis=1, keepdims=keepdims), torch.logsumexp(t, dim=1, keepdim=keepdims)
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    assert out.numpy().ravel()[0] == -INF
    out.backward(np.ones(out.shape))
    t_out.backward(torch.ones(t_out.shape, dtype=torch.float64))
    # torch's gradient of an all -inf row is NaN (exp(-inf - -inf)), and so is ours; the -inf
    # entries of a row with a finite value get exactly 0.
    np.testing.assert_array_equal(c.grad, t.grad.numpy())
    assert np.isnan(c.grad[0]).all() and c.grad[1, 1] == 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_logsumexp_of_nothing_but_minus_infinity():
    c, t = both(np.full((2, 3), -INF))
    assert F.logsumexp(c).item() == torch.logsumexp(t, dim=(0, 1)).item() == -INF


# ------------------------------------------------------------ pow at zero
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 ** negative, sqrt of a negative base
@pytest.mark.parametrize("p", [0, 0.0, 1, 2, 3, 1.5, 0.5, -0.5, -1, -2], ids=repr)
def test_pow_scalar_at_zero_matches_torch(p):
    # p == 0: the gradient is 0 everywhere, even at 0 where p * 0 ** (p - 1) is 0 * inf = NaN.
    # Negative and fractional p: +-inf (or NaN for a negative base), exactly as torch.
    x = np.array([0.0, 1.0, -2.0, 4.0, 0.0])
    c, t = both(x)
    out, t_out = c ** p, t ** p
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-15, equal_nan=True)
    upstream = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=1e-15, equal_nan=True)
    assert c.grad.dtype == np.float64


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_scalar_at_negative_zero_matches_torch():
    # torch computes x ** 0.5 and x ** -0.5 as sqrt and rsqrt: at -0.0 that gives -inf where IEEE pow gives +inf.
    for p in (0.5, -0.5):
        c, t = both(np.array([-0.0]))
        out, t_out = c ** p, t ** p
        out.backward(np.ones(1))
        t_out.backward(torch.ones(1, dtype=torch.float64))
        np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
        np.testing.assert_array_equal(c.grad, t.grad.numpy())


def test_abs_gradient_at_zero_infinity_and_nan_matches_torch():
    values = np.array([NAN, -0.0, 0.0, INF, -INF, -2.0, 3.0], dtype=np.float32)
    c, t = both(values)
    abs(c).backward(np.ones(len(values), np.float32))
    t.abs().backward(torch.ones(len(values)))
    np.testing.assert_array_equal(c.grad, t.grad.numpy())  # 0 at NaN, not NaN


# ------------------------------------------------------------ the engine: a node with only None gradients
def test_node_that_only_receives_none_gradients():
    # `cond` requires grad but only feeds where's condition, which has no gradient: the engine must
    # still walk through it (so h, which it shares with where's value, is not left waiting for it)
    # and must not invent a gradient for z, which is reached only through it.
    x, y = uniform((3, 4)), uniform((3, 4), 1)
    z = np.where(uniform((3, 4), 2) > 0, 1.5, 0.0)  # some zeros, so where takes both sides
    cx, tx = both(x)
    cy, ty = both(y)
    cz, tz = both(z)
    h = cx * 3
    cond = (h * cz).retain_grad()
    out = cr.where(cond, h, cy)
    th = tx * 3
    t_out = torch.where((th * tz) != 0, th, ty)  # torch.where wants a bool condition: no gradient either
    upstream = uniform((3, 4), 3)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(cy.grad, ty.grad.numpy(), rtol=1e-15)
    assert cz.grad is None and tz.grad is None
    assert cond.grad is None


# ------------------------------------------------------------ where with NaN upstream
def test_where_gives_exact_zeros_where_the_upstream_gradient_is_nan():
    # The unselected side gets exactly 0 even where the upstream gradient is NaN or inf, as in
    # torch; a g * cond implementation would give 0 * NaN = NaN there.
    cond = np.array([True, False, True, False, True, False])
    ca, ta = both(uniform(6))
    cb, tb = both(uniform(6, 1))
    upstream = np.array([NAN, NAN, INF, -INF, 1.0, 2.0])
    cr.where(cond, ca, cb).backward(upstream)
    torch.where(torch.tensor(cond), ta, tb).backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ca.grad, ta.grad.numpy())
    np.testing.assert_array_equal(cb.grad, tb.grad.numpy())
    assert (ca.grad[~cond] == 0).all() and (cb.grad[cond] == 0).all()


# ------------------------------------------------------------ dropout
@pytest.mark.parametrize("how", ["functional", "module"])
def test_dropout_gradient_with_a_fixed_mask(how):
    p = 0.25
    layer = cr.nn.Dropout(p)  # a new module is in training mode

    def fn(x):
        cr.manual_seed(7)  # the same mask on every call, so finite differences see one linear map
        return F.dropout(x, p) if how == "functional" else layer(x)

    x = cr.tensor(uniform((4, 6), low=0.5, high=2.0), requires_grad=True)  # no zeros: y == 0 means dropped
    assert cr.gradcheck(fn, [x])
    y = fn(x)
    keep = y.numpy() != 0
    assert 0 < keep.sum() < keep.size
    np.testing.assert_allclose(y.numpy(), x.numpy() * keep / (1 - p), rtol=1e-15)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad, keep / (1 - p), rtol=1e-15)
    assert x.grad.dtype == np.float64


# ------------------------------------------------------------ k-max pooling
def torch_k_max(t, k, ties=False):
    """torch's k-max pooling: the k largest of each row, gathered back in their original order.

    With ties, a stable descending sort picks the earliest of the tied values: topk's choice
    among ties is unspecified (on CPU it does not take the earliest). Both put NaN above all.
    """
    if ties:
        idx = torch.sort(t, dim=-1, descending=True, stable=True).indices[..., :k]
    else:
        idx = torch.topk(t, k, dim=-1).indices
    return t.gather(-1, idx.sort(dim=-1).values)


def test_k_max_pool_gradcheck():
    # Distinct values at least 0.01 apart: finite differences never reorder them.
    x = np.random.default_rng(0).permutation(36).reshape(2, 3, 6) / 100
    assert cr.gradcheck(lambda t: k_max_pool1d(t, 3), [cr.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("case", ["distinct", "ties", "nan"])
def test_k_max_pool_matches_torch(case):
    rng = np.random.default_rng(1)
    if case == "distinct":
        x = rng.standard_normal((2, 3, 20))
    else:  # few distinct values in rows longer than 16, where NumPy's default argsort stops being stable
        x = rng.integers(0, 3, size=(2, 3, 20)).astype(np.float64)
        if case == "nan":
            x[0, 0, [3, 11]] = NAN
            x[1, 2, 19] = NAN
    c, t = both(x)
    out, t_out = k_max_pool1d(c, 5), torch_k_max(t, 5, ties=case != "distinct")
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())  # NaNs compare equal here
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(c.grad, t.grad.numpy())


# ------------------------------------------------------------ float64 against torch
def compare_float64(cr_fn, torch_fn, arrays, tol=1e-10):
    """``helpers.helper_test_op`` in float64: forward, dtype, and every float input's gradient.

    Integer arrays (targets, ids) are passed without a gradient.
    """
    c_in = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out, t_out = cr_fn(*c_in), torch_fn(*t_in)
    assert out.dtype == np.float64 and t_out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=tol, atol=tol)
    upstream = np.random.default_rng(9).standard_normal(out.shape)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    for i, (c, t) in enumerate(zip(c_in, t_in)):
        if c.requires_grad:
            assert c.grad.dtype == np.float64, f"gradient of input {i} is {c.grad.dtype}"
            np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=tol, atol=tol,
                                       err_msg=f"gradient of input {i} differs from torch")


TARGETS = np.array([0, 4, 2, 2])
IDS = np.array([[1, 5, 1], [0, 0, 3]])  # repeated ids: their gradients add up
FLOAT64_CASES = {
    "add": (lambda a, b: a + b, None, [uniform((3, 4)), uniform(4, 1)]),
    "mul": (lambda a, b: a * b, None, [uniform((3, 4)), uniform((3, 1), 1)]),
    "div": (lambda a, b: a / b, None, [uniform((3, 4)), uniform((3, 4), 1, 0.5, 2.0)]),
    "exp": (lambda a: a.exp(), None, [uniform((3, 4))]),
    "log": (lambda a: a.log(), None, [uniform((3, 4), 0, 0.1, 3.0)]),
    "tanh": (lambda a: a.tanh(), None, [uniform((3, 4))]),
    "sigmoid": (lambda a: a.sigmoid(), None, [uniform((3, 4), 0, -30, 30)]),
    "relu": (lambda a: a.relu(), None, [uniform((3, 4))]),
    "sum": (lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [uniform((3, 4))]),
    "mean": (lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), [uniform((3, 4))]),
    "max_axis": (lambda a: a.max(axis=1), lambda a: a.max(dim=1).values, [uniform((3, 4))]),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [uniform((3, 4))]),
    "matmul": (lambda a, b: a @ b, None, [uniform((3, 4)), uniform((4, 5), 1)]),
    "softmax": (lambda a: F.softmax(a, dim=1), lambda a: TF.softmax(a, dim=1), [uniform((3, 5), 0, -20, 20)]),
    "log_softmax": (lambda a: F.log_softmax(a, dim=1), lambda a: TF.log_softmax(a, dim=1),
                    [uniform((3, 5), 0, -20, 20)]),
    "cross_entropy": (F.cross_entropy, TF.cross_entropy, [uniform((4, 5), 0, -5, 5), TARGETS]),
    "linear": (F.linear, TF.linear, [uniform((4, 3)), uniform((5, 3), 1), uniform(5, 2)]),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, padding=1), lambda x, w, b: TF.conv1d(x, w, b, padding=1),
               [uniform((2, 3, 7)), uniform((4, 3, 3), 1), uniform(4, 2)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 2), lambda x: TF.max_pool1d(x, 2), [uniform((2, 3, 8))]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, stride=2, padding=1),
                   lambda x: TF.avg_pool1d(x, 3, stride=2, padding=1), [uniform((2, 3, 8))]),
    "embedding": (lambda w, ids: F.embedding(ids, w), lambda w, ids: TF.embedding(ids, w), [uniform((6, 3)), IDS]),
}


@pytest.mark.parametrize("name", list(FLOAT64_CASES))
def test_float64_matches_torch(name):
    cr_fn, torch_fn, arrays = FLOAT64_CASES[name]
    compare_float64(cr_fn, cr_fn if torch_fn is None else torch_fn, arrays)


# ------------------------------------------------------------ casts
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 1e39 overflows float32, on purpose
@pytest.mark.parametrize("src,dst,cast", [
    (np.float64, np.float32, lambda x: x.float()),
    (np.float64, np.float32, lambda x: x.astype(np.float32)),
    (np.float32, np.float64, lambda x: x.double()),
    (np.float32, np.float64, lambda x: x.astype("float64")),
], ids=["float", "astype32", "double", "astype64"])
def test_cast_values_dtype_and_gradient_dtype(src, dst, cast):
    # Rounding (1/3), a float32 subnormal (1e-40) and an overflow to inf (1e39) where float64 narrows.
    x = np.array([1 / 3, 1e-40, 1e39, -2.5, 0.0]).astype(src)
    c, t = both(x)
    w = uniform(5).astype(dst)
    out, t_out = cast(c), t.to(getattr(torch, np.dtype(dst).name))
    assert out.dtype == dst
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    # The op's own vector-Jacobian product is in the input's dtype: the engine's cast is only a safety net.
    assert out.grad_fn.backward(np.ones(5, dst))[0].dtype == src
    (out * cr.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    assert c.grad.dtype == src
    np.testing.assert_array_equal(c.grad, t.grad.numpy())


# ------------------------------------------------------------ empty tensors
def check_against_torch(cr_fn, torch_fn, arrays):
    """Forward values and every gradient (shape included: an empty input still gets an empty gradient)."""
    pairs = [both(a) for a in arrays]
    out, t_out = cr_fn(*[c for c, _ in pairs]), torch_fn(*[t for _, t in pairs])
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_array_equal(out.numpy(), t_out.detach().numpy())
    upstream = uniform(out.shape, 5)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    for c, t in pairs:
        assert c.grad is not None and c.grad.shape == c.shape
        np.testing.assert_array_equal(c.grad, t.grad.numpy())


@pytest.mark.parametrize("axis,shapes", [(0, [(2, 3), (0, 3), (1, 3)]), (1, [(2, 0), (2, 3), (2, 0)])], ids=str)
def test_cat_with_an_empty_piece(axis, shapes):
    arrays = [uniform(s, i) for i, s in enumerate(shapes)]
    check_against_torch(lambda *xs: cr.cat(xs, axis=axis), lambda *xs: torch.cat(xs, dim=axis), arrays)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_stack_of_empty_tensors(axis):
    check_against_torch(lambda a, b: cr.stack([a, b], axis=axis), lambda a, b: torch.stack([a, b], dim=axis),
                        [np.zeros((0, 3)), np.zeros((0, 3))])


@pytest.mark.parametrize("shapes", [((3, 0), (0, 4)), ((2, 3, 0), (0, 4)), ((0,), (0,)), ((3, 0), (0,))], ids=str)
def test_matmul_with_an_empty_inner_dimension(shapes):
    # The product is all zeros; the gradients are empty arrays of the inputs' shapes.
    check_against_torch(lambda a, b: a @ b, lambda a, b: a @ b, [uniform(s) for s in shapes])


@pytest.mark.parametrize("shape,axis", [((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((0, 3), None)], ids=str)
def test_sum_of_empty(shape, axis):
    check_against_torch(lambda a: a.sum(axis=axis), lambda a: a.sum() if axis is None else a.sum(dim=axis),
                        [np.zeros(shape)])


@pytest.mark.parametrize("shape,axis", [((0, 3), 0), ((3, 0), 1), ((0, 3), None)], ids=str)
def test_max_over_an_empty_axis_raises_as_in_torch(shape, axis):
    c, t = both(np.zeros(shape))
    with pytest.raises((IndexError, RuntimeError)):
        t.max() if axis is None else t.max(dim=axis)
    with pytest.raises(ValueError, match="empty"):
        c.max(axis=axis)


@pytest.mark.parametrize("shape,axis", [((0, 3), 1), ((3, 0), 0)], ids=str)
def test_max_of_empty_along_a_non_empty_axis_as_in_torch(shape, axis):
    check_against_torch(lambda a: a.max(axis=axis), lambda a: a.max(dim=axis).values, [np.zeros(shape)])
