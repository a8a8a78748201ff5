"""Optimisers, clipping and schedules against torch.optim, step by step.

The comparisons run in float64 in both frameworks: in float32 the two
libraries round intermediate terms differently, and over 20 steps those
differences would hide a real mistake behind a loose tolerance. A separate
test checks the float32 path keeps float32 and agrees to float32 accuracy.
"""
import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn, optim
from chainrule.optim import lr_scheduler

SHAPES = [(4, 3), (3,), (2, 2, 2)]
STEPS = 20


def _initial(seed=0, dtype=np.float64):
    rs = np.random.RandomState(seed)
    return [rs.randn(*s).astype(dtype) for s in SHAPES]


def _noise(seed=1, dtype=np.float64):
    rs = np.random.RandomState(seed)
    return [[rs.randn(*s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]


def _grad(p, noise):
    # A gradient that depends on the parameters (as of a quadratic loss plus noise), so an
    # error in one step changes every later gradient instead of staying put.
    return 0.5 * p + noise


def run_chainrule(cls, kwargs, init, noise, skip_last_every=3):
    params = [nn.Parameter(a.copy()) for a in init]
    opt = cls(params, **kwargs)
    for t, step_noise in enumerate(noise):
        for i, (p, n) in enumerate(zip(params, step_noise)):
            # Every third step the last parameter has no gradient, which the optimisers must skip.
            p.grad = None if (i == len(params) - 1 and t % skip_last_every == 1) else _grad(p.data, n)
        opt.step()
    return [p.data for p in params], opt


def run_torch(cls, kwargs, init, noise, skip_last_every=3):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls(params, **kwargs)
    for t, step_noise in enumerate(noise):
        for i, (p, n) in enumerate(zip(params, step_noise)):
            skip = i == len(params) - 1 and t % skip_last_every == 1
            p.grad = None if skip else torch.tensor(_grad(p.detach().numpy(), n))
        opt.step()
    return [p.detach().numpy() for p in params]


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05, "nesterov": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(k) or 'defaults'}" for n, k in CASES])
def test_matches_torch_over_20_steps(name, kwargs):
    init, noise = _initial(), _noise()
    ours, _ = run_chainrule(getattr(optim, name), kwargs, init, noise)
    theirs = run_torch(getattr(torch.optim, name), kwargs, init, noise)
    for a, b, start in zip(ours, theirs, init):
        assert not np.allclose(a, start)  # the parameters really moved
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "Adam", "AdamW"])
def test_defaults_are_torchs(name):
    ours = getattr(optim, name)([nn.Parameter(np.zeros(2))]).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_float32_stays_float32_and_agrees(name):
    init, noise = _initial(dtype=np.float32), _noise(dtype=np.float32)
    kwargs = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    ours, opt = run_chainrule(getattr(optim, name), kwargs, init, noise)
    theirs = run_torch(getattr(torch.optim, name), kwargs, init, noise)
    for a, b in zip(ours, theirs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_param_groups_with_their_own_rates_match_torch():
    init, noise = _initial(), _noise()
    p_ours = [nn.Parameter(a.copy()) for a in init]
    p_torch = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    ours = optim.Adam([{"params": p_ours[:1], "lr": 0.1}, {"params": p_ours[1:]}], lr=0.01)
    theirs = torch.optim.Adam([{"params": p_torch[:1], "lr": 0.1}, {"params": p_torch[1:]}], lr=0.01)
    for step_noise in noise[:5]:
        for p, q, n in zip(p_ours, p_torch, step_noise):
            p.grad = _grad(p.data, n)
            q.grad = torch.tensor(_grad(q.detach().numpy(), n))
        ours.step()
        theirs.step()
    assert [g["lr"] for g in ours.param_groups] == [0.1, 0.01]
    for p, q in zip(p_ours, p_torch):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-6)


def test_update_is_in_place_without_a_graph():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    data = p.data
    opt = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    with cr.no_grad():
        opt.step()
    opt.step()  # outside no_grad too: the update is plain NumPy either way
    assert p.data is data and p.is_leaf and p.grad_fn is None
    assert np.all(p.data < 1)


def test_zero_grad():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    opt = optim.SGD([p], lr=0.1)
    p.grad = held = np.ones(3, dtype=np.float32)
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(p.grad, np.zeros(3))
    assert p.grad is held  # zeroed in place, as grad.zero_() does: code holding the array sees it
    opt.zero_grad()
    assert p.grad is None


def test_closure_is_called_and_its_loss_returned():
    p = nn.Parameter(np.array([2.0], dtype=np.float32))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and p.data[0] == pytest.approx(1.0)


def test_bad_arguments_are_refused():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p)


# ----------------------------------------------------------------- state dicts
@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adagrad", {"lr_decay": 0.1}),
                                         ("Adadelta", {}), ("Adam", {"amsgrad": True}), ("AdamW", {})])
def test_state_dict_round_trip_resumes_exactly(name, kwargs, tmp_path):
    init, noise = _initial(), _noise()
    cls = getattr(optim, name)
    straight, _ = run_chainrule(cls, kwargs, init, noise)

    first, opt = run_chainrule(cls, kwargs, init, noise[:10])
    cr.save({"params": first, "optimizer": opt.state_dict()}, tmp_path / "ckpt")
    saved = cr.load(tmp_path / "ckpt")
    params = [nn.Parameter(a) for a in saved["params"]]
    resumed = cls(params, lr=123.0)  # a different rate: the loaded groups must override it
    resumed.load_state_dict(saved["optimizer"])
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for t, step_noise in enumerate(noise[10:], start=10):
        for i, (p, n) in enumerate(zip(params, step_noise)):
            p.grad = None if (i == len(params) - 1 and t % 3 == 1) else _grad(p.data, n)
        resumed.step()
    for a, b in zip(straight, params):
        np.testing.assert_array_equal(a, b.data)


def test_state_dict_format_is_torchs():
    init, noise = _initial(), _noise()
    _, opt = run_chainrule(optim.Adam, {}, init, noise[:2])
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"] == 2


def test_state_dict_is_the_live_state_as_in_torch():
    # A copied dict with live arrays would pair an old step count with new moments.
    init, noise = _initial(), _noise()
    _, opt = run_chainrule(optim.Adam, {}, init, noise[:2])
    params = opt.param_groups[0]["params"]
    sd = opt.state_dict()
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    assert sd["state"][0]["step"] == 3
    assert sd["state"][0]["exp_avg"] is opt.state[params[0]]["exp_avg"]


def test_loading_mismatched_state_is_refused():
    a = optim.Adam([nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))])
    b = optim.Adam([nn.Parameter(np.zeros(2))])
    with pytest.raises(ValueError, match="has 2 parameters"):
        b.load_state_dict(a.state_dict())
    for p in a.param_groups[0]["params"]:
        p.grad = np.ones_like(p.data)
    a.step()
    c = optim.Adam([nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(2))])
    with pytest.raises(ValueError, match="shape"):
        c.load_state_dict(a.state_dict())
    assert c.state == {}  # nothing half-loaded


# -------------------------------------------------------------------- clipping
def _grads_pair(seed=3):
    rs = np.random.RandomState(seed)
    arrays = [rs.randn(*s) for s in SHAPES]
    ours = [nn.Parameter(np.zeros(s)) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, q, g in zip(ours, theirs, arrays):
        p.grad, q.grad = g.copy(), torch.tensor(g.copy())
    return ours, theirs


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    ours, theirs = _grads_pair()
    extra = nn.Parameter(np.zeros(2))  # no gradient: skipped, as in torch
    total = optim.clip_grad_norm_(ours + [extra], max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert float(total) == pytest.approx(expected.item(), rel=1e-12)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    assert optim.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0
    p = nn.Parameter(np.zeros(2))
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_inf_norm_sees_a_nan_in_any_gradient():
    # Python's max(2.0, nan) is 2.0: a NaN after the first gradient used to be missed.
    for second in ([np.nan, 1.0], [3.0, np.nan]):
        ours = [nn.Parameter(np.zeros(2, dtype=np.float32)) for _ in range(2)]
        theirs = [torch.zeros(2, requires_grad=True) for _ in range(2)]
        for p, t, g in zip(ours, theirs, ([1.0, 2.0], second)):
            p.grad = np.array(g, dtype=np.float32)
            t.grad = torch.tensor(g)
        total = optim.clip_grad_norm_(ours, 1.0, norm_type=math.inf)
        expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=math.inf)
        assert math.isnan(total) and math.isnan(expected.item())
        for p, t in zip(ours, theirs):
            np.testing.assert_array_equal(p.grad, t.grad.numpy())
        with pytest.raises(RuntimeError, match="non-finite"):
            optim.clip_grad_norm_(ours, 1.0, norm_type=math.inf, error_if_nonfinite=True)


def test_exponential_lr_resumed_with_last_epoch_keeps_the_rate():
    def run(lib_sgd, lib_exp, make_param):
        opt = lib_sgd([make_param()], lr=1.0)
        sched = lib_exp(opt, gamma=0.5)
        for _ in range(3):
            opt.step()
            sched.step()
        before = opt.param_groups[0]["lr"]
        resumed = lib_exp(opt, gamma=0.5, last_epoch=3)  # the optimizer's state is already loaded
        return before, opt.param_groups[0]["lr"], resumed.get_last_lr()[0]
    ours = run(optim.SGD, lr_scheduler.ExponentialLR, lambda: nn.Parameter(np.zeros(1, dtype=np.float32)))
    theirs = run(torch.optim.SGD, torch.optim.lr_scheduler.ExponentialLR, lambda: torch.zeros(1, requires_grad=True))
    assert ours == theirs == (0.125, 0.125, 0.125)


def test_clip_grad_norm_of_float16_gradients_does_not_overflow():
    p, q = nn.Parameter(np.zeros(4, np.float16)), torch.zeros(4, dtype=torch.float16, requires_grad=True)
    p.grad, q.grad = np.full(4, 300, np.float16), torch.full((4,), 300, dtype=torch.float16)
    total = optim.clip_grad_norm_([p], 1.0)
    expected = torch.nn.utils.clip_grad_norm_([q], 1.0)
    assert total.dtype == np.float16 and float(total) == expected.item() == 600.0
    np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-3)


def test_clip_grad_value_matches_torch():
    ours, theirs = _grads_pair()
    optim.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, q.grad.numpy())
    assert max(np.abs(p.grad).max() for p in ours) == 0.7


def test_max_norm_rescales_only_long_rows():
    rs = np.random.RandomState(0)
    w = nn.Parameter(rs.randn(6, 5).astype(np.float32))
    w.data[0] *= 0.01  # one row well inside the ball
    before = w.data.copy()
    norms = np.linalg.norm(before, axis=1)
    out = optim.max_norm_(w, 1.5)
    assert out is w
    after = np.linalg.norm(w.data, axis=1)
    long = norms > 1.5
    assert long.any() and (~long).any()
    np.testing.assert_allclose(after[long], 1.5, rtol=1e-6)
    np.testing.assert_array_equal(w.data[~long], before[~long])
    # Rescaled rows keep their direction.
    np.testing.assert_allclose(w.data[long] * norms[long, None] / 1.5, before[long], rtol=1e-5)
    # The same as torch.renorm, up to renorm's 1e-7 guard.
    expected = torch.renorm(torch.tensor(before), 2, 0, 1.5).numpy()
    np.testing.assert_allclose(w.data, expected, rtol=1e-5)


def test_max_norm_per_filter_and_whole_tensor():
    rs = np.random.RandomState(1)
    conv = rs.randn(4, 3, 2) * 3
    c = conv.copy()
    optim.max_norm_(c, 2.0)  # ndarray, each filter c[i]
    np.testing.assert_allclose(np.sqrt((c ** 2).sum(axis=(1, 2))), 2.0)
    whole = conv.copy()
    optim.max_norm_(whole, 2.0, axis=None)
    assert np.linalg.norm(whole) == pytest.approx(2.0)
    np.testing.assert_allclose(whole / np.linalg.norm(whole), conv / np.linalg.norm(conv))
    cols = conv[0].copy()
    optim.max_norm_(cols, 1.0, axis=1)  # each column cols[:, j]
    assert np.all(np.linalg.norm(cols, axis=0) <= 1.0 + 1e-12)


# ------------------------------------------------------------------ schedules
def _optimisers(lrs=(0.5, 0.1)):
    ours = optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in lrs])
    theirs = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    return ours, theirs


@pytest.mark.parametrize("make", [
    lambda o, m: m.StepLR(o, step_size=3, gamma=0.5),
    lambda o, m: m.StepLR(o, step_size=1),
    lambda o, m: m.ExponentialLR(o, gamma=0.9),
], ids=["step3", "step1", "exponential"])
def test_schedules_match_torch(make):
    ours, theirs = _optimisers()
    s_ours, s_theirs = make(ours, lr_scheduler), make(theirs, torch.optim.lr_scheduler)
    assert s_ours.get_last_lr() == s_theirs.get_last_lr()
    for _ in range(12):
        ours.step()
        theirs.step()
        s_ours.step()
        s_theirs.step()
        assert s_ours.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in ours.param_groups] == pytest.approx([g["lr"] for g in theirs.param_groups])


PLATEAU_METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]


@pytest.mark.parametrize("kwargs", [
    {"patience": 1},
    {"patience": 2, "cooldown": 2, "factor": 0.5},
    {"patience": 0, "threshold": 0.5, "threshold_mode": "abs", "min_lr": 0.02},
    {"mode": "max", "patience": 1, "min_lr": [0.1, 0.001]},
    {"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.1},
])
def test_reduce_on_plateau_matches_torch(kwargs):
    ours, theirs = _optimisers()
    s_ours = lr_scheduler.ReduceLROnPlateau(ours, **kwargs)
    s_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs)
    lrs_ours, lrs_theirs = [], []
    for metric in PLATEAU_METRICS:
        s_ours.step(metric)
        s_theirs.step(metric)
        lrs_ours.append(s_ours.get_last_lr())
        lrs_theirs.append(s_theirs.get_last_lr())
    np.testing.assert_allclose(lrs_ours, lrs_theirs, rtol=1e-12)
    assert lrs_ours[0] != lrs_ours[-1]  # the schedule really cut the rate


def test_schedulers_state_dict_round_trip(tmp_path):
    ours, _ = _optimisers()
    plateau = lr_scheduler.ReduceLROnPlateau(ours, patience=1)
    for metric in PLATEAU_METRICS[:6]:
        plateau.step(metric)
    cr.save(plateau.state_dict(), tmp_path / "sched")
    fresh_opt, _ = _optimisers()
    fresh = lr_scheduler.ReduceLROnPlateau(fresh_opt, patience=1)
    fresh.load_state_dict(cr.load(tmp_path / "sched"))
    fresh_opt.load_state_dict(ours.state_dict())
    for metric in PLATEAU_METRICS[6:]:
        plateau.step(metric)
        fresh.step(metric)
        assert fresh.get_last_lr() == plateau.get_last_lr()

    step = lr_scheduler.StepLR(ours, step_size=2)
    for _ in range(3):
        step.step()
    cr.save(step.state_dict(), tmp_path / "step")
    restored = lr_scheduler.StepLR(_optimisers()[0], step_size=5)
    restored.load_state_dict(cr.load(tmp_path / "step"))
    assert restored.last_epoch == 3 and restored.step_size == 2 and restored.base_lrs == step.base_lrs


def test_exponential_moving_average_of_weights():
    rng = np.random.default_rng(0)
    w = nn.Parameter(rng.standard_normal((3, 4)).astype(np.float32))
    b = nn.Parameter(rng.standard_normal(4).astype(np.float32))
    frozen = nn.Parameter(np.ones(2, np.float32))
    frozen.requires_grad = False
    ema = optim.ExponentialMovingAverage([w, b, frozen], decay=0.95)
    assert len(ema.shadow) == 2  # only what trains is averaged
    history = []
    for t in range(39):
        w.data += rng.standard_normal(w.shape).astype(np.float32)
        b.data -= 0.5
        history.append([w.data.astype(np.float64), b.data.astype(np.float64)])
        ema.update()
    # The debiased average: the values seen, weighted by decay ** age (the initial weights not at all).
    ages = 0.95 ** np.arange(len(history))[::-1]
    reference = [sum(a * h[i] for a, h in zip(ages, history)) / ages.sum() for i in range(2)]
    for average, r in zip(ema.shadow, reference):
        np.testing.assert_allclose(average, r, rtol=1e-5, atol=1e-5)

    last = w.data.copy()
    with ema.average_parameters():
        np.testing.assert_allclose(w.data, reference[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(w.data, last)  # put back

    other = optim.ExponentialMovingAverage([nn.Parameter(np.zeros((3, 4), np.float32)),
                                            nn.Parameter(np.zeros(4, np.float32))], decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.95 and other.num_updates == 39
    np.testing.assert_array_equal(other.shadow[0], ema.shadow[0])
    with pytest.raises(ValueError, match="shape"):
        optim.ExponentialMovingAverage([nn.Parameter(np.zeros(5, np.float32)), b]).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="decay"):
        optim.ExponentialMovingAverage([w], decay=1.0)


def test_exponential_moving_average_keeps_each_parameters_precision():
    small = nn.Parameter(np.zeros(3, np.float32))
    wide = nn.Parameter(np.zeros(5, np.float64))
    ema = optim.ExponentialMovingAverage([small, wide], decay=0.9)
    wide.data[:] = 1 + 1e-12  # not a float32 number
    ema.update()  # the first update copies the weights exactly
    np.testing.assert_array_equal(ema.shadow[1], wide.data)
    half = nn.Parameter(np.zeros(2, np.float16))
    big = nn.Parameter(np.full(2, 1e5, np.float32))  # beyond float16's range
    ema = optim.ExponentialMovingAverage([half, big], decay=0.9)
    big.data[:] = 2e5
    ema.update()
    ema.update()
    assert np.isfinite(ema.shadow[1]).all() and ema.shadow[1][0] == pytest.approx(2e5)


@pytest.mark.parametrize("make", [lambda p: optim.Adagrad([p], lr=0.1), lambda p: optim.Adadelta([p])])
def test_a_table_of_width_zero_steps(make):
    p = nn.Parameter(np.zeros((2048, 0), dtype=np.float32))  # the lazy-row scan reduced over an empty axis
    p.grad = np.zeros((2048, 0), dtype=np.float32)
    make(p).step()
    assert p.data.shape == (2048, 0)
