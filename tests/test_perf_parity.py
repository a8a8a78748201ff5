"""Every fast path added for speed gives what its simple reference version gives.

The optimisers' blocked, threaded updates must equal one whole-array call of
the same kernel bit for bit (the kernels are elementwise, so any difference
is a bug in the blocking); the fused engine kernels must equal their
reference formulas to float32 rounding.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim, threads
from chainrule.optim import optimizer as optimizer_module

CASES = [
    (optim.SGD, {"lr": 0.1}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.2}),
    (optim.Adagrad, {"lr": 0.1, "weight_decay": 0.1, "lr_decay": 0.01}),
    (optim.Adadelta, {"weight_decay": 0.05}),
    (optim.Adam, {"lr": 0.01}),
    (optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.fixture
def small_blocks(monkeypatch):
    # Small blocks and a low threshold so that a test-sized array is split into
    # many blocks, with a ragged last one, over two threads.
    monkeypatch.setattr(threads, "BLOCK", 1000)
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1000)
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(old)


def _run(cls, kwargs, blocked, monkeypatch, steps=4):
    monkeypatch.setattr(optimizer_module, "BLOCKED", blocked)
    rng = np.random.default_rng(0)
    shapes = [(123, 77), (10_001,), (50,)]  # sizes that are not a multiple of the block
    params = [nn.Parameter(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        for p in params:
            p.grad = rng.standard_normal(p.shape, dtype=np.float32)
        params[0].grad = np.asfortranarray(params[0].grad)  # a non-contiguous gradient, as conv1d gives
        opt.step()
    return [p.data.copy() for p in params], opt


@pytest.mark.parametrize("cls,kwargs", CASES, ids=[f"{c.__name__}-{'-'.join(k)}" for c, k in CASES])
def test_blocked_update_equals_whole_array_update(cls, kwargs, small_blocks, monkeypatch):
    fast, fast_opt = _run(cls, kwargs, True, monkeypatch)
    slow, slow_opt = _run(cls, kwargs, False, monkeypatch)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)
    for p_fast, p_slow in zip(fast_opt.state.values(), slow_opt.state.values()):
        for key, value in p_fast.items():
            np.testing.assert_array_equal(value, p_slow[key])


def test_parallel_blocks_covers_every_element_once(small_blocks):
    size = 12_345
    hits = np.zeros(size, np.int64)

    def kernel(start, stop):
        hits[start:stop] += 1
    threads.parallel_blocks(kernel, size)
    assert (hits == 1).all()


def test_parallel_blocks_waits_for_every_block_before_raising(small_blocks):
    import threading
    import time
    if threads.get_num_threads() < 2:
        pytest.skip("needs two threads")
    written = np.zeros(threads.BLOCK * 8, np.int64)
    started = threading.Event()

    def kernel(start, stop):
        if start == 0:  # the caller's own first block fails once a worker is busy
            started.wait(5)
            raise RuntimeError("boom")
        started.set()
        time.sleep(0.05)
        written[start:stop] = 1

    with pytest.raises(RuntimeError, match="boom"):
        threads.parallel_blocks(kernel, written.size)
    done = written.sum()
    time.sleep(0.2)
    assert written.sum() == done > 0  # nothing was still being written after the error reached us


def test_thread_counts_from_the_environment():
    import subprocess
    import sys
    code = "import chainrule.threads as t; print(t.get_num_threads())"
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    # OpenMP's list per nesting level: the outer one counts.
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_NUM_THREADS": "3,2"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3"]
    # Not a number: a warning and the next source, not an import that fails (and takes --help with it).
    out = subprocess.run([sys.executable, "-W", "always", "-c", code],
                         env={**env, "CHAINRULE_NUM_THREADS": "abc", "OPENBLAS_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2"] and "ignoring CHAINRULE_NUM_THREADS='abc'" in out.stderr


def test_thread_settings_are_reported():
    info = threads.info()
    assert info["num_threads"] == threads.get_num_threads() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        threads.set_num_threads(0)


def test_no_thread_setup_leaves_environment_alone(tmp_path):
    import subprocess
    import sys
    code = ("import os; import chainrule.threads as t; "
            "print(t.get_num_threads(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'), t.info()['setup_disabled'])")
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env["CHAINRULE_NO_THREAD_SETUP"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "None", "True"]
    env["CHAINRULE_NO_THREAD_SETUP"] = "0"
    env["CHAINRULE_NUM_THREADS"] = "3"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "1", "False"]


def test_float32_updates_stay_float32():
    p = nn.Parameter(np.ones(100_000, np.float32))
    p.grad = np.full(100_000, 0.5, np.float32)
    opt = optim.Adam([p], lr=0.1)
    opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))


# ------------------------------------------------------------ engine kernels
import chainrule.functional as F


def _ce_reference(logits, targets, ignore_index, reduction):
    """Cross-entropy from primitives: log-softmax, pick, mask, reduce (no fusion)."""
    logp = F.log_softmax(logits, axis=1)
    valid = np.ones(len(targets), bool) if ignore_index is None else targets != ignore_index
    picked = -logp[np.arange(len(targets)), np.where(valid, targets, 0)] * cr.tensor(valid.astype(np.float32))
    if reduction == "none":
        return picked
    return picked.sum() if reduction == "sum" else picked.sum() / float(valid.sum())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, 2])
def test_fused_cross_entropy_equals_composition(reduction, ignore_index):
    rng = np.random.default_rng(3)
    data = (3 * rng.standard_normal((16, 7))).astype(np.float32)
    targets = rng.integers(0, 7, 16)
    upstream = rng.standard_normal(16).astype(np.float32) if reduction == "none" else None
    grads = []
    for fn in (lambda x: F.cross_entropy(x, targets, ignore_index=ignore_index, reduction=reduction),
               lambda x: _ce_reference(x, targets, ignore_index, reduction)):
        x = cr.tensor(data, requires_grad=True)
        out = fn(x)
        out.backward(upstream, retain_graph=True)
        first = x.grad.copy()
        out.backward(upstream)  # the second walk must see the saved buffer unchanged
        np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-6, atol=1e-7)
        grads.append((out.data, first))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-6)


def _conv_reference(x, w, stride, padding):
    """Direct cross-correlation, one tap at a time, in float64."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding)))
    k = w.shape[2]
    l_out = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], l_out))
    for t in range(l_out):
        window = x[:, :, t * stride:t * stride + k]  # (N, C_in, k)
        out[:, :, t] = np.einsum("ncj,ocj->no", window, w.astype(np.float64))
    return out


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 2)])
def test_conv1d_gradients_equal_direct_reference(stride, padding):
    rng = np.random.default_rng(4)
    xd = rng.standard_normal((3, 5, 11)).astype(np.float32)
    wd = rng.standard_normal((4, 5, 3)).astype(np.float32)
    x, w = cr.tensor(xd, requires_grad=True), cr.tensor(wd, requires_grad=True)
    y = F.conv1d(x, w, stride=stride, padding=padding)
    up = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(up)
    np.testing.assert_allclose(y.data, _conv_reference(xd, wd, stride, padding), rtol=1e-4, atol=1e-4)
    # The reference's gradients, tap by tap in float64: each output position
    # t reads the window x[:, :, t*stride : t*stride + k].
    xp = np.pad(xd.astype(np.float64), ((0, 0), (0, 0), (padding, padding)))
    gw = np.zeros(wd.shape)
    gx = np.zeros(xp.shape)
    for t in range(up.shape[2]):
        lo = t * stride
        gw += np.einsum("no,ncj->ocj", up[:, :, t], xp[:, :, lo:lo + wd.shape[2]])
        gx[:, :, lo:lo + wd.shape[2]] += np.einsum("no,ocj->ncj", up[:, :, t], wd.astype(np.float64))
    np.testing.assert_allclose(w.grad, gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad, gx[:, :, padding:padding + xd.shape[2]], rtol=1e-4, atol=1e-4)


def test_linear_skips_input_gradient_it_does_not_need():
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.standard_normal((4, 3)).astype(np.float32))  # no gradient wanted
    layer = nn.Linear(3, 2)
    out = layer(x)
    assert out._ctx.backward(np.ones((4, 2), np.float32))[0] is None
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad, np.ones((2, 4), np.float32) @ x.data, rtol=1e-6)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_blocked_update_works_in_a_forked_child(small_blocks):
    import os
    threads.parallel_blocks(lambda a, b: None, 10_000)  # make sure the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: its inherited pool has no threads; this must not hang
        hits = np.zeros(10_000, np.int64)

        def kernel(start, stop):
            hits[start:stop] += 1
        threads.parallel_blocks(kernel, hits.size)
        os._exit(0 if (hits == 1).all() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("shape", [(37, 501), (1, 3), (5, 40_000)])
def test_blocked_softmax_parts_equal_whole_array(shape, small_blocks):
    from chainrule.ops_nn import softmax_parts
    rng = np.random.default_rng(6)
    logits = (4 * rng.standard_normal(shape)).astype(np.float32)
    targets = rng.integers(0, shape[1], shape[0])
    for fast, slow in zip(softmax_parts(logits, targets, blocked=True), softmax_parts(logits, targets, blocked=False)):
        np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("shape", [(37, 501), (1, 3), (3, 1), (5, 40_000), (0, 7), (2000, 129)])
def test_blocked_bias_passes_equal_whole_array(shape, small_blocks):
    from chainrule.ops_nn import add_to_rows, sum_rows
    rng = np.random.default_rng(7)
    g = rng.standard_normal(shape, dtype=np.float32)
    b = rng.standard_normal(shape[1], dtype=np.float32)
    np.testing.assert_array_equal(sum_rows(g), sum_rows(g, blocked=False))
    f = np.asfortranarray(g)  # a transposed gradient: axis 0 is then the contiguous one
    np.testing.assert_array_equal(sum_rows(f), f.sum(axis=0))
    fast, slow = g.copy(), g.copy()
    add_to_rows(fast, b)
    add_to_rows(slow, b, blocked=False)
    np.testing.assert_array_equal(fast, slow)


@pytest.mark.parametrize("retain", [False, True])
def test_blocked_cross_entropy_backward_equals_its_formula(retain, small_blocks):
    rng = np.random.default_rng(8)
    logits = cr.tensor((3 * rng.standard_normal((41, 300))).astype(np.float32), requires_grad=True)
    targets = rng.integers(0, 300, 41)
    loss = cr.functional.cross_entropy(logits, targets)
    loss.backward(retain_graph=retain)
    z = logits.data - logits.data.max(axis=1, keepdims=True)
    e = np.exp(z)
    expected = e * (np.float32(1 / 41) / e.sum(axis=1))[:, None]
    expected[np.arange(41), targets] -= np.float32(1 / 41)
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-5, atol=1e-8)
    if retain:  # the saved exponentials were not overwritten: a second backward gives the same
        first = logits.grad.copy()
        logits.grad = None
        loss.backward()
        np.testing.assert_array_equal(logits.grad, first)


def test_gradient_of_a_0d_tensor_is_an_array_that_clipping_changes():
    # NumPy makes scalars of 0-d arithmetic; the engine's fast paths must still hand out arrays.
    w = cr.tensor(3.0, requires_grad=True)
    (w * w + w * 2.0).backward()
    assert isinstance(w.grad, np.ndarray) and w.grad.shape == ()
    assert w.grad == pytest.approx(8.0)
    optim.clip_grad_norm_([w], 1.0)
    assert float(w.grad) == pytest.approx(1.0, rel=1e-5)


def _sparse_rows_run(lazy, monkeypatch, steps=45, save_to=None, save_at=23, rho=0.9):
    """Adadelta on a 2,048-row table whose gradients use a few rows per step, as an embedding's do.

    Every 10th step uses most rows (the whole-table update, which must first
    apply the decays the skipped rows owe); a few used rows hold -0.0. With
    ``save_to`` (a file), the optimiser is saved there at step ``save_at`` and
    a new one loads it, as a resumed run does.
    """
    monkeypatch.setattr(optimizer_module, "LAZY_ROWS", lazy)
    rng = np.random.default_rng(1)
    table = nn.Parameter(rng.standard_normal((2048, 6), dtype=np.float32))
    opt = optim.Adadelta([table], rho=rho)
    lazy_steps = 0
    for step in range(steps):
        if save_to is not None and step == save_at:
            cr.save(opt.state_dict(), save_to)
            opt = optim.Adadelta([table], rho=rho)
            opt.load_state_dict(cr.load(save_to))
        grad = np.zeros(table.shape, np.float32)
        used = rng.choice(2048, size=1800 if step % 10 == 9 else int(rng.integers(1, 200)), replace=False)
        grad[used] = rng.standard_normal((len(used), 6), dtype=np.float32)
        grad[used[:3], 0] = -0.0
        table.grad = grad
        opt.step()
        lazy_steps += "row_decay" in opt.state[table]
    return table.data.copy(), opt, lazy_steps


def test_lazy_adadelta_rows_equal_the_dense_update(monkeypatch):
    fast, fast_opt, lazy_steps = _sparse_rows_run(True, monkeypatch)
    slow, slow_opt, dense_steps = _sparse_rows_run(False, monkeypatch)
    assert lazy_steps >= 30 and dense_steps == 0  # the lazy path did run, and only when allowed
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)
    fast_state, slow_state = fast_opt.state_dict()["state"][0], slow_opt.state_dict()["state"][0]
    decay = fast_state["row_decay"]
    assert decay.shape == (2048,) and (decay < 1).any()  # some rows still owe decays at the end
    for name in ("square_avg", "acc_delta"):
        caught_up = fast_state[name] * decay[:, None]
        np.testing.assert_allclose(caught_up, slow_state[name], rtol=1e-5, atol=1e-12)


def test_lazy_adadelta_resumes_bit_for_bit(monkeypatch, tmp_path):
    whole, _, _ = _sparse_rows_run(True, monkeypatch)
    resumed, _, _ = _sparse_rows_run(True, monkeypatch, save_to=tmp_path / "opt.npz")
    np.testing.assert_array_equal(whole, resumed)


def test_nonzero_rows():
    g = np.zeros((2048, 4), np.float32)
    g[5, 1], g[7, 3], g[9, 0] = 1.0, -0.0, np.nan
    np.testing.assert_array_equal(optimizer_module.nonzero_rows(g), [5, 7, 9])
    assert optimizer_module.nonzero_rows(g[:100]) is None     # too few rows to be worth it
    assert optimizer_module.nonzero_rows(g.ravel()) is None   # not a table
    assert optimizer_module.nonzero_rows(np.ones((2048, 4), np.float32)) is None  # most rows used


def test_lazy_adagrad_rows_equal_the_dense_update_bit_for_bit(monkeypatch):
    from chainrule.optim import adaptive
    lazy_calls = []

    def spy(grad):
        rows = optimizer_module.nonzero_rows(grad)
        lazy_calls.append(rows is not None)
        return rows
    monkeypatch.setattr(adaptive, "nonzero_rows", spy)

    def run(lazy):
        monkeypatch.setattr(optimizer_module, "LAZY_ROWS", lazy)
        rng = np.random.default_rng(2)
        table = nn.Parameter(rng.standard_normal((2048, 6), dtype=np.float32))
        opt = optim.Adagrad([table], lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)
        for step in range(25):
            grad = np.zeros(table.shape, np.float32)
            used = rng.choice(2048, size=1800 if step % 10 == 9 else int(rng.integers(1, 200)), replace=False)
            grad[used] = rng.standard_normal((len(used), 6), dtype=np.float32)
            table.grad = grad
            opt.step()
        return table.data.copy(), opt.state[table]["sum"].copy()

    fast = run(True)
    assert sum(lazy_calls) >= 20  # the lazy path did run
    slow = run(False)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [lambda p: optim.Adadelta([p], eps=0.0),
                                  lambda p: optim.Adagrad([p], eps=1e-50)],  # 1e-50 is 0 in float32
                         ids=["adadelta-eps-0", "adagrad-eps-underflows"])
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_lazy_rows_only_with_an_eps_above_zero_in_the_dtype(make, monkeypatch):
    # With eps = 0 the dense update gives 0 / 0 = NaN in rows that were never used, as PyTorch
    # does; the lazy path, which never touches those rows, must not quietly differ.
    def run(lazy):
        monkeypatch.setattr(optimizer_module, "LAZY_ROWS", lazy)
        table = nn.Parameter(np.ones((2048, 3), np.float32))
        opt = make(table)
        grad = np.zeros(table.shape, np.float32)
        grad[:10] = 1.0
        table.grad = grad
        opt.step()
        return table.data.copy()
    lazy, dense = run(True), run(False)
    assert np.isnan(dense).sum() == 2038 * 3
    np.testing.assert_array_equal(lazy, dense)
