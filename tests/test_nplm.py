"""NeuralLM: shapes, options, and forward + backward against an equivalent PyTorch module."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.models.nplm import NeuralLM

torch = pytest.importorskip("torch")


def _torch_twin(model):
    """A PyTorch module computing the same function with copies of ``model``'s weights."""
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            v, m, ctx, h = model.vocab_size, model.emb_dim, model.context_size, model.hidden_size
            self.embedding = tnn.Embedding(v, m)
            self.hidden = tnn.Linear(ctx * m, h)
            self.tied = model.output is None
            if self.tied:  # the output weights are the embedding table
                self.output_bias = tnn.Parameter(torch.zeros(v))
            else:
                self.output = tnn.Linear(h, v)
            self.direct = tnn.Linear(ctx * m, v, bias=False) if model.direct is not None else None

        def forward(self, ids):
            e = self.embedding(ids).reshape(ids.shape[0], -1)
            h = torch.tanh(self.hidden(e))
            z = h @ self.embedding.weight.T + self.output_bias if self.tied else self.output(h)
            return z + self.direct(e) if self.direct is not None else z

    twin = Twin().double()
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.from_numpy(model.state_dict()[name].astype(np.float64)))
    return twin


@pytest.mark.parametrize("direct,tie", [(False, False), (True, False), (False, True), (True, True)])
def test_matches_pytorch_forward_and_backward(direct, tie):
    cr.manual_seed(0)
    model = NeuralLM(vocab_size=23, context_size=3, emb_dim=5, hidden=5 if tie else 7, direct=direct, tie=tie)
    if tie:  # a non-zero bias, so the tied path's bias is checked too
        model.output_bias.data[...] = cr.randn(23).data * 0.1
    if direct:  # start from non-zero direct weights so their effect is checked
        model.direct.weight.data[...] = cr.randn(23, 15).data * 0.1
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 23, size=(11, 3))
    ids[0] = ids[1]  # repeated ids: the embedding gradient must accumulate
    targets = rng.integers(0, 23, size=11)

    logits = model(ids)
    loss = F.cross_entropy(logits, targets)
    loss.backward()

    twin = _torch_twin(model)
    t_logits = twin(torch.from_numpy(ids))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(targets))
    t_loss.backward()

    assert logits.shape == (11, 23)
    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-5)
    grads = dict(twin.named_parameters())
    names = [name for name, _ in model.named_parameters()]
    assert sorted(names) == sorted(grads)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_tied_model_shares_one_table_and_checks_its_sizes():
    model = NeuralLM(vocab_size=13, context_size=2, emb_dim=6, hidden=6, tie=True)
    names = dict(model.named_parameters())
    assert "output.weight" not in names and "output_bias" in names
    assert sum(p.data.size for p in model.parameters()) == 13 * 6 + (12 * 6 + 6) + 13
    with pytest.raises(ValueError, match="hidden must equal emb_dim"):
        NeuralLM(vocab_size=13, context_size=2, emb_dim=6, hidden=8, tie=True)
    with pytest.raises(ValueError, match="cannot be frozen"):
        NeuralLM(vocab_size=13, context_size=2, emb_dim=6, hidden=6, tie=True, pretrained=np.zeros((13, 6)),
                 freeze=True)


def test_log_probs_sum_to_one_and_match_cross_entropy():
    cr.manual_seed(0)
    model = NeuralLM(vocab_size=17, context_size=2, emb_dim=4, hidden=6, direct=True, dropout=0.3)
    ctx = np.random.default_rng(0).integers(0, 17, size=(9, 2))
    full = model.next_log_probs(ctx)
    np.testing.assert_allclose(np.exp(full).sum(axis=1), 1.0, rtol=1e-9)
    targets = np.arange(9)
    lp = model.log_probs(ctx, targets, batch_size=4)  # several batches
    assert lp.dtype == np.float64
    model.eval()
    ce = F.cross_entropy(model(ctx), targets, reduction="none").data
    np.testing.assert_allclose(-lp, ce, rtol=1e-5)
    assert model.training is False  # left as it was
    model.train()
    model.log_probs(ctx, targets)
    assert model.training  # eval only during scoring


def test_dropout_only_in_training():
    cr.manual_seed(0)
    model = NeuralLM(vocab_size=10, context_size=2, emb_dim=4, hidden=8, dropout=0.5)
    ids = np.zeros((3, 2), dtype=np.int64)
    model.eval()
    np.testing.assert_array_equal(model(ids).data, model(ids).data)
    model.train()
    assert not np.array_equal(model(ids).data, model(ids).data)


def test_pretrained_frozen_and_fine_tuned():
    vectors = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.array([[1, 2]])
    frozen = NeuralLM(6, 2, emb_dim=2, hidden=3, pretrained=vectors, freeze=True)
    np.testing.assert_array_equal(frozen.embedding.weight.data, vectors)
    F.cross_entropy(frozen(ids), [0]).backward()
    assert frozen.embedding.weight.grad is None
    assert frozen.num_parameters(trainable_only=True) == frozen.num_parameters() - 12

    tuned = NeuralLM(6, 2, emb_dim=2, hidden=3, pretrained=vectors, freeze=False)
    F.cross_entropy(tuned(ids), [0]).backward()
    g = tuned.embedding.weight.grad
    assert np.abs(g[[1, 2]]).sum() > 0 and not g[[0, 3, 4, 5]].any()

    with pytest.raises(ValueError, match=r"\(6, 3\)"):
        NeuralLM(6, 2, emb_dim=3, hidden=3, pretrained=vectors)


def test_bad_context_shape_is_reported():
    model = NeuralLM(10, 3, emb_dim=2, hidden=2)
    with pytest.raises(ValueError, match=r"\(batch, 3\).*\(4, 2\)"):
        model(np.zeros((4, 2), dtype=np.int64))
    # A negative target used to wrap to the last word; one past the end was a bare IndexError.
    for bad in (-1, 10):
        with pytest.raises(ValueError, match=f"target id {bad} is outside the vocabulary of 10 words"):
            model.log_probs([[1, 2, 3]], [bad])


def test_state_dict_round_trip_and_config():
    cr.manual_seed(3)
    a = NeuralLM(12, 2, emb_dim=3, hidden=4, direct=True)
    b = NeuralLM(**a.config())
    b.load_state_dict(a.state_dict())
    ids = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(a(ids).data, b(ids).data)
