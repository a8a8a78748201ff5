"""chainrule.nn against torch.nn: layers with copied weights, containers, state dicts, reprs, init."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn

RTOL, ATOL = 1e-5, 1e-6


def _copy_weights(ours, theirs):
    """Give the torch module our parameters' values (matching names)."""
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.tensor(dict(ours.named_parameters())[name].data))


def _compare(ours, theirs, x, ids=False, check_input_grad=True):
    """Run both modules on x, backpropagate the same random weighting, compare outputs and gradients."""
    if ids:
        out, tout = ours(x), theirs(torch.tensor(x))
    else:
        xt = torch.tensor(x, requires_grad=True)
        xc = cr.tensor(x, requires_grad=True)
        out, tout = ours(xc), theirs(xt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    weights = np.random.RandomState(9).randn(*out.shape).astype(np.float32)
    (out * cr.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    for name, q in theirs.named_parameters():
        p = dict(ours.named_parameters())[name]
        if q.grad is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    if not ids and check_input_grad:
        np.testing.assert_allclose(xc.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def _x(*shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


# --------------------------------------------------------------------- layers
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_linear(bias, shape):
    cr.manual_seed(0)
    ours, theirs = nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias)
    _copy_weights(ours, theirs)
    _compare(ours, theirs, _x(*shape))


def test_linear_default_init_range():
    cr.manual_seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)  # PyTorch's kaiming_uniform(a=sqrt(5)) bound
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound
    assert layer.weight.dtype == np.float32


def test_embedding_with_padding_idx():
    cr.manual_seed(0)
    ours, theirs = nn.Embedding(10, 4, padding_idx=2), torch.nn.Embedding(10, 4, padding_idx=2)
    np.testing.assert_array_equal(ours.weight.data[2], 0)  # initialised to zero, as in torch
    _copy_weights(ours, theirs)
    ids = np.array([[1, 2, 3, 2], [3, 3, 9, 0]])
    _compare(ours, theirs, ids, ids=True)
    assert np.all(ours.weight.grad[2] == 0) and np.any(ours.weight.grad[3] != 0)


def test_embedding_negative_padding_idx_and_range():
    assert nn.Embedding(10, 4, padding_idx=-1).padding_idx == torch.nn.Embedding(10, 4, padding_idx=-1).padding_idx
    with pytest.raises(ValueError, match="padding_idx 10"):
        nn.Embedding(10, 4, padding_idx=10)


def test_embedding_from_pretrained_and_freeze():
    vectors = _x(6, 3)
    frozen = nn.Embedding.from_pretrained(vectors, padding_idx=0)
    torch_frozen = torch.nn.Embedding.from_pretrained(torch.tensor(vectors), padding_idx=0)
    assert frozen.weight.requires_grad is False and torch_frozen.weight.requires_grad is False
    np.testing.assert_array_equal(frozen.weight.data, vectors)  # the padding row keeps its values, as in torch
    assert frozen.weight.data is not vectors  # a copy: training cannot change the caller's array
    out = frozen(np.array([0, 5]))
    assert not out.requires_grad

    trained = nn.Embedding.from_pretrained(vectors, freeze=False, padding_idx=0)
    torch_trained = torch.nn.Embedding.from_pretrained(torch.tensor(vectors), freeze=False, padding_idx=0)
    _compare(trained, torch_trained, np.array([0, 1, 1, 5]), ids=True)
    assert np.all(trained.weight.grad[0] == 0)

    trained.freeze()
    assert not trained.weight.requires_grad
    assert trained.freeze(False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(np.zeros(3))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("stride,padding,k", [(1, 0, 3), (2, 1, 3), (3, 2, 4), (1, "same", 4), (1, "same", 3)])
def test_conv1d(stride, padding, k):
    cr.manual_seed(0)
    ours = nn.Conv1d(5, 4, k, stride=stride, padding=padding)
    theirs = torch.nn.Conv1d(5, 4, k, stride=stride, padding=padding)
    _copy_weights(ours, theirs)
    _compare(ours, theirs, _x(2, 5, 11))


def test_conv1d_without_bias_and_default_init():
    cr.manual_seed(0)
    ours, theirs = nn.Conv1d(3, 2, 2, bias=False), torch.nn.Conv1d(3, 2, 2, bias=False)
    assert ours.bias is None and [n for n, _ in ours.named_parameters()] == ["weight"]
    assert np.abs(ours.weight.data).max() <= 1 / math.sqrt(3 * 2)
    _copy_weights(ours, theirs)
    _compare(ours, theirs, _x(1, 3, 6))


@pytest.mark.parametrize("cls", ["MaxPool1d", "AvgPool1d"])
@pytest.mark.parametrize("k,stride,padding", [(2, None, 0), (3, 2, 1), (3, 1, 0)])
def test_pools(cls, k, stride, padding):
    ours = getattr(nn, cls)(k, stride=stride, padding=padding)
    theirs = getattr(torch.nn, cls)(k, stride=stride, padding=padding)
    _compare(ours, theirs, _x(2, 3, 9))
    assert ours.stride == (k if stride is None else stride)


def test_avg_pool_is_not_a_max_pool():
    assert not isinstance(nn.AvgPool1d(2), nn.MaxPool1d)


def test_dropout_train_and_eval():
    layer = nn.Dropout(0.3)
    x = cr.tensor(np.ones((200, 200), dtype=np.float32) * 2, requires_grad=True)
    layer.eval()
    out = layer(x)
    np.testing.assert_array_equal(out.data, x.data)
    layer.train()
    cr.manual_seed(0)
    out = layer(x)
    zero = out.data == 0
    assert abs(zero.mean() - 0.3) < 0.01
    np.testing.assert_allclose(out.data[~zero], 2 / 0.7, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(zero, 0, 1 / 0.7), rtol=1e-6)
    cr.manual_seed(0)
    np.testing.assert_array_equal(layer(x).data, out.data)  # same seed, same mask
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0)
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_activations_flatten_identity():
    x = _x(2, 3, 4)
    for name in ["ReLU", "Tanh", "Sigmoid", "Identity", "Flatten"]:
        ours, theirs = getattr(nn, name)(), getattr(torch.nn, name)()
        _compare(ours, theirs, x)
    _compare(nn.Flatten(0, 1), torch.nn.Flatten(0, 1), x)


def test_losses():
    logits, targets = _x(6, 5), np.array([0, 4, 2, 2, 1, 3])
    ours = nn.CrossEntropyLoss()(cr.tensor(logits), targets)
    theirs = torch.nn.CrossEntropyLoss()(torch.tensor(logits), torch.tensor(targets))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    y = (np.arange(6) % 2).astype(np.float32)
    ours = nn.BCEWithLogitsLoss()(cr.tensor(logits[:, 0]), y)
    theirs = torch.nn.BCEWithLogitsLoss()(torch.tensor(logits[:, 0]), torch.tensor(y))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


# ------------------------------------------------------------------ containers
class Ours(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(4, 2, k) for k in (2, 3)])
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 3), nn.Tanh())
        self.scale = 2.0  # a plain attribute: not registered

    def forward(self, ids):
        x = self.embed(ids).transpose(0, 2, 1)
        pooled = [F_max(conv(x)) for conv in self.convs]
        return self.head(cr.cat(pooled, axis=1))


class Theirs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4, padding_idx=0)
        self.convs = torch.nn.ModuleList([torch.nn.Conv1d(4, 2, k) for k in (2, 3)])
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(4, 3), torch.nn.Tanh())
        self.scale = 2.0

    def forward(self, ids):
        x = self.embed(ids).transpose(1, 2)
        pooled = [conv(x).max(dim=2).values for conv in self.convs]
        return self.head(torch.cat(pooled, dim=1))


def F_max(x):
    return x.max(axis=2)


def test_model_registration_and_gradients_match_torch():
    cr.manual_seed(0)
    ours, theirs = Ours().eval(), Theirs().eval()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    _copy_weights(ours, theirs)
    _compare(ours, theirs, np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]]), ids=True)


def test_train_eval_reach_every_submodule():
    model = Ours()
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert model.head[0].training


def test_zero_grad():
    model = nn.Linear(2, 2)
    model(cr.ones(1, 2)).sum().backward()
    assert model.weight.grad is not None
    held = model.weight.grad
    model.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model.weight.grad, 0)
    assert model.weight.grad is held  # in place, as in PyTorch
    model.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None


def test_sequential_indexing_and_ordered_dict():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert isinstance(seq[-1], nn.ReLU) and len(seq) == 2
    assert isinstance(seq[:1], nn.Sequential) and list(seq[:1].state_dict()) == ["fc.weight", "fc.bias"]
    seq.append(nn.Linear(3, 1))
    assert seq(cr.ones(4, 2)).shape == (4, 1)
    with pytest.raises(IndexError, match="out of range"):
        seq[5]


def test_module_list_operations():
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    first = layers[0]
    layers.insert(0, nn.Tanh())
    assert layers[1] is first and next(n for n, _ in layers.named_parameters()) == "1.weight"
    del layers[0]
    assert layers[0] is first and len(layers) == 3
    layers += [nn.ReLU()]
    layers[3] = nn.Sigmoid()
    assert isinstance(layers[-1], nn.Sigmoid) and len(layers) == 4
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 3


def test_tied_parameters_are_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    ta, tb = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    tb.weight = ta.weight
    tmodel = torch.nn.Sequential(ta, tb)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())


def test_assigning_a_plain_tensor_to_a_parameter_is_refused():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = cr.ones(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer(cr.ones(1, 2)).shape == (1, 2)


def test_buffers():
    model = nn.Linear(2, 2)
    model.register_buffer("mean", np.zeros(2, dtype=np.float32))
    model.register_buffer("scratch", np.zeros(5), persistent=False)
    assert list(model.state_dict()) == ["weight", "bias", "mean"]
    model.mean = np.ones(2, dtype=np.float32)  # a new value keeps it a buffer
    np.testing.assert_array_equal(model.state_dict()["mean"], 1)
    assert [n for n, _ in model.named_buffers()] == ["mean", "scratch"]
    sd = {k: np.array(v) for k, v in model.state_dict().items()}
    sd["mean"] = np.array([3.0, 4.0], dtype=np.float32)
    model.load_state_dict(sd)
    np.testing.assert_array_equal(model.mean, [3.0, 4.0])
    with pytest.raises(KeyError, match="already exists"):
        model.register_buffer("weight", np.zeros(1))
    model.mean = None  # a buffer set to None is not listed, as in PyTorch
    assert [n for n, _ in model.named_buffers()] == ["scratch"]


def test_registration_cannot_leave_a_module_half_replaced():
    outer = nn.Sequential()
    outer.sub = nn.Linear(2, 2)
    outer.register_buffer("mask", np.ones(2))
    for name in ("sub", "mask"):
        with pytest.raises(KeyError, match=f"attribute '{name}' already exists"):
            outer.register_parameter(name, None)
    assert [n for n, _ in outer.named_parameters()] == ["sub.weight", "sub.bias"] and outer.sub is not None
    # A name registered as None can take a Parameter later, as in PyTorch.
    no_bias = nn.Linear(2, 3, bias=False)
    no_bias.register_parameter("bias", nn.Parameter(np.zeros(3, dtype=np.float32)))
    assert [n for n, _ in no_bias.named_parameters()] == ["weight", "bias"]
    # A Module over a Parameter is refused (it would leave the parameter listed and trained).
    layer = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="parameter 'bias'"):
        layer.bias = nn.Linear(1, 1)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_flatten_of_an_empty_batch():
    assert nn.Flatten()(cr.zeros(0, 3, 4)).shape == (0, 12)
    assert nn.Flatten(0, 1)(cr.zeros(2, 0, 4)).shape == (0, 4)


# ----------------------------------------------------------------- state dicts
def test_state_dict_round_trip(tmp_path):
    cr.manual_seed(0)
    a = Ours().eval()
    cr.manual_seed(1)
    b = Ours().eval()
    ids = np.array([[1, 2, 3, 4]])
    assert not np.allclose(a(ids).data, b(ids).data)
    cr.save(a.state_dict(), tmp_path / "model")
    result = b.load_state_dict(cr.load(tmp_path / "model"))
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(ids).data, b(ids).data)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert y.dtype == np.float32 and x is not y, k


def test_state_dict_shares_memory_as_in_torch_and_load_copies_in_place():
    layer = nn.Linear(2, 2)
    sd = layer.state_dict()
    assert sd["weight"] is layer.weight.data
    data = layer.weight.data
    layer.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})  # float64 in, float32 kept
    assert layer.weight.data is data and data.dtype == np.float32
    np.testing.assert_array_equal(data, 1)
    assert next(iter(layer.state_dict(keep_vars=True).values())) is layer.weight


def test_state_dict_prefix_as_in_torch():
    ours, theirs = nn.Sequential(nn.Linear(2, 3)), torch.nn.Sequential(torch.nn.Linear(2, 3))
    assert list(ours.state_dict(prefix="model.")) == list(theirs.state_dict(prefix="model.")) \
        == ["model.0.weight", "model.0.bias"]


def test_load_state_dict_errors_name_the_problem():
    model = Ours()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    sd = {k: np.zeros_like(v) for k, v in model.state_dict().items()}
    missing = dict(sd)
    del missing["head.1.bias"]
    with pytest.raises(RuntimeError, match='Missing key.*"head.1.bias"'):
        model.load_state_dict(missing)
    extra = dict(sd, **{"head.9.weight": np.zeros(1)})
    with pytest.raises(RuntimeError, match='Unexpected key.*"head.9.weight"'):
        model.load_state_dict(extra)
    wrong = dict(sd, **{"embed.weight": np.zeros((11, 4))})
    with pytest.raises(RuntimeError, match=r"size mismatch for embed.weight.*\(11, 4\).*\(10, 4\)"):
        model.load_state_dict(wrong)
    for k, v in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    result = model.load_state_dict(extra, strict=False)
    assert result.unexpected_keys == ["head.9.weight"] and result.missing_keys == []
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict(wrong, strict=False)  # shapes are checked even when not strict


def test_repr_matches_torch():
    assert repr(nn.Linear(3, 2)) == repr(torch.nn.Linear(3, 2))
    assert repr(nn.Embedding(10, 4, padding_idx=0)) == repr(torch.nn.Embedding(10, 4, padding_idx=0))
    ours = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Sequential(nn.Tanh(), nn.Linear(2, 1, bias=False)))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(2, 1, bias=False)))
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList([nn.ReLU()])) == repr(torch.nn.ModuleList([torch.nn.ReLU()]))


def test_repr_of_other_layers():
    assert repr(nn.Conv1d(4, 8, 3, padding=1)) == "Conv1d(4, 8, kernel_size=3, stride=1, padding=1)"
    assert repr(nn.MaxPool1d(2)) == "MaxPool1d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    text = repr(Ours())
    assert text.startswith("Ours(\n  (embed): Embedding(10, 4, padding_idx=0)\n  (convs): ModuleList(\n")
    assert "    (1): Conv1d(4, 2, kernel_size=3, stride=1)\n" in text


def test_module_needs_super_init():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Broken()


# ------------------------------------------------------------------------ init
def test_calculate_gain_matches_torch():
    for name in ["linear", "conv1d", "sigmoid", "tanh", "relu", "selu"]:
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.init.calculate_gain("swish")


@pytest.mark.parametrize("name,bound,std", [
    ("xavier_uniform_", math.sqrt(6 / (200 + 300)), math.sqrt(6 / 500) / math.sqrt(3)),
    ("xavier_normal_", None, math.sqrt(2 / 500)),
    ("kaiming_uniform_", math.sqrt(2) * math.sqrt(3 / 300), math.sqrt(2 / 300)),
    ("kaiming_normal_", None, math.sqrt(2 / 300)),
    ("small_uniform_", 0.01, 0.01 / math.sqrt(3)),
    ("small_normal_", None, 0.01),
])
def test_initialisers_have_the_right_scale(name, bound, std):
    cr.manual_seed(0)
    w = nn.Parameter(np.zeros((200, 300), dtype=np.float32))  # fan_in 300, fan_out 200
    getattr(nn.init, name)(w)
    assert w.dtype == np.float32
    if bound is not None:
        assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.99 * bound
    assert w.data.std() == pytest.approx(std, rel=0.02)
    assert abs(w.data.mean()) < 0.02 * std  # 60,000 draws: the mean's standard error is std / 245


def test_init_fans_of_conv_weights_and_errors():
    cr.manual_seed(0)
    w = nn.Parameter(np.zeros((64, 32, 5), dtype=np.float32))  # fan_in 32*5, fan_out 64*5
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(2) * math.sqrt(3 / (64 * 5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))
    with pytest.raises(ValueError, match="fan_in"):
        nn.init.kaiming_normal_(w, mode="fan_middle")


def test_parameter():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert p.requires_grad and repr(p).startswith("Parameter containing:")
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.zeros(2, dtype=np.int64))
