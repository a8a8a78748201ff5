"""Module registration, traversal, Sequential editing and two schedulers' edge cases, against torch 2.x.

Each test runs the same steps on a chainrule object and on its torch twin
and compares what PyTorch's documented API shows: names, types, errors.
"""
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim

torch = pytest.importorskip("torch")
tnn = torch.nn


def _outcome(fn):
    """What ``fn()`` did, comparable across the two libraries: ("ok", value) or ("raised", exception type)."""
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - the exception's type is the result
        return "raised", type(e)


def _layout(module):
    """The container's keys and each slot's type name (None for an empty slot)."""
    return [(k, None if m is None else type(m).__name__) for k, m in module._modules.items()]


# ------------------------------------------------------------- schedulers
def test_plateau_reduces_a_param_group_added_after_it_was_made(tmp_path):
    p, q = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    tp, tq = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    ours, theirs = optim.SGD([p], lr=1.0), torch.optim.SGD([tp], lr=1.0)
    s_ours = optim.ReduceLROnPlateau(ours, patience=0)
    s_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, patience=0)
    ours.add_param_group({"params": [q], "lr": 2.0})
    theirs.add_param_group({"params": [tq], "lr": 2.0})
    for metric in (1, 2, 3):
        s_ours.step(metric)
        s_theirs.step(metric)
    np.testing.assert_allclose(s_ours.get_last_lr(), s_theirs.get_last_lr(), rtol=1e-12)  # [0.01, 0.02]
    assert s_ours.min_lrs == s_theirs.min_lrs == [0, 0]
    assert set(s_ours.state_dict()) == set(s_theirs.state_dict())

    # The saved state carries the default, so a restored scheduler extends min_lrs for a new group too.
    cr.save(s_ours.state_dict(), tmp_path / "sched")
    fresh_opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    fresh = optim.ReduceLROnPlateau(fresh_opt, patience=0, min_lr=[0.5])
    fresh.load_state_dict(cr.load(tmp_path / "sched"))
    assert fresh.default_min_lr == 0 and fresh.min_lrs == [0, 0]
    fresh_opt.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 2.0})
    fresh_opt.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 3.0})
    fresh.step(4)
    assert fresh.min_lrs == [0, 0, 0]
    np.testing.assert_allclose(fresh.get_last_lr(), [0.1, 0.2, 0.3], rtol=1e-12)


def test_plateau_with_per_group_min_lrs_refuses_a_group_added_later():
    ours = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    s_ours = optim.ReduceLROnPlateau(ours, patience=0, min_lr=[0.5])
    s_theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, patience=0, min_lr=[0.5])
    ours.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 2.0})
    theirs.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 2.0})
    s_ours.step(1)
    s_theirs.step(1)
    with pytest.raises(RuntimeError, match="2 param groups but min_lrs has 1"):
        s_ours.step(2)  # the first cut
    with pytest.raises(RuntimeError):
        s_theirs.step(2)


@pytest.mark.parametrize("step_size", [np.int64(2), np.int32(2), 2.0])
def test_step_lr_takes_numpy_integers_and_integral_floats(step_size):
    ours = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    s_ours = optim.StepLR(ours, step_size=step_size)
    s_theirs = torch.optim.lr_scheduler.StepLR(theirs, step_size=step_size)
    lrs_ours, lrs_theirs = [], []
    for _ in range(5):
        theirs.step()  # keeps torch from warning that the scheduler stepped first
        s_ours.step()
        s_theirs.step()
        lrs_ours.append(s_ours.get_last_lr())
        lrs_theirs.append(s_theirs.get_last_lr())
    np.testing.assert_allclose(lrs_ours, lrs_theirs, rtol=1e-12)
    assert type(s_ours.step_size) is int


@pytest.mark.parametrize("step_size", [2.5, True, 0, -1, np.int64(0), "2"])
def test_step_lr_refuses_what_is_not_a_positive_integer(step_size):
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        optim.StepLR(opt, step_size=step_size)


# ------------------------------------------------------------------ modules
def test_train_calls_each_childs_own_train():
    def frozen(base):
        class AlwaysEval(base):
            def train(self, mode=True):  # a layer that must stay in eval mode, whatever its parent asks
                return super().train(False)
        return AlwaysEval

    ours = nn.Sequential(nn.Linear(1, 1), frozen(nn.Dropout)(0.5))
    theirs = tnn.Sequential(tnn.Linear(1, 1), frozen(tnn.Dropout)(0.5))
    for model in (ours, theirs):
        assert model.train() is model
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()] == [True, True, False]
    with pytest.raises(ValueError, match="must be a bool"):
        ours.train(1)


def test_plain_attributes_may_be_set_before_module_init():
    def early(base, value):
        class Early(base):
            def __init__(self):
                self.early = value
                super().__init__()
        return Early

    for base, param, layer in ((nn.Module, nn.Parameter(np.zeros(1)), nn.Linear(1, 1)),
                               (tnn.Module, tnn.Parameter(torch.zeros(1)), tnn.Linear(1, 1))):
        assert early(base, 3)().early == 3
        assert early(base, None)().early is None
        for value in (param, layer):
            with pytest.raises(AttributeError, match="before Module.__init__"):
                early(base, value)()
    with pytest.raises(AttributeError, match="parameter 'early' .* in Early.__init__"):
        early(nn.Module, nn.Parameter(np.zeros(1)))()
    with pytest.raises(AttributeError, match="submodule 'early' .* in Early.__init__"):
        early(nn.Module, nn.Linear(1, 1))()


@pytest.mark.parametrize("name", [1, None, "", "a.b"])
def test_module_and_parameter_names_are_checked_as_in_torch(name):
    ours, theirs = nn.Module(), tnn.Module()
    assert _outcome(lambda: ours.add_module(name, nn.ReLU())) == _outcome(lambda: theirs.add_module(name, tnn.ReLU()))
    assert (_outcome(lambda: ours.register_parameter(name, nn.Parameter(np.zeros(1))))
            == _outcome(lambda: theirs.register_parameter(name, tnn.Parameter(torch.zeros(1)))))
    assert (_outcome(lambda: nn.Sequential(OrderedDict([(name, nn.ReLU())])))[1]
            == _outcome(lambda: tnn.Sequential(OrderedDict([(name, tnn.ReLU())])))[1]
            == (TypeError if name is None or name == 1 else KeyError))
    assert list(ours._modules) == list(ours._parameters) == []
    if not isinstance(name, str):  # Python's own setattr raised a TypeError too, but not naming the class
        with pytest.raises(TypeError, match="Module: submodule name must be a string, got"):
            ours.add_module(name, nn.ReLU())
        with pytest.raises(TypeError, match="Module: parameter name must be a string, got"):
            ours.register_parameter(name, None)


@pytest.mark.parametrize("name", ["plain", "weight", "mask", "training", "forward", "sub"])
def test_add_module_refuses_a_name_taken_by_something_else(name):
    def build(lib, module):
        m = module()
        m.plain = 3
        m.weight = lib.Parameter(np.zeros(1) if lib is nn else torch.zeros(1))
        m.register_buffer("mask", np.zeros(1) if lib is nn else torch.zeros(1))
        m.sub = lib.Linear(1, 1)
        return m

    ours, theirs = build(nn, nn.Module), build(tnn, tnn.Module)
    result = _outcome(lambda: ours.add_module(name, nn.ReLU()))
    assert result[0] == _outcome(lambda: theirs.add_module(name, tnn.ReLU()))[0]
    assert result == (("ok", None) if name == "sub" else ("raised", KeyError))
    assert _layout(ours) == _layout(theirs)


def test_a_module_registered_twice_is_one_child():
    relu, trelu = nn.ReLU(), tnn.ReLU()
    ours = nn.Sequential(relu, nn.Tanh(), relu)
    theirs = tnn.Sequential(trelu, tnn.Tanh(), trelu)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["0", "1"]
    assert len(list(ours.children())) == len(list(theirs.children())) == 2


def test_named_buffers_lists_a_shared_array_once():
    array, tensor = np.zeros(2, dtype=np.float32), torch.zeros(2)
    ours, theirs = nn.Sequential(nn.Identity()), tnn.Sequential(tnn.Identity())
    for model, value in ((ours, array), (theirs, tensor)):
        model.register_buffer("a", value)
        model.register_buffer("b", value)
        model[0].register_buffer("c", value)
    for kwargs in ({}, {"remove_duplicate": False}, {"remove_duplicate": True, "prefix": "m"}, {"recurse": False}):
        assert [n for n, _ in ours.named_buffers(**kwargs)] == [n for n, _ in theirs.named_buffers(**kwargs)]
    assert len(list(ours.buffers())) == len(list(theirs.buffers())) == 1
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["a", "b", "0.c"]  # saved under every name


# ---------------------------------------------------------------- None slots
def _pair_with_empty_slots():
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    theirs = tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 1))
    for model in (ours, theirs):
        model[0].bias = None
        setattr(model, "1", None)
    return ours, theirs


def test_a_parameter_set_to_none_keeps_its_slot():
    ours, theirs = nn.Linear(2, 2), tnn.Linear(2, 2)
    ours.weight = theirs.weight = None
    assert list(ours._parameters) == list(theirs._parameters) == ["weight", "bias"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["bias"]
    # A plain Tensor would silently stop being trained: refused, as in torch; a Parameter is taken.
    with pytest.raises(TypeError, match="parameter 'weight' of Linear"):
        ours.weight = cr.ones(2, 2)
    with pytest.raises(TypeError):
        theirs.weight = torch.ones(2, 2)
    ours.weight = nn.Parameter(np.ones((2, 2), dtype=np.float32))
    theirs.weight = tnn.Parameter(torch.ones(2, 2))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["weight", "bias"]
    # register_parameter(name, None) leaves the same kind of slot.
    for model, tensor in ((nn.Module(), cr.ones(1)), (tnn.Module(), torch.ones(1))):
        model.register_parameter("w", None)
        assert list(model._parameters) == ["w"] and model.w is None and list(model.parameters()) == []
        with pytest.raises(TypeError):
            model.w = tensor
    # del removes the name altogether; a plain value is then an ordinary attribute.
    del ours.weight
    ours.weight = cr.ones(2, 2)
    assert list(ours._parameters) == ["bias"]


def test_a_submodule_set_to_none_keeps_its_slot():
    ours, theirs = _pair_with_empty_slots()
    assert _layout(ours) == _layout(theirs) == [("0", "Linear"), ("1", None), ("2", "Linear")]
    with pytest.raises(TypeError, match="submodule '1' of Sequential"):
        setattr(ours, "1", 3)
    with pytest.raises(TypeError):
        setattr(theirs, "1", 3)
    assert repr(ours).split("\n")[2].strip() == repr(theirs).split("\n")[2].strip() == "(1): None"
    assert len(ours) == len(theirs) == 3 and ours[1] is None and [type(m) for m in ours][1] is type(None)
    for model in (ours, theirs):
        with pytest.raises(AttributeError):
            model.get_submodule("1")
    setattr(ours, "1", nn.Tanh())
    setattr(theirs, "1", tnn.Tanh())
    assert _layout(ours) == _layout(theirs)
    m = nn.Module()
    m.sub = nn.Linear(1, 1)
    m.sub = None
    del m.sub
    m.sub = 3  # after del, the name is free
    assert list(m._modules) == []


def test_walkers_skip_empty_slots():
    ours, theirs = _pair_with_empty_slots()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()] == ["", "0", "2"]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["0", "2"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "2.weight", "2.bias"]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 10
    result = ours.load_state_dict({k: v.copy() for k, v in ours.state_dict().items()})
    assert result.missing_keys == result.unexpected_keys == []
    seen, tseen = [], []
    ours.apply(lambda m: seen.append(type(m).__name__))
    theirs.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen == ["Linear", "Linear", "Sequential"]
    assert not ours.eval().training and not any(m.training for m in ours.modules())
    with pytest.raises(TypeError):
        ours(cr.ones(1, 2))  # as torch: calling an empty slot fails
    ours.requires_grad_(False)
    ours.zero_grad()
    assert ours.num_parameters(trainable_only=True) == 0


# -------------------------------------------------------------- Sequential
def _both(*names):
    """The same Sequential in both libraries: modules by class name (Identity, ReLU, Tanh, Sigmoid)."""
    return nn.Sequential(*(getattr(nn, n)() for n in names)), tnn.Sequential(*(getattr(tnn, n)() for n in names))


def _named_both():
    return (nn.Sequential(OrderedDict([("fc", nn.Identity()), ("act", nn.ReLU())])),
            tnn.Sequential(OrderedDict([("fc", tnn.Identity()), ("act", tnn.ReLU())])))


@pytest.mark.parametrize("edit", [
    lambda s, lib: s.__setitem__(0, lib.Sigmoid()),
    lambda s, lib: s.__setitem__(-1, lib.Sigmoid()),
    lambda s, lib: s.__setitem__(np.int64(1), None),
    lambda s, lib: s.__setitem__(3, lib.Sigmoid()),
    lambda s, lib: s.__setitem__(0, 3),
    lambda s, lib: s.__delitem__(0),
    lambda s, lib: s.__delitem__(-2),
    lambda s, lib: s.__delitem__(3),
    lambda s, lib: s.__delitem__(slice(0, 2)),
    lambda s, lib: s.__delitem__(slice(None, None, 2)),
    lambda s, lib: s.__delitem__(slice(5, 9)),
    lambda s, lib: type(s.insert(0, lib.Sigmoid())).__name__,
    lambda s, lib: type(s.insert(-1, lib.Sigmoid())).__name__,
    lambda s, lib: type(s.insert(3, lib.Sigmoid())).__name__,
    lambda s, lib: s.insert(4, lib.Sigmoid()),
    lambda s, lib: s.insert(-4, lib.Sigmoid()),
    lambda s, lib: type(s.extend([lib.Sigmoid(), lib.Tanh()])).__name__,
    lambda s, lib: s.extend([3]),
    lambda s, lib: type(s.pop(1)).__name__,
    lambda s, lib: type(s.pop(-1)).__name__,
    lambda s, lib: _layout(s.pop(slice(1, 3))),
    lambda s, lib: s.pop(3),
])
def test_sequential_editing_matches_torch(edit):
    ours, theirs = _both("Identity", "ReLU", "Tanh")
    result, expected = _outcome(lambda: edit(ours, nn)), _outcome(lambda: edit(theirs, tnn))
    assert result == expected
    assert _layout(ours) == _layout(theirs)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


@pytest.mark.parametrize("edit", [
    lambda s, lib: s.__setitem__(0, lib.Sigmoid()),
    lambda s, lib: s.__delitem__(0),
    lambda s, lib: type(s.pop(-1)).__name__,
    lambda s, lib: type(s.extend([lib.Sigmoid()])).__name__,
    lambda s, lib: type(s.insert(2, lib.Sigmoid())).__name__,
])
def test_editing_a_named_sequential_matches_torch(edit):
    ours, theirs = _named_both()
    assert _outcome(lambda: edit(ours, nn)) == _outcome(lambda: edit(theirs, tnn))
    assert _layout(ours) == _layout(theirs)
    for name in ("fc", "act"):  # after renumbering the old names are gone, attributes included
        assert hasattr(ours, name) == hasattr(theirs, name)


def test_sequential_insert_renumbers_a_named_sequential():
    # torch 2.x fails with KeyError '1' here (it shifts integer keys); chainrule renumbers, as del does.
    ours, _ = _named_both()
    ours.insert(0, nn.Sigmoid())
    assert _layout(ours) == [("0", "Sigmoid"), ("1", "Identity"), ("2", "ReLU")] and not hasattr(ours, "fc")
    with pytest.raises(TypeError, match="Sequential.insert: int is not a Module"):
        ours.insert(0, 3)  # torch raises AssertionError; a TypeError as append and extend give


def test_sequential_edits_keep_parameters_and_state_dict_in_step_with_positions():
    ours = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3))
    theirs = tnn.Sequential(tnn.Linear(1, 2), tnn.ReLU(), tnn.Linear(2, 3))
    for model, lib in ((ours, nn), (theirs, tnn)):
        del model[1]
        model.insert(1, lib.Tanh())
        model.extend([lib.Linear(3, 1)])
        model.pop(0)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert ours(cr.ones(4, 2)).shape == (4, 1)


@pytest.mark.parametrize("build", [lambda lib: lib.Linear(2, 3, bias=False), lambda lib: lib.Conv1d(2, 3, 2, bias=False)])
def test_a_layer_without_bias_has_an_empty_bias_slot(build):
    ours, theirs = build(nn), build(torch.nn)
    assert "bias" in ours._parameters and ours.bias is None and list(ours.state_dict()) == ["weight"]
    with pytest.raises(TypeError):
        theirs.bias = torch.zeros(3)
    with pytest.raises(TypeError, match="parameter 'bias'"):
        ours.bias = cr.tensor(np.zeros(3, np.float32))  # would silently never be trained
    ours.bias = nn.Parameter(np.zeros(3, np.float32))
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]


def test_a_plain_attribute_does_not_become_a_parameter():
    for lib in (nn, torch.nn):
        m = lib.Module()
        m.x = None
        with pytest.raises(KeyError, match="already exists"):
            m.register_parameter("x", None)
