"""chainrule.functional against torch.nn.functional (forward and gradients) and finite differences."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import helper_test_op

import chainrule as cr
import chainrule.functional as F


def targets(n, c, seed=0, shape=None):
    return np.random.default_rng(seed).integers(0, c, size=n if shape is None else shape)


# --------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(3, 4), (2, 3, 4), (4,)], ids=str)
def test_linear_with_bias(x_shape):
    helper_test_op([x_shape, (5, 4), (5,)], F.linear, TF.linear)


def test_linear_without_bias():
    helper_test_op([(3, 4), (5, 4)], F.linear, TF.linear)


# -------------------------------------------------------------------- softmax
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, axis):
    helper_test_op([(2, 3, 4)], lambda x: getattr(F, name)(x, axis=axis), lambda x: getattr(TF, name)(x, dim=axis))
    helper_test_op([(2, 3, 4)], lambda x: getattr(F, name)(x, dim=axis), lambda x: getattr(TF, name)(x, dim=axis))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [1, -1, (0, 2)], ids=str)
def test_logsumexp(axis, keepdims):
    helper_test_op([(2, 3, 4)], lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims),
                   lambda x: torch.logsumexp(x, dim=axis, keepdim=keepdims))


def test_logsumexp_all_axes():
    helper_test_op([(2, 3)], F.logsumexp, lambda x: torch.logsumexp(x, dim=(0, 1)))


BIG = np.array([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4 + 1, -9999.5], [1e4, 1e4, 1e4, -1e4]], np.float32)


@pytest.mark.parametrize("case", ["log_softmax", "softmax", "logsumexp", "cross_entropy"])
def test_huge_logits_stay_finite_and_equal_torch(case):
    cr_fn, t_fn = {
        "log_softmax": (lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1)),
        "softmax": (lambda x: F.softmax(x, dim=1), lambda x: TF.softmax(x, dim=1)),
        "logsumexp": (lambda x: F.logsumexp(x, dim=1), lambda x: torch.logsumexp(x, dim=1)),
        "cross_entropy": (lambda x: F.cross_entropy(x, np.array([1, 2, 0])),
                          lambda x: TF.cross_entropy(x, torch.tensor([1, 2, 0]))),
    }[case]
    # Values near 1e4 carry float32 rounding of ~1e-3, hence the relative tolerance alone.
    out, (x,) = helper_test_op(None, cr_fn, t_fn, vals=[BIG], gradcheck=False, atol=1e-6, rtol=1e-5)
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad).all()


# --------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    t = targets(5, 4)
    helper_test_op([(5, 4)], lambda x: F.cross_entropy(x, t, reduction=reduction),
                   lambda x: TF.cross_entropy(x, torch.tensor(t), reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index(reduction):
    t = np.array([1, -100, 3, 0, -100, 2])
    helper_test_op([(6, 4)], lambda x: F.cross_entropy(x, t, ignore_index=-100, reduction=reduction),
                   lambda x: TF.cross_entropy(x, torch.tensor(t), ignore_index=-100, reduction=reduction))


def test_cross_entropy_ignore_index_that_is_a_class():
    t = np.array([1, 0, 3, 0, 2])
    helper_test_op([(5, 4)], lambda x: F.cross_entropy(x, t, ignore_index=0),
                   lambda x: TF.cross_entropy(x, torch.tensor(t), ignore_index=0))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_sequence_layout(reduction):
    # (N, C, L) logits with (N, L) targets, as for a per-token loss.
    t = targets(None, 4, shape=(2, 5))
    t[0, 1] = -100
    helper_test_op([(2, 4, 5)], lambda x: F.cross_entropy(x, t, ignore_index=-100, reduction=reduction),
                   lambda x: TF.cross_entropy(x, torch.tensor(t), reduction=reduction))


def test_cross_entropy_unbatched():
    helper_test_op([(4,)], lambda x: F.cross_entropy(x, np.array(2)),
                   lambda x: TF.cross_entropy(x, torch.tensor(2)))


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    x = cr.randn(2, 3, requires_grad=True)
    loss = F.cross_entropy(x, np.array([-100, -100]), ignore_index=-100)
    assert np.isnan(loss.item())
    assert np.isnan(TF.cross_entropy(torch.tensor(x.data), torch.tensor([-100, -100])).item())


def test_cross_entropy_keeps_its_buffer_with_retain_graph():
    t = targets(4, 3)
    x = cr.randn(4, 3, requires_grad=True)
    loss = F.cross_entropy(x, t)
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-6)


def test_cross_entropy_bad_targets_are_named():
    x = cr.randn(3, 4)
    with pytest.raises(IndexError, match="target 7 is out of range for 4 classes"):
        F.cross_entropy(x, np.array([0, 7, 1]))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    # (N, C, L) logits: a transposed (L, N) or flattened target has the right size but the wrong order.
    seq = cr.randn(2, 4, 3)
    for wrong in (np.zeros((3, 2), np.int64), np.zeros(6, np.int64), np.zeros((2, 2), np.int64)):
        with pytest.raises(ValueError, match=r"\(2, 4, 3\) need targets of shape \(2, 3\), got "
                           + re.escape(str(wrong.shape))):
            F.cross_entropy(seq, wrong)
        with pytest.raises((RuntimeError, ValueError)):  # PyTorch refuses them too
            TF.cross_entropy(torch.tensor(seq.numpy()), torch.tensor(wrong))
    with pytest.raises(ValueError, match=r"\(4,\) need targets of shape \(\)"):
        F.cross_entropy(cr.randn(4), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="class axis"):
        F.cross_entropy(cr.tensor(np.float32(1.0)), 0)


def test_nll_loss_refuses_targets_torch_refuses():
    log_probs = F.log_softmax(cr.randn(4, 3), axis=1)
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(2,\)"):  # fewer targets than rows
        F.nll_loss(log_probs, np.array([0, 1]))
    with pytest.raises(IndexError, match="target -1 is out of range for 3 classes"):  # not the last class
        F.nll_loss(log_probs, np.array([0, 1, 2, -1]))
    with pytest.raises(IndexError):
        TF.nll_loss(torch.tensor(log_probs.numpy()), torch.tensor([0, 1, 2, -1]))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(log_probs, np.array([0.0, 1.0, 2.0, 1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    y = np.random.default_rng(1).uniform(0, 1, size=(3, 4)).astype(np.float32)
    helper_test_op(None, lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
                   lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction),
                   vals=[np.random.default_rng(0).uniform(-3, 3, size=(3, 4)).astype(np.float32), y])


def test_bce_with_logits_extreme_logits():
    x = np.array([-300.0, -50.0, 0.0, 50.0, 300.0], np.float32)
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    out, _ = helper_test_op(None, lambda x: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
                            lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(y), reduction="none"),
                            vals=[x], gradcheck=False)
    assert np.isfinite(out.numpy()).all()


def test_mse_and_nll_loss():
    t = targets(4, 3)
    helper_test_op([(4, 3), (4, 3)], lambda a, b: F.mse_loss(a, b), TF.mse_loss)
    helper_test_op([(4, 3)], lambda x: F.nll_loss(F.log_softmax(x, dim=1), t),
                   lambda x: TF.nll_loss(TF.log_softmax(x, dim=1), torch.tensor(t)))


# ------------------------------------------------------------------ embedding
def test_embedding_with_repeated_ids():
    ids = np.array([[1, 3, 1], [0, 1, 4]])
    helper_test_op([(5, 3)], lambda w: F.embedding(ids, w), lambda w: TF.embedding(torch.tensor(ids), w))


def test_embedding_padding_idx_gets_no_gradient():
    # No gradcheck: by design (as in torch) the padding row's gradient is 0, not its true derivative.
    ids = np.array([2, 0, 2, 1, 0])
    _, (w,) = helper_test_op([(4, 3)], lambda w: F.embedding(ids, w, padding_idx=0),
                             lambda w: TF.embedding(torch.tensor(ids), w, padding_idx=0), gradcheck=False)
    assert (w.grad[0] == 0).all() and (w.grad[2] != 0).any()


def test_embedding_of_no_ids_has_a_zero_gradient():
    w = cr.randn(5, 3, requires_grad=True)
    y = F.embedding(np.zeros((2, 0), np.int64), w)
    assert y.shape == (2, 0, 3)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, np.zeros((5, 3), np.float32))


def test_embedding_out_of_range_is_named():
    with pytest.raises(IndexError, match="id 5 is out of range for a table of 4 rows"):
        F.embedding(np.array([0, 5]), cr.randn(4, 2))


# --------------------------------------------------------------------- conv1d
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (1, 1), (2, 2), (3, 1)], ids=str)
def test_conv1d(stride, padding):
    helper_test_op([(2, 3, 7), (4, 3, 3), (4,)], lambda x, w, b: F.conv1d(x, w, b, stride=stride, padding=padding),
                   lambda x, w, b: TF.conv1d(x, w, b, stride=stride, padding=padding))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note on its own copy
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [1, 3, 4])
def test_conv1d_same_and_valid(k, padding):
    helper_test_op([(2, 2, 6), (3, 2, k)], lambda x, w: F.conv1d(x, w, padding=padding),
                   lambda x, w: TF.conv1d(x, w, padding=padding))


def test_conv1d_unbatched():
    helper_test_op([(3, 6), (2, 3, 3), (2,)], lambda x, w, b: F.conv1d(x, w, b, padding=1),
                   lambda x, w, b: TF.conv1d(x, w, b, padding=1))


def test_conv1d_bigger_against_torch():
    helper_test_op([(4, 16, 50), (32, 16, 5), (32,)], lambda x, w, b: F.conv1d(x, w, b, padding=2),
                   lambda x, w, b: TF.conv1d(x, w, b, padding=2), gradcheck=False, atol=1e-4)


def test_conv1d_shape_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 7\).*\(4, 2, 3\)"):
        F.conv1d(cr.randn(2, 3, 7), cr.randn(4, 2, 3))
    with pytest.raises(ValueError, match="shorter than the kernel size"):
        F.conv1d(cr.randn(1, 1, 2), cr.randn(1, 1, 5))


@pytest.mark.parametrize("call,message", [
    (lambda x: F.conv1d(x, cr.randn(2, 3, 2), padding="SAME"), "'same' or 'valid', got 'SAME'"),
    (lambda x: F.conv1d(x, cr.randn(2, 3, 2), stride=0), "stride must be an integer of at least 1, got 0"),
    (lambda x: F.conv1d(x, cr.randn(2, 3, 2), padding=-1), "padding must be an integer of at least 0"),
    (lambda x: F.max_pool1d(x, 2, stride=0), "max_pool1d: stride must be an integer of at least 1"),
    (lambda x: F.avg_pool1d(x, 2, stride=1.5), "avg_pool1d: stride must be an integer"),
], ids=["same-upper", "conv-stride0", "conv-pad-1", "max-stride0", "avg-stride-float"])
def test_conv_and_pool_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call(cr.randn(1, 3, 6))


# ---------------------------------------------------------------------- pools
POOL_CASES = [(2, None, 0), (3, 1, 0), (3, 2, 1), (2, 1, 1), (4, 3, 2), (7, None, 0)]


@pytest.mark.parametrize("kernel,stride,padding", POOL_CASES, ids=str)
@pytest.mark.parametrize("name", ["max_pool1d", "avg_pool1d"])
def test_pool1d(name, kernel, stride, padding):
    helper_test_op([(2, 3, 7)], lambda x: getattr(F, name)(x, kernel, stride, padding),
                   lambda x: getattr(TF, name)(x, kernel, stride, padding))


@pytest.mark.parametrize("name", ["max_pool1d", "avg_pool1d"])
def test_pool1d_unbatched(name):
    helper_test_op([(3, 8)], lambda x: getattr(F, name)(x, 3, stride=2, padding=1),
                   lambda x: getattr(TF, name)(x, 3, stride=2, padding=1))


def test_max_pool1d_ties_go_to_first_maximum():
    x = np.array([[[1.0, 1.0, 2.0, 2.0, 0.0, 0.0]]], np.float32)
    helper_test_op(None, lambda x: F.max_pool1d(x, 2, stride=1), lambda x: TF.max_pool1d(x, 2, stride=1),
                   vals=[x], gradcheck=False)


# -------------------------------------------------------------------- dropout
def test_dropout_mask_statistics_and_gradient_is_the_mask():
    p = 0.3
    x = cr.ones(200, 500, requires_grad=True)
    y = F.dropout(x, p=p, training=True)
    kept = y.numpy() != 0
    # 100,000 Bernoulli(0.7) draws: the kept fraction is within 5 standard deviations of 0.7.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / kept.size)
    np.testing.assert_allclose(y.numpy()[kept], 1 / (1 - p), rtol=1e-6)
    mask = y.numpy().copy()  # x is all ones, so the output is the scaled mask itself
    upstream = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    y.backward(upstream)
    np.testing.assert_allclose(x.grad, upstream * mask, rtol=1e-6)
    # Rows and columns are not correlated: each row keeps about the same share.
    assert np.abs(kept.mean(axis=1) - (1 - p)).max() < 0.15


def test_dropout_identity_when_not_training_or_p_zero():
    x = cr.randn(3, 4, requires_grad=True)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())


def test_dropout_p_one_zeros_everything_and_seed_reproduces():
    x = cr.randn(3, 4, requires_grad=True)
    y = F.dropout(x, 1.0)
    y.sum().backward()
    assert (y.numpy() == 0).all() and (x.grad == 0).all()
    cr.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)


def test_pad1d_matches_torch():
    helper_test_op([(2, 3)], lambda x: F.pad1d(x, 1, 2, value=0.5), lambda x: TF.pad(x, (1, 2), value=0.5))


def test_cross_entropy_ignored_rows_get_a_zero_gradient_even_with_a_nan_logit():
    logits = np.array([[1.0, 2.0, 0.5], [np.nan, 0.0, 1.0], [0.3, 0.2, 0.1]], np.float32)
    x = cr.tensor(logits, requires_grad=True)
    with np.errstate(invalid="ignore"):
        F.cross_entropy(x, np.array([1, -100, 2]), ignore_index=-100).backward()
    assert np.isfinite(x.grad).all() and (x.grad[1] == 0).all() and (x.grad[0] != 0).any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_ignore_index_matches_torch(reduction):
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    t = np.array([0, -100, 3, 2, -100])
    ours = cr.tensor(x, requires_grad=True)
    loss = F.nll_loss(F.log_softmax(ours, axis=1), t, ignore_index=-100, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.nll_loss(torch.log_softmax(theirs, 1), torch.tensor(t), reduction=reduction)
    (expected.sum() if reduction == "none" else expected).backward()
    np.testing.assert_allclose(loss.data, expected.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-6, atol=1e-7)
    if reduction == "mean":  # every row ignored: NaN, as in torch
        assert np.isnan(F.nll_loss(cr.zeros(2, 3), np.array([-100, -100]), ignore_index=-100).item())
