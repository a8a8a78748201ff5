"""Property tests: random broadcast-compatible shapes and random reductions, against PyTorch."""
import numpy as np
import torch
from helpers import BINARY, helper_test_op
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr
import chainrule.functional as F

# Each example runs in a few milliseconds; these counts keep the file to a few seconds.
EXAMPLES = 40



def values(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)


def away_from_zero(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.choice([-1, 1], size=shape) * rng.uniform(0.5, 2, size=shape)).astype(np.float32)


@settings(max_examples=EXAMPLES)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcast_binary_ops(shapes, op, seed):
    (sa, sb), _ = shapes
    a = values(sa, seed, 0.5, 2.0) if op == "pow" else values(sa, seed)
    b = away_from_zero(sb, seed + 1) if op == "div" else values(sb, seed + 1)
    # helper_test_op also asserts each gradient has its input's shape and dtype.
    helper_test_op(None, BINARY[op], vals=[a, b], seed=seed, gradcheck=False)


@settings(max_examples=EXAMPLES)
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_broadcast_where(shapes, seed):
    (sc, sa, sb), _ = shapes
    cond = values(sc, seed) > 0
    helper_test_op(None, lambda a, b: cr.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
                   vals=[values(sa, seed + 1), values(sb, seed + 2)], seed=seed, gradcheck=False)


@settings(max_examples=EXAMPLES)
@given(shapes=mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, max_side=4),
       seed=st.integers(0, 2**16))
def test_matmul_with_broadcast_batches(shapes, seed):
    (sa, sb), _ = shapes
    helper_test_op(None, lambda a, b: a @ b, vals=[values(sa, seed), values(sb, seed + 1)], seed=seed,
                   gradcheck=False)


@st.composite
def reduction_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
    ))
    return shape, axis, draw(st.booleans())


def torch_axis(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


@settings(max_examples=EXAMPLES)
@given(case=reduction_cases(), name=st.sampled_from(["sum", "mean", "logsumexp"]), seed=st.integers(0, 2**16))
def test_reductions(case, name, seed):
    shape, axis, keepdims = case
    if name == "logsumexp":
        cr_fn = lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims)
        t_fn = lambda x: torch.logsumexp(x, dim=torch_axis(axis, x.ndim), keepdim=keepdims)
    else:
        cr_fn = lambda x: getattr(x, name)(axis=axis, keepdims=keepdims)
        t_fn = lambda x: getattr(x, name)(dim=torch_axis(axis, x.ndim), keepdim=keepdims)
    helper_test_op(None, cr_fn, t_fn, vals=[values(shape, seed)], seed=seed, gradcheck=False)


@settings(max_examples=EXAMPLES)
@given(case=reduction_cases(), name=st.sampled_from(["max", "min"]), seed=st.integers(0, 2**16))
def test_max_min_reductions(case, name, seed):
    shape, axis, keepdims = case

    def t_fn(x):
        if isinstance(axis, int):  # one axis: torch.max(x, dim), all gradient to the first maximum
            return getattr(x, name)(dim=axis, keepdim=keepdims).values
        return getattr(torch, "a" + name)(x, dim=torch_axis(axis, x.ndim), keepdim=keepdims)

    # Continuous random values: no ties, so every convention gives the same gradient.
    helper_test_op(None, lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), t_fn,
                   vals=[values(shape, seed)], seed=seed, gradcheck=False)


@settings(max_examples=15)
@given(case=reduction_cases(), seed=st.integers(0, 2**16))
def test_reductions_pass_gradcheck(case, seed):
    shape, axis, keepdims = case
    x = cr.tensor(values(shape, seed).astype(np.float64), requires_grad=True)
    assert cr.gradcheck(lambda x: (x * x).sum(axis=axis, keepdims=keepdims) + x.mean(axis=axis, keepdims=keepdims)
                        + F.logsumexp(x, axis=axis, keepdims=keepdims), x)
