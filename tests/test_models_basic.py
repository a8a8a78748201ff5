"""The lecture's models (logistic regression, MLP) and the Standardizer."""
import io

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule import optim
from chainrule.models.logistic import LogisticRegression
from chainrule.models.mlp import MLP
from chainrule.preprocessing import Standardizer


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------- logistic regression
def test_logistic_gradient_equals_closed_form_for_one_example():
    rng = np.random.default_rng(0)
    model = LogisticRegression(4)
    w = rng.standard_normal(4).astype(np.float32)
    model.linear.weight.data[...] = w
    model.linear.bias.data[...] = 0.3
    x = rng.standard_normal(4).astype(np.float32)
    for y in (0.0, 1.0):
        model.zero_grad()
        model.loss(model(cr.tensor(x[None])), [y]).backward()
        residual = _sigmoid(w.astype(np.float64) @ x + 0.3) - y
        # dL/dw_j = (sigma(w.x + b) - y) x_j  and  dL/db = sigma(w.x + b) - y
        np.testing.assert_allclose(model.linear.weight.grad[0], residual * x, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(model.linear.bias.grad, [residual], rtol=1e-5, atol=1e-7)


def test_logistic_gradient_equals_closed_form_for_a_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = LogisticRegression(5)
    model.linear.weight.data[...] = rng.standard_normal((1, 5))
    loss = model.loss(model(cr.tensor(x)), y)  # mean over the batch
    loss.backward()
    p = _sigmoid(x.astype(np.float64) @ model.linear.weight.data[0].astype(np.float64) + model.linear.bias.data[0])
    expected_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss.item() == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(model.linear.weight.grad[0], (p - y) @ x / 16, rtol=1e-4, atol=1e-7)


def test_multinomial_gradient_equals_closed_form():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    model = LogisticRegression(3, num_classes=4)
    assert model.multinomial
    model.linear.weight.data[...] = rng.standard_normal((4, 3))
    model.loss(model(cr.tensor(x)), y).backward()
    z = x.astype(np.float64) @ model.linear.weight.data.T.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # dL/dW = (softmax(Wx) - onehot(y))^T x / N
    np.testing.assert_allclose(model.linear.weight.grad, (p - np.eye(4)[y]).T @ x / 8, rtol=1e-4, atol=1e-7)
    probs = model.predict_proba(x)
    assert probs.shape == (8, 4) and np.allclose(probs.sum(1), 1)


def test_logistic_learns_a_separable_problem():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1] > 0).astype(np.int64)
    model = LogisticRegression(2)
    opt = optim.SGD(model.parameters(), lr=1.0)
    xt = cr.tensor(x)
    for _ in range(100):
        loss = model.loss(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model.predict(x) == y).mean() >= 0.98
    assert model.predict(x).dtype == np.int64


def test_logistic_errors():
    with pytest.raises(ValueError, match="features"):
        LogisticRegression(3)(cr.randn(2, 4))
    with pytest.raises(ValueError, match="multinomial=True"):
        LogisticRegression(3, num_classes=3, multinomial=False)
    with pytest.raises(ValueError, match="at least 2"):
        LogisticRegression(3, num_classes=1)
    binary, multi = LogisticRegression(3), LogisticRegression(3, num_classes=3)
    with pytest.raises(ValueError, match=r"binary targets must lie in \[0, 1\]"):
        binary.loss(binary(cr.randn(2, 3)), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="fractional"):  # 0.7 would have been truncated to class 0
        multi.loss(multi(cr.randn(2, 3)), np.array([0.7, 1.0]))
    assert np.isfinite(binary.loss(binary(cr.randn(2, 3)), np.array([0.25, 1.0])).item())  # soft labels


# ------------------------------------------------------------------------- MLP
def test_mlp_learns_xor_like_problem():
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)  # not linearly separable
    model = MLP(2, hidden=(16, 16), out_features=2, activation="tanh", dropout=0.1)
    opt = optim.Adam(model.parameters(), lr=0.02)
    xt = cr.tensor(x)
    for _ in range(300):
        loss = F.cross_entropy(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with cr.no_grad():
        accuracy = (model(xt).data.argmax(1) == y).mean()
    assert accuracy >= 0.95


def test_mlp_structure_and_inits():
    cr.manual_seed(0)
    model = MLP(10, hidden=(8, 6), out_features=3, activation="relu", dropout=0.5)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias", "net.6.weight", "net.6.bias"]
    assert model.init == "he" and model(cr.randn(4, 10)).shape == (4, 3)
    assert MLP(4, hidden=3, activation="tanh").init == "xavier"
    small = MLP(50, hidden=(40,), init="small")
    for name, p in small.named_parameters():
        assert np.abs(p.data).max() <= 0.01
        if name.endswith("bias"):
            assert not p.data.any()
    he = MLP(400, hidden=(300,), init="he")
    # He uniform: U(-b, b), b = sqrt(2) * sqrt(3 / fan_in), whose std is sqrt(2 / fan_in).
    assert he.net[0].weight.data.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    # No dropout layers when dropout == 0; dropout is off in eval mode.
    assert len(MLP(4, hidden=(3,)).net) == 3
    model.eval()
    x = cr.randn(5, 10)
    np.testing.assert_array_equal(model(x).data, model(x).data)


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "gelu"}, "unknown activation"),
    ({"init": "orthogonal"}, "unknown init"),
    ({"dropout": 1.0}, "dropout"),
    ({"hidden": (0,)}, "positive"),
])
def test_mlp_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(4, **kwargs)


# ------------------------------------------------------------------ Standardizer
def test_standardizer_fits_on_train_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(1000, 50, 100), rng.normal(0, 0.01, 100), np.full(100, 7.0)]).astype(np.float32)
    scaler = Standardizer().fit(x)
    z = scaler.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(0), 1, rtol=1e-4)
    assert np.all(z[:, 2] == 0) and np.isfinite(z).all()  # the constant column: zeros, no division by zero
    # Held-out data uses the training statistics unchanged: computed here independently of the scaler,
    # so a transform that refitted on its input would fail.
    other = x[:10] + 50
    train = x.astype(np.float64)
    np.testing.assert_allclose(scaler.transform(other)[:, 0], (other[:, 0] - train[:, 0].mean()) / train[:, 0].std(),
                               rtol=1e-5)
    np.testing.assert_allclose(scaler.mean_, train.mean(0), rtol=1e-12)  # and transform left them alone
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-5)
    with pytest.raises(ValueError, match="2 columns"):
        scaler.inverse_transform(np.zeros((2, 2)))


def test_standardizer_constant_float64_column_is_not_blown_up():
    # The std of 100 copies of 12345.6789 is rounding noise (~1e-11), not 0.
    x = np.column_stack([np.full(100, 12345.6789), np.arange(100.0)])
    scaler = Standardizer().fit(x)
    assert scaler.scale_[0] == 1.0
    np.testing.assert_allclose(scaler.transform(np.array([[12345.6789, 0.0], [12345.7, 1.0]]))[:, 0], [0, 0.0211],
                               atol=1e-6)  # the offset from the training value, unscaled (it was 1.45e9)
    with pytest.raises(ValueError, match="positive and finite"):
        Standardizer().load_state_dict({"mean": [0.0], "scale": [np.nan]})


def test_standardizer_state_and_tensors():
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    scaler = Standardizer().fit(x)
    state = scaler.state_dict()
    assert set(state) == {"mean", "scale"} and all(isinstance(v, np.ndarray) for v in state.values())
    buf = io.BytesIO()
    np.savez(buf, **state)  # saved as plain arrays: no pickle needed to read them back
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        restored = Standardizer().load_state_dict(dict(f))
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    out = scaler.transform(cr.tensor(x.astype(np.float32)))
    assert isinstance(out, cr.Tensor) and out.dtype == np.float32


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Standardizer().transform(np.ones((2, 2)))
    scaler = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 columns"):
        scaler.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        Standardizer().fit(np.ones(5))
    with pytest.raises(ValueError, match="non-finite value at row 1, column 0"):
        Standardizer().fit(np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(KeyError, match="scale"):
        Standardizer().load_state_dict({"mean": np.zeros(2)})


def test_empty_results_and_unfitted_featurizer_say_what_is_wrong():
    from chainrule.cnn.baseline import BowConfig, train_bow
    from chainrule.datasets.labelled import LabelledSplit
    from chainrule.models.bow import NgramFeaturizer
    from chainrule.models.perplexity import Score
    with pytest.raises(ValueError, match="mean NLL of no tokens"):
        _ = Score.zero().mean_nll
    with pytest.raises(RuntimeError, match="call fit"):
        _ = NgramFeaturizer().num_features
    train = LabelledSplit(["good film", "bad film"] * 5, ["pos", "neg"] * 5, "t.tsv")
    with pytest.raises(ValueError, match="dev split is empty"):
        train_bow(train, BowConfig(epochs=1), dev=LabelledSplit([], [], "d.tsv"))
