"""TextCNN against an equivalent PyTorch model with the same weights: forward values and every gradient."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F
from chainrule.models.textcnn import TextCNN, conv_out_len, k_max_pool1d

torch = pytest.importorskip("torch")
tF = torch.nn.functional


def torch_forward(model, ids, features, weights):
    """Kim's network written directly in PyTorch, reading the weights from ``weights`` (torch leaves)."""
    ids_t = torch.as_tensor(ids)
    # Padding (id 0) gets no gradient, as with torch.nn.Embedding(padding_idx=0).
    channels = [tF.embedding(ids_t, weights["embedding.weight"], padding_idx=0)]
    if model.mode == "multichannel":
        channels.append(tF.embedding(ids_t, weights["static_embedding.weight"], padding_idx=0))
    if features is not None:
        f = torch.as_tensor(features)
        channels = [torch.cat([c, f], dim=2) for c in channels]
    pooled = []
    for i, width in enumerate(model.filter_sizes):
        w, b = weights[f"convs.{i}.weight"], weights[f"convs.{i}.bias"]
        # Each filter is applied to every channel and the results added (Kim's multichannel).
        h = sum(tF.conv1d(c.transpose(1, 2), w, None, stride=model.stride, padding=model.padding)
                for c in channels) + b[None, :, None]
        h = torch.relu(h) if model.activation == "relu" else torch.tanh(h)
        valid = torch.as_tensor(window_in_sentence(ids, width, h.shape[2], model))[:, None, :]
        if model.pool == "kmax":
            masked = h.masked_fill(~valid, -torch.inf)
            idx = masked.topk(model.k, dim=2).indices.sort(dim=2).values
            p = h.gather(2, idx)
        elif model.pool_size is None:
            if model.pool == "max":
                p = h.masked_fill(~valid, -torch.inf).amax(dim=2, keepdim=True)
            else:
                p = (h * valid).sum(dim=2, keepdim=True) / valid.sum(dim=2, keepdim=True)
        else:
            pool = tF.max_pool1d if model.pool == "max" else tF.avg_pool1d
            p = pool(h, model.pool_size, model.pool_stride)
        pooled.append(p.flatten(1))
    z = torch.cat(pooled, dim=1)
    return tF.linear(z, weights["fc.weight"], weights["fc.bias"])


def window_in_sentence(ids, width, out_len, model):
    """The output positions of each sentence convolved alone (the test sentences are long enough for
    every filter, so no minimum length comes in)."""
    length = (ids != 0).sum(axis=1)
    pad = (width - 1) // 2 if model.padding == "same" else model.padding
    if model.padding == "same":
        own = length
    else:
        own = (length + 2 * pad - width) // model.stride + 1
    return np.arange(out_len)[None, :] < own[:, None]


def compare_with_torch(model, ids, features=None, labels=None):
    model.train()
    logits = model(ids, features)
    labels = np.arange(len(ids)) % model.config["num_classes"] if labels is None else labels
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    weights = {name: torch.tensor(p.data.copy(), requires_grad=p.requires_grad)
               for name, p in model.named_parameters()}
    t_logits = torch_forward(model, ids, features, weights)
    t_loss = tF.cross_entropy(t_logits, torch.as_tensor(labels))
    t_loss.backward()

    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-5)
    for name, p in model.named_parameters():
        tw = weights[name]
        if not p.requires_grad:
            assert p.grad is None and tw.grad is None, name
            continue
        np.testing.assert_allclose(p.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def batch(n=6, length=9, vocab=20, seed=0):
    g = np.random.default_rng(seed)
    ids = g.integers(1, vocab, size=(n, length))
    ids[0, 5:] = 0  # a padded sentence
    return ids


def vectors(vocab=20, dim=8, seed=1):
    return np.random.default_rng(seed).normal(size=(vocab, dim)).astype(np.float32)


@pytest.mark.parametrize("mode", ["rand", "static", "non-static", "multichannel"])
def test_modes_match_torch(mode):
    cr.manual_seed(0)
    vec = None if mode == "rand" else vectors()
    model = TextCNN(20, 3, embed_dim=8, filter_sizes=(2, 3, 4), num_maps=5, mode=mode, vectors=vec, dropout=0.0)
    compare_with_torch(model, batch())
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert ("embedding.weight" in trainable) == (mode != "static")
    assert "static_embedding.weight" not in trainable


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride,padding", [(2, 0), (1, 2), (3, 1), (1, "same")])
def test_stride_and_padding_match_torch(stride, padding):
    cr.manual_seed(1)
    model = TextCNN(20, 2, embed_dim=6, filter_sizes=(3, 4), num_maps=4, mode="multichannel", vectors=vectors(dim=6),
                    stride=stride, padding=padding, dropout=0.0)
    compare_with_torch(model, batch(length=11))


@pytest.mark.parametrize("pool,extra", [("avg", {}), ("kmax", {"k": 3}), ("max", {"pool_size": 3, "pool_stride": 2}),
                                        ("avg", {"pool_size": 2})])
def test_pooling_and_tanh_match_torch(pool, extra):
    cr.manual_seed(2)
    model = TextCNN(20, 2, embed_dim=6, filter_sizes=(2, 3), num_maps=4, pool=pool, activation="tanh",
                    max_len=10, dropout=0.0, **extra)
    compare_with_torch(model, batch(length=10))


def test_feature_channels_match_torch():
    cr.manual_seed(3)
    model = TextCNN(20, 2, embed_dim=6, filter_sizes=(3,), num_maps=4, mode="non-static", vectors=vectors(dim=6),
                    feature_channels=2, dropout=0.0)
    feats = np.random.default_rng(4).normal(size=(6, 9, 2)).astype(np.float32)
    compare_with_torch(model, batch(), feats)
    with pytest.raises(ValueError, match=r"features have shape \(6, 9, 3\)"):
        model(batch(), np.zeros((6, 9, 3), np.float32))
    with pytest.raises(ValueError, match="feature channels"):
        model(batch())


def test_k_max_pool_keeps_order_and_routes_gradient():
    x = cr.tensor([[[1.0, 5.0, 3.0, 4.0, 2.0]]], requires_grad=True)
    y = k_max_pool1d(x, 3)
    assert y.data.tolist() == [[[5.0, 3.0, 4.0]]]
    (y * cr.tensor([[[1.0, 2.0, 3.0]]])).sum().backward()
    assert x.grad.tolist() == [[[0.0, 1.0, 2.0, 3.0, 0.0]]]
    with pytest.raises(ValueError, match="k=6"):
        k_max_pool1d(x, 6)


def test_k_max_pool_keeps_a_nan_and_the_earliest_of_tied_values():
    assert k_max_pool1d(cr.tensor([[[1.0, np.nan, 3.0, 2.0]]]), 2).data.tolist()[0][0][1] == 3.0
    assert np.isnan(k_max_pool1d(cr.tensor([[[1.0, np.nan, 3.0, 2.0]]]), 2).data[0, 0, 0])
    # [2, 3, 2, 1], k=2: 3 and the first 2, in sentence order.
    x = cr.tensor([[[2.0, 3.0, 2.0, 1.0]] * 64], requires_grad=True)
    y = k_max_pool1d(x, 2)
    assert (y.data == np.array([2.0, 3.0])).all()
    y.sum().backward()
    assert (x.grad == np.array([1.0, 1.0, 0.0, 0.0])).all()


def test_padding_row_stays_zero_and_gets_no_gradient():
    cr.manual_seed(5)
    model = TextCNN(20, 2, embed_dim=4, filter_sizes=(2,), num_maps=3, dropout=0.0)
    assert not model.embedding.weight.data[0].any()
    emb = model.embedding.weight.data[1:]
    assert emb.min() >= -0.25 and emb.max() <= 0.25 and emb.std() > 0.1  # Kim's U[-0.25, 0.25]
    F.cross_entropy(model(batch()), np.zeros(6, dtype=np.int64)).backward()
    assert not model.embedding.weight.grad[0].any()


def test_max_norm_constraint_rescales_long_rows_only():
    model = TextCNN(10, 3, embed_dim=4, filter_sizes=(2,), num_maps=4, max_norm=3.0)
    w = model.fc.weight.data
    w[...] = 0
    w[0, :] = 10.0  # norm 20 -> rescaled to 3
    w[1, :2] = 1.0  # norm sqrt(2) -> untouched
    model.apply_max_norm()
    assert np.linalg.norm(w[0]) == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_allclose(w[1], [1, 1, 0, 0])


def test_dropout_only_in_training():
    cr.manual_seed(6)
    model = TextCNN(20, 2, embed_dim=4, filter_sizes=(2,), num_maps=50, dropout=0.5)
    ids = batch()
    model.eval()
    a, b = model(ids).data, model(ids).data
    np.testing.assert_array_equal(a, b)
    model.train()
    assert not np.allclose(model(ids).data, a)


def test_shapes_errors_and_min_length():
    model = TextCNN(20, 2, embed_dim=4, filter_sizes=(3, 5), num_maps=2)
    assert model.min_length() == 5
    assert TextCNN(20, 2, embed_dim=4, filter_sizes=(3,), pool="kmax", k=4).min_length() == 6
    assert TextCNN(20, 2, embed_dim=4, filter_sizes=(5,), padding="same").min_length() == 1
    assert conv_out_len(10, 3, 2, 1) == 5
    with pytest.raises(ValueError, match="shorter than the kernel size"):
        model(np.ones((2, 4), np.int64))
    with pytest.raises(ValueError, match="needs pretrained vectors"):
        TextCNN(20, 2, mode="static")
    with pytest.raises(ValueError, match="8 wide but embed_dim is 5"):
        TextCNN(20, 2, embed_dim=5, mode="static", vectors=vectors(dim=8))
    with pytest.raises(ValueError, match="max_len"):
        TextCNN(20, 2, embed_dim=4, pool_size=2)
    windowed = TextCNN(20, 2, embed_dim=4, filter_sizes=(3,), pool_size=2, max_len=9)
    with pytest.raises(ValueError, match="exactly max_len=9"):
        windowed(np.ones((2, 7), np.int64))
    # k-max over windows is not a thing this model does (it used to run average pooling instead)
    with pytest.raises(ValueError, match="k-max pooling .* takes no pool_size"):
        TextCNN(20, 2, embed_dim=4, filter_sizes=(3,), pool="kmax", k=2, pool_size=2, max_len=9)


def test_from_config_round_trip():
    cr.manual_seed(7)
    model = TextCNN(20, 2, embed_dim=6, filter_sizes=(2, 3), num_maps=3, mode="multichannel", vectors=vectors(dim=6),
                    pool="kmax", k=2)
    clone = TextCNN.from_config(model.config)
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    np.testing.assert_array_equal(model(batch()).data, clone(batch()).data)
    assert not clone.static_embedding.weight.requires_grad


def test_a_negative_padding_idx_still_masks_the_padding():
    cr.manual_seed(0)
    model = TextCNN(30, 2, embed_dim=6, num_maps=4, dropout=0.0, padding_idx=-1).eval()
    alone = np.full((1, 5), 29)
    alone[0] = [3, 4, 5, 6, 7]
    batch_of_two = np.full((2, 12), 29)
    batch_of_two[0, :5] = [3, 4, 5, 6, 7]
    batch_of_two[1] = np.arange(1, 13)
    assert model.lengths_of(batch_of_two).tolist() == [5, 12]
    np.testing.assert_allclose(model(alone).data[0], model(batch_of_two).data[0], rtol=1e-6, atol=1e-7)


def test_embed_dim_defaults_to_the_vectors_width_or_kims_300():
    assert TextCNN(10, 2, mode="non-static", vectors=np.zeros((10, 50))).config["embed_dim"] == 50
    assert TextCNN(10, 2).config["embed_dim"] == 300


@pytest.mark.parametrize("pool,padding", [("max", 0), ("avg", 1), ("kmax", "same")])
def test_extra_padding_changes_nothing(pool, padding):
    cr.manual_seed(8)
    model = TextCNN(20, 2, embed_dim=6, filter_sizes=(2, 4), num_maps=5, pool=pool, k=2, padding=padding,
                    dropout=0.0).eval()
    ids = batch(length=9)
    wide = np.concatenate([ids, np.zeros((6, 7), ids.dtype)], axis=1)
    np.testing.assert_allclose(model(ids).data, model(wide).data, rtol=1e-6, atol=1e-7)
    # A sentence shorter than the model's minimum scores as if padded to that minimum.
    one_word = np.array([[5] + [0] * (model.min_length() - 1)])
    padded = np.array([[5] + [0] * 12])
    np.testing.assert_allclose(model(one_word).data, model(padded).data, rtol=1e-6, atol=1e-7)
