"""Training, cross-validation, metrics, n-gram inspection and the baseline, on small synthetic data."""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.cnn import CNNConfig, TextClassifier, train_textcnn
from chainrule.cnn.baseline import BowConfig, train_bow
from chainrule.cnn.compare import compare, format_table
from chainrule.cnn.crossval import cross_validate, kfold_indices
from chainrule.cnn.data import TextEncoder, pretrained_matrix, token_features
from chainrule.cnn.metrics import classification_metrics, confusion_matrix, macro_f1, plot_confusion
from chainrule.cnn.ngrams import top_ngrams
from chainrule.datasets import KeyedVectors, save_word2vec_text
from chainrule.datasets.errors import DataError
from chainrule.datasets.labelled import LabelledData, LabelledSplit
from chainrule.models.bow import BagOfNgrams, NgramFeaturizer, ngrams
from chainrule.models.textcnn import TextCNN
from chainrule.text import Vocab

POS = ["good", "great", "fine", "lovely", "superb"]
NEG = ["bad", "awful", "poor", "dull", "boring"]
FILL = ["the", "a", "movie", "film", "was", "is", "very", "quite", "plot", "acting"]


def synthetic(n, seed=0, source="synthetic"):
    """Sentences of filler words with one sentiment word that decides the label."""
    g = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 1
        words = list(g.choice(FILL, size=g.integers(3, 10)))
        words.insert(int(g.integers(len(words) + 1)), (POS if positive else NEG)[g.integers(5)])
        texts.append(" ".join(words))
        labels.append("pos" if positive else "neg")
    return LabelledSplit(texts, labels, source)


def fast(**changes):
    """A small, quickly learning configuration (Adam instead of Kim's Adadelta, few maps)."""
    settings = {"maps": 6, "embed_dim": 12, "filters": (2, 3), "epochs": 6, "optimizer": "adam", "lr": 0.02,
                "dropout": 0.2}
    settings.update(changes)
    return CNNConfig(**settings)


def glove_like():
    """Pretrained-style vectors in which sentiment words point one way or the other."""
    g = np.random.default_rng(3)
    words = POS + NEG + FILL[:6]
    matrix = g.normal(scale=0.3, size=(len(words), 12)).astype(np.float32)
    matrix[:5, 0] += 2.0
    matrix[5:10, 0] -= 2.0
    return KeyedVectors(words, matrix)


def test_kim_defaults():
    c = CNNConfig()
    assert (c.mode, c.filters, c.maps, c.dropout, c.max_norm) == ("rand", (3, 4, 5), 100, 0.5, 3.0)
    assert (c.optimizer, c.learning_rate, c.rho, c.eps, c.batch_size, c.epochs, c.dev_fraction) == \
        ("adadelta", 1.0, 0.95, 1e-6, 50, 25, 0.1)
    with pytest.raises(ValueError, match="needs pretrained embeddings"):
        CNNConfig(mode="static")


def test_trains_and_scores_test_at_best_dev_epoch(tmp_path):
    from chainrule.train import load_checkpoint
    result = train_textcnn(synthetic(300), fast(), test=synthetic(100, seed=1), run_dir=tmp_path / "run",
                           show_progress=False, log=lambda s: None)
    assert result.test["accuracy"] >= 0.9
    # The model handed back holds the best dev epoch's weights, not the last epoch's.
    best = load_checkpoint(tmp_path / "run" / "best.ckpt.npz")["model"]
    assert result.best_epoch < len(result.history["dev_acc"])  # else the last weights would do as well
    for name, value in result.classifier.model.state_dict().items():
        np.testing.assert_array_equal(value, best[name], err_msg=name)
    assert result.dev_accuracy == max(result.history["dev_acc"])
    assert result.best_epoch == 1 + int(np.argmax(result.history["dev_acc"]))
    assert result.train_sentences_per_s > 0
    assert result.classifier.predict(["a superb movie", "the plot was awful"]) == ["pos", "neg"]
    probs = result.classifier.predict_proba(["a superb movie"])
    assert probs.shape == (1, 2) and probs.sum() == pytest.approx(1.0, abs=1e-6)


def test_kim_adadelta_default_learns():
    result = train_textcnn(synthetic(300), CNNConfig(maps=20, embed_dim=20, filters=(2, 3), epochs=10),
                           test=synthetic(100, seed=1), show_progress=False, log=lambda s: None)
    assert result.test["accuracy"] >= 0.9


def test_max_norm_holds_after_every_step(monkeypatch):
    from chainrule import optim
    from chainrule.models.textcnn import TextCNN
    after_steps, constrained = [], []
    step = optim.Adam.step

    def counted_step(self, *args, **kwargs):
        after_steps.append(1)
        return step(self, *args, **kwargs)

    apply = TextCNN.apply_max_norm

    def checked_apply(self):
        apply(self)
        constrained.append(float(np.linalg.norm(self.fc.weight.data, axis=1).max()))
    monkeypatch.setattr(optim.Adam, "step", counted_step)
    monkeypatch.setattr(TextCNN, "apply_max_norm", checked_apply)
    result = train_textcnn(synthetic(200), fast(max_norm=0.5, lr=0.1), show_progress=False, log=lambda s: None)
    # The constraint follows every optimiser step, not only the last one.
    assert len(constrained) == len(after_steps) > 10 and max(constrained) <= 0.5 + 1e-5
    norms = np.linalg.norm(result.classifier.model.fc.weight.data, axis=1)
    assert norms.max() <= 0.5 + 1e-5



def test_weight_decay_shrinks_the_weights():
    def conv_norm(weight_decay):
        result = train_textcnn(synthetic(200), fast(weight_decay=weight_decay), show_progress=False,
                               log=lambda s: None)
        model = result.classifier.model
        return sum(float(np.linalg.norm(p.data)) for name, p in model.named_parameters() if "conv" in name)
    assert conv_norm(0.1) < 0.8 * conv_norm(0.0)
    with pytest.raises(ValueError, match=r"weight_decay=-0.0001: must be >= 0"):
        fast(weight_decay=-1e-4)


def test_a_class_whose_examples_all_went_to_dev_is_still_a_class():
    from chainrule.cnn.trainer import dev_indices
    data = synthetic(60)
    _, held = dev_indices(len(data), 0.1, 0, data.source)
    labels = list(data.labels)
    labels[held[0]] = "mixed"  # its only example is held out as dev data
    data = LabelledSplit(list(data.texts), labels, "toy.tsv")
    result = train_textcnn(data, fast(epochs=1), show_progress=False, log=lambda s: None)
    assert result.classifier.labels == ["mixed", "neg", "pos"]
    bow = train_bow(data, test=data)
    assert bow.test["labels"] == ["mixed", "neg", "pos"]


def test_cased_words_of_the_test_data_find_lower_case_vectors():
    vectors = glove_like()  # lower-case words, "superb" among them
    train = LabelledSplit(["a good film", "a bad film"] * 20, ["pos", "neg"] * 20)
    test = LabelledSplit(["Superb film"], ["pos"])
    result = train_textcnn(train, fast(mode="static", embeddings="toy", lower=False, epochs=1), test=test,
                           vectors=vectors, show_progress=False, log=lambda s: None)
    assert "Superb" in result.classifier.encoder.vocab.stoi


def test_embed_weight_decay_spares_the_pretrained_vectors():
    vectors = glove_like()

    def norms(**changes):
        config = fast(mode="non-static", embeddings="toy", **changes)
        result = train_textcnn(synthetic(200), config, vectors=vectors, show_progress=False, log=lambda s: None)
        model = result.classifier.model
        conv = sum(float(np.linalg.norm(p.data)) for name, p in model.named_parameters() if "conv" in name)
        return float(np.linalg.norm(model.embedding.weight.data)), conv

    free_emb, free_conv = norms(weight_decay=0.0)
    shared_emb, shared_conv = norms(weight_decay=0.05)  # embed_weight_decay None: the same penalty everywhere
    kept_emb, kept_conv = norms(weight_decay=0.05, embed_weight_decay=0.0)
    # The penalty drives every row of the embedding towards zero (Adam scales each step to about lr,
    # whatever the gradient's size); without it the vectors keep the size they have with no penalty,
    # while the convolutions are penalised either way.
    assert shared_emb < 0.5 * free_emb
    assert kept_emb == pytest.approx(free_emb, rel=0.2)
    assert kept_conv < 0.8 * free_conv and shared_conv < 0.8 * free_conv
    with pytest.raises(ValueError, match=r"^CNNConfig: embed_weight_decay=-1.0: must be >= 0"):
        fast(embed_weight_decay=-1.0)


def test_parameter_groups():
    from chainrule.cnn.trainer import parameter_groups
    from chainrule.models.textcnn import TextCNN
    matrix = glove_like().matrix
    model = TextCNN(len(matrix), 2, embed_dim=12, filter_sizes=(2,), num_maps=3, mode="non-static", vectors=matrix)
    assert isinstance(parameter_groups(model, fast(weight_decay=0.1)), list)
    assert not isinstance(parameter_groups(model, fast(weight_decay=0.1))[0], dict)  # one plain list, as before
    groups = parameter_groups(model, fast(weight_decay=0.1, embed_weight_decay=0.0))
    assert groups[0] == {"params": [model.embedding.weight], "weight_decay": 0.0}
    rest = groups[1]["params"]
    assert all(p is not model.embedding.weight for p in rest) and len(rest) == len(list(model.parameters())) - 1
    frozen = TextCNN(len(matrix), 2, embed_dim=12, filter_sizes=(2,), num_maps=3, mode="static", vectors=matrix)
    assert not isinstance(parameter_groups(frozen, fast(weight_decay=0.1, embed_weight_decay=0.0))[0], dict)


@pytest.mark.parametrize("mode", ["static", "non-static", "multichannel"])
def test_pretrained_modes(mode):
    vectors = glove_like()
    logs = []
    result = train_textcnn(synthetic(200), fast(mode=mode, embeddings="toy"), test=synthetic(60, seed=1),
                           vectors=vectors, show_progress=False, log=logs.append)
    model = result.classifier.model
    vocab = result.classifier.encoder.vocab
    assert result.coverage["found"] == 16 and result.coverage["words"] == len(vocab) - 4
    assert any("16 of" in line for line in logs)
    row = vocab["superb"]
    start = vectors["superb"] * np.float32(result.coverage["scale"])
    moved = not np.allclose(model.embedding.weight.data[row], start)
    assert moved == (mode != "static")
    if mode == "multichannel":
        np.testing.assert_array_equal(model.static_embedding.weight.data[row], start)
    assert result.test["accuracy"] >= 0.9


def test_vectors_from_a_file_and_bad_vectors_files(tmp_path):
    path = tmp_path / "toy.txt"
    save_word2vec_text(path, glove_like().words, glove_like().matrix)
    result = train_textcnn(synthetic(100), fast(mode="static", embeddings=str(path), epochs=1),
                           show_progress=False, log=lambda s: None)
    assert result.coverage["found"] == 16
    bad = tmp_path / "bad.txt"
    bad.write_text("good 0.1 0.2 0.3\nbad 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected 3 numbers"):
        train_textcnn(synthetic(100), fast(mode="static", embeddings=str(bad)), show_progress=False)
    with pytest.raises(ValueError, match=r"the vectors are 12 wide but the model's embedding width is 30"):
        train_textcnn(synthetic(100), fast(mode="static", embeddings="toy", embed_dim=30), vectors=glove_like(),
                      show_progress=False, log=lambda s: None)


def test_pretrained_matrix_fills_missing_words_kim_style():
    vocab = Vocab.build([["good", "zzz", "Qqq"]])
    vectors = KeyedVectors(["good", "qqq"], np.ones((2, 4), np.float32))
    matrix, coverage = pretrained_matrix(vocab, vectors, seed=0, std=None)
    assert coverage == {"words": 3, "found": 2, "rate": 2 / 3, "scale": 1.0}
    assert not matrix[0].any()  # <pad>
    np.testing.assert_array_equal(matrix[vocab["Qqq"]], 1.0)  # found in lower case
    missing = matrix[vocab["zzz"]]
    assert np.all(np.abs(missing) <= 0.25) and missing.std() > 0
    # By default the vectors are rescaled to the standard deviation of U[-0.25, 0.25].
    wide = KeyedVectors(["good", "qqq"], np.array([[2, -2, 2, -2], [-4, 4, -4, 4]], np.float32))
    scaled, coverage = pretrained_matrix(vocab, wide, seed=0)
    assert coverage["scale"] == pytest.approx(0.25 / np.sqrt(3) / np.sqrt(10))  # their std is sqrt(10)
    np.testing.assert_allclose(scaled[vocab["good"]], wide["good"] * coverage["scale"], rtol=1e-6)


def test_unseen_label_in_test_data_is_an_error():
    test = LabelledSplit(["a fine film", "a film"], ["pos", "meh"], "test.tsv", [4, 9])
    with pytest.raises(ValueError, match=r"test\.tsv line 9: label 'meh' was never seen in training"):
        train_textcnn(synthetic(100), fast(epochs=1), test=test, show_progress=False, log=lambda s: None)


def test_save_load_round_trip_and_evaluate(tmp_path):
    result = train_textcnn(synthetic(200), fast(epochs=2, features=("shape",)), show_progress=False,
                           log=lambda s: None)
    result.classifier.save(tmp_path)
    loaded = TextClassifier.load(tmp_path)
    texts = synthetic(20, seed=5).texts
    np.testing.assert_array_equal(loaded.predict_proba(texts), result.classifier.predict_proba(texts))
    metrics = loaded.evaluate(synthetic(40, seed=6))
    assert set(metrics) >= {"accuracy", "macro_f1", "confusion_matrix"} and metrics["n"] == 40
    bad = LabelledSplit(["fine"], ["meh"], "x.tsv", [3])
    with pytest.raises(ValueError, match=r"x\.tsv line 3: label 'meh' was never seen"):
        loaded.evaluate(bad)
    with pytest.raises(FileNotFoundError, match="cnn.json is missing"):
        TextClassifier.load(tmp_path / "nothing")
    # Weights of another architecture: load_state_dict's RuntimeError becomes the file's ValueError.
    other = train_textcnn(synthetic(60), fast(epochs=1, filters=(4,)), show_progress=False, log=lambda s: None)
    other.classifier.save(tmp_path / "other")
    (tmp_path / "model.npz").write_bytes((tmp_path / "other" / "model.npz").read_bytes())
    with pytest.raises(ValueError, match=r"model\.npz does not fit .*cnn\.json"):
        TextClassifier.load(tmp_path)


def test_resume_gives_the_same_weights(tmp_path):
    train, test = synthetic(150), synthetic(40, seed=1)
    whole = train_textcnn(train, fast(epochs=4), test=test, run_dir=tmp_path / "a", show_progress=False,
                          log=lambda s: None)
    train_textcnn(train, fast(epochs=2), test=test, run_dir=tmp_path / "b", show_progress=False,
                  log=lambda s: None)
    resumed = train_textcnn(train, fast(epochs=4), test=test, run_dir=tmp_path / "b", resume=True,
                            show_progress=False, log=lambda s: None)
    for key, value in whole.classifier.model.state_dict().items():
        np.testing.assert_array_equal(resumed.classifier.model.state_dict()[key], value, err_msg=key)
    assert resumed.history["dev_acc"] == whole.history["dev_acc"]
    assert resumed.test == whole.test
    assert (tmp_path / "b" / "metrics.json").is_file() and (tmp_path / "b" / "model.npz").is_file()


def test_truncation_warns_with_count_and_short_sentences_are_padded():
    encoder = TextEncoder.fit([["a", "b", "c"], ["d"]], max_len=2, min_len=2)
    with pytest.warns(UserWarning, match="1 of 3 sentences are longer than max_len=2"):
        ids, _, cut = encoder.encode([["a", "b", "c"], ["a"], ["b", "zzz"]])
    assert cut == 1 and ids.shape == (3, 2)
    assert ids[1, 1] == 0 and ids[2, 1] == encoder.vocab.unk_id
    assert TextEncoder.fit([["a"]], min_len=5).max_len == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode([["a"]])


def test_token_features():
    feats = token_features([["Paris", "IBM", "ok", "42", "!"]], ("length", "shape"), 6)
    assert feats.shape == (1, 6, 6)
    np.testing.assert_allclose(feats[0, :5, 0], [0.5, 0.3, 0.2, 0.2, 0.1])
    np.testing.assert_array_equal(feats[0, :5, 1:], [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [1, 0, 0, 0, 0],
                                                     [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    assert not feats[0, 5].any()  # padding


def test_user_features_are_a_usable_channel():
    train = synthetic(200)
    # The label written into a per-token channel is learnable even with no useful words.
    train.texts = ["the film" for _ in train.texts]
    feats = np.zeros((200, 2, 1), np.float32)
    feats[:, :, 0] = np.asarray([1.0 if y == "pos" else -1.0 for y in train.labels])[:, None]
    result = train_textcnn(train, fast(epochs=8), user_features={"train": feats}, show_progress=False,
                           log=lambda s: None)
    assert result.dev_accuracy == 1.0
    assert result.classifier.predict(["the film"], user_features=np.ones((1, 2, 1))) == ["pos"]
    with pytest.raises(ValueError, match="user feature channels"):
        result.classifier.predict(["the film"])


def test_metrics_match_scikit_learn(tmp_path):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    g = np.random.default_rng(0)
    y, p = g.integers(0, 3, 200), g.integers(0, 3, 200)
    np.testing.assert_array_equal(confusion_matrix(y, p, 3), sklearn_metrics.confusion_matrix(y, p))
    assert macro_f1(y, p, 3) == pytest.approx(sklearn_metrics.f1_score(y, p, average="macro"))
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, p))
    # A class neither in the data nor predicted (a fold without a rare class) does not count.
    y2 = np.array([0, 0, 1, 1])
    assert macro_f1(y2, y2, 3) == 1.0 == sklearn_metrics.f1_score(y2, y2, average="macro")
    assert classification_metrics(y2, y2, ["a", "b", "c"])["macro_f1"] == 1.0
    plot_confusion(m["confusion_matrix"], m["labels"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kfold_is_a_stratified_partition():
    labels = ["a"] * 30 + ["b"] * 12
    folds = kfold_indices(labels, k=4, seed=1)
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests.tolist()) == list(range(42))
    for train, test in folds:
        assert not set(train) & set(test)
        assert sum(labels[i] == "b" for i in test) == 3
        assert len(test) in (10, 11)
    assert [t.tolist() for _, t in kfold_indices(labels, 4, 1)] == [t.tolist() for _, t in folds]
    with pytest.raises(ValueError, match="2 <= k"):
        kfold_indices(labels, k=1)


def test_cross_validation_mean_and_std(tmp_path):
    data = LabelledData("toy", synthetic(240))
    cv = cross_validate(data, fast(epochs=3), k=3, run_dir=tmp_path, show_progress=False, log=lambda s: None)
    accs = [f["accuracy"] for f in cv.folds]
    assert len(accs) == 3 and cv.accuracy[0] == pytest.approx(np.mean(accs))
    assert cv.accuracy[1] == pytest.approx(np.std(accs, ddof=1))
    assert np.sum(cv.confusion_matrix) == 240
    assert (tmp_path / "cv.json").is_file() and (tmp_path / "model.npz").is_file()
    assert not (tmp_path / "fold-01" / "last.ckpt.npz").exists()
    # Resuming a finished run only reads the folds' results.
    again = cross_validate(data, fast(epochs=3), k=3, run_dir=tmp_path, resume=True, log=lambda s: None)
    assert [f["accuracy"] for f in again.folds] == accs


def test_top_ngrams_finds_the_word_a_filter_detects():
    # One-hot embeddings and a filter that fires on "great" in its first tap.
    vocab = Vocab.build([["great", "film", "dull", "a"]])
    eye = np.eye(len(vocab), dtype=np.float32)
    model = TextCNN(len(vocab), 2, filter_sizes=(2,), num_maps=2, mode="static", vectors=eye, dropout=0.0,
                    embed_dim=None)
    w = model.convs[0].weight.data
    w[...] = 0
    w[0, vocab["great"], 0] = 1.0
    w[0, vocab["film"], 1] = 0.5
    w[1, vocab["dull"], 1] = 2.0
    model.convs[0].bias.data[...] = 0
    classifier = TextClassifier(model, TextEncoder(vocab, 4), ["neg", "pos"])
    report = top_ngrams(classifier, ["a great film", "great a", "a dull", "film great"], top=2)
    assert report[0]["width"] == 2 and report[0]["map"] == 0
    assert report[0]["ngrams"][0] == ("great film", 1.5)
    assert report[0]["ngrams"][1][1] == 1.0 and report[0]["ngrams"][1][0].startswith("great")
    assert report[1]["ngrams"][0] == ("a dull", 2.0)


@pytest.mark.parametrize("arch", [{}, {"padding": 1, "stride": 2}, {"padding": "same"}])
def test_top_ngrams_are_distinct_and_match_a_brute_force_search(arch):
    # Frequent n-grams used to fill the candidate list, leaving fewer than `top` distinct ones.
    texts = ["good film", "bad film", "dull plot", "fine cast", "a good cast"] * 40 + ["odd one out here"]
    cr.manual_seed(3)
    vocab = Vocab.build([t.split() for t in texts])
    model = TextCNN(len(vocab), 2, embed_dim=6, filter_sizes=(2, 3), num_maps=4, dropout=0.0, **arch)
    classifier = TextClassifier(model, TextEncoder(vocab, 4), ["neg", "pos"])
    top = 4
    report = top_ngrams(classifier, texts, top=top, batch_size=37)  # several batches
    # Brute force: every window of every sentence, scored alone, the best per distinct n-gram.
    truth = [{} for _ in report]
    with cr.no_grad():
        for text in set(texts):
            ids, _ = classifier.encode([text])
            lengths = model.lengths_of(ids)
            for w, act in enumerate(model.feature_maps(model.embed(ids))):
                a, width = act.data[0], model.filter_sizes[w]
                valid = model.valid_positions(lengths, width, a.shape[1])[0]
                words = text.split()
                for t in np.flatnonzero(valid):
                    begin = t * model.stride - ((width - 1) // 2 if arch.get("padding") == "same"
                                                else arch.get("padding", 0))
                    gram = " ".join(words[p] if 0 <= p < len(words) else "<pad>" for p in range(begin, begin + width))
                    for j in range(a.shape[0]):
                        f = w * model.convs[0].weight.shape[0] + j
                        truth[f][gram] = max(truth[f].get(gram, -np.inf), float(a[j, t]))
    for f, entry in enumerate(report):
        grams = [g for g, _ in entry["ngrams"]]
        expected = sorted(truth[f].items(), key=lambda kv: -kv[1])[:top]
        assert len(grams) == len(set(grams)) == min(top, len(truth[f]))
        np.testing.assert_allclose([v for _, v in entry["ngrams"]], [v for _, v in expected], rtol=1e-5)


def test_top_ngrams_tell_apart_windows_whose_features_differ():
    # "good" and "Good" share an id but not the shape feature; the filter fires on capitals only.
    texts = ["good movie", "Good film"]
    encoder = TextEncoder.fit([t.split() for t in texts], features=("shape",))
    model = TextCNN(len(encoder.vocab), 2, embed_dim=4, filter_sizes=(1,), num_maps=1, feature_channels=5,
                    max_len=encoder.max_len, dropout=0.0)
    w = np.zeros_like(model.convs[0].weight.data)
    w[0, 4 + 1, 0] = 1.0  # the second shape channel: "Capitalised"
    model.convs[0].weight.data[...] = w
    model.convs[0].bias.data[...] = 0
    classifier = TextClassifier(model, encoder, ["neg", "pos"])
    assert top_ngrams(classifier, texts, top=2)[0]["ngrams"][0] == ("Good", 1.0)
    with pytest.raises(ValueError, match="no sentences"):
        top_ngrams(classifier, [], top=2)


def test_bag_of_ngrams_is_logistic_regression_on_binary_features():
    assert ngrams(["a", "b", "a", "b"], 2) == ["a", "b", "a b", "b a"]
    featurizer = NgramFeaturizer(n=2).fit([["a", "b"], ["b", "c"]])
    x = featurizer.transform([["a", "b", "a"], ["zzz"]])
    cr.manual_seed(0)
    model = BagOfNgrams(featurizer.num_features, 3)
    model.weight.data[1:] = np.random.default_rng(0).normal(size=(featurizer.num_features - 1, 3))
    model.bias.data[...] = [0.1, 0.2, 0.3]
    dense = np.zeros((2, featurizer.num_features), np.float32)
    for i, row in enumerate(x):
        dense[i, row[row > 0]] = 1
    np.testing.assert_allclose(model(x).data, dense @ model.weight.data + model.bias.data, rtol=1e-6)
    with pytest.raises(ValueError, match=r"ids must be \(N, M\).*got shape \(3,\)"):  # one sentence, unbatched
        model(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="expected token lists"):  # a string's n-grams would be characters
        NgramFeaturizer(n=2).fit(["good film"])
    with pytest.raises(ValueError, match="at least 1"):
        NgramFeaturizer(n=0)
    result = train_bow(synthetic(300), test=synthetic(100, seed=1))
    assert result.test["accuracy"] >= 0.95
    assert result.predict(["a lovely film"]) == ["pos"]


def test_compare_runs_every_model_on_the_same_folds():
    data = LabelledData("toy", synthetic(120))
    rows = compare(data, fast(embeddings="toy", epochs=2, embed_dim=None), k=3, modes=("rand", "static"),
                   max_folds=2, vectors=glove_like(), rand_dim=7, show_progress=False, log=lambda s: None)
    assert [name for name, _ in rows] == ["CNN-rand", "CNN-static", "bag-of-n-grams"]
    assert rows[0][1].info["config"]["embed_dim"] == 7 and rows[1][1].info["config"]["embed_dim"] == 12
    for _, r in rows:
        assert [f["test_examples"] for f in r.folds] == [40, 40]
    assert "CNN-static" in format_table(rows)
    assert "+-" in format_table(rows)  # two folds: a spread
    # One fold has no spread to show: "+- 0.00%" would read as a measured zero.
    one = compare(data, fast(epochs=1), k=3, modes=("rand",), max_folds=1, show_progress=False,
                  log=lambda s: None, bow_config=BowConfig(epochs=1))
    assert "+-" not in format_table(one)


def test_the_demo_comparison_passes_its_epochs_to_the_baseline(monkeypatch):
    import chainrule.cnn.compare as compare_module
    seen = {}

    def fake_compare(data, config, k, modes, max_folds, log, bow_config):
        seen.update(cnn=config.epochs, bow=bow_config.epochs)
        return []
    monkeypatch.setattr(compare_module, "compare", fake_compare)
    monkeypatch.setattr("chainrule.datasets.labelled.load_labelled", lambda name: None)
    compare_module.demo_run(epochs=1)
    assert seen == {"cnn": 1, "bow": 1}
    compare_module.demo_run()
    assert seen == {"cnn": 4, "bow": BowConfig.epochs}


def test_length_buckets_partition_each_epoch_and_resume():
    from chainrule.cnn.sampler import LengthBucketSampler
    lengths = np.random.default_rng(0).integers(1, 60, size=1030)
    sampler = LengthBucketSampler(lengths, batch_size=50, seed=3, pool=5)
    batches = list(sampler)
    assert sampler.epoch == 1 and len(batches) == 21 and len(batches[-1]) == 30
    assert sorted(np.concatenate(batches).tolist()) == list(range(1030))
    spread = np.mean([np.ptp(lengths[b]) for b in batches[:-1]])
    assert spread < 15  # random batches of 50 would span about 55
    # A sampler restored mid-epoch hands out the same remaining batches.
    first = list(sampler)
    other = LengthBucketSampler(lengths, batch_size=50, seed=3, pool=5)
    other.load_state_dict({**sampler.state_dict(), "epoch": 1, "position": 7})
    assert [b.tolist() for b in other] == [b.tolist() for b in first[7:]] and len(first) > 8


def test_clitics_are_split_like_the_penn_treebank():
    from chainrule.cnn.data import cnn_tokenize, split_clitics
    assert cnn_tokenize("It's a film that doesn't work, can't you see?") == \
        ["It", "'s", "a", "film", "that", "does", "n't", "work", ",", "ca", "n't", "you", "see", "?"]
    assert cnn_tokenize("You'll see I'm right", clitics=False) == ["You'll", "see", "I'm", "right"]
    assert split_clitics(["n't", "'s", "Don't"]) == ["n't", "'s", "Do", "n't"]  # a bare clitic stays whole


@pytest.mark.parametrize("changes", [{"pool": "kmax", "k": 2}, {"pool": "max", "pool_size": 2, "pool_stride": 1},
                                     {"pool": "avg", "padding": "same", "activation": "tanh"},
                                     {"stride": 2, "padding": 1, "bucket": False}])
def test_other_architectures_train_and_predict(changes):
    result = train_textcnn(synthetic(300), fast(epochs=6, **changes), test=synthetic(60, seed=1),
                           show_progress=False, log=lambda s: None)
    assert len(result.classifier.predict(["superb", "a long film that was very quite dull"])) == 2
    assert result.test["accuracy"] >= 0.9  # each of them learns the task (chance is 0.5)


def test_an_epoch_that_trained_nothing_here_is_not_counted_in_the_speed(monkeypatch):
    # An epoch resumed after its last batch records 0 sentences/s; the median used to include it.
    from chainrule.cnn import trainer
    real_fit = trainer.fit

    def fit_with_an_empty_epoch(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        result.history.metrics["sent_per_s"][0] = 0.0
        return result
    monkeypatch.setattr(trainer, "fit", fit_with_an_empty_epoch)
    result = train_textcnn(synthetic(100), fast(epochs=3), show_progress=False, log=lambda s: None)
    speeds = result.history.metrics["sent_per_s"]
    assert speeds[0] == 0.0 and result.train_sentences_per_s == pytest.approx(np.median(speeds[1:]))
