"""Training the neural LM: learning, run-directory files, exact resume after an interruption, early stopping.

The corpus is a tiny synthetic grammar written by the tests (``write_corpus``,
also used by the generation and CLI tests), so each run takes well under a second.
"""
import json
import os
import signal

import numpy as np
import pytest
from weights import assert_same_weights, weights

from chainrule.lm.data import prepare_data
from chainrule.lm.run import load_run
from chainrule.lm.trainer import LMConfig, evaluate_model, resume_lm, train_lm
from chainrule.train.checkpoint import CheckpointError, CheckpointNotFoundError

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the king", "a child"]
VERBS = ["sees", "likes", "finds", "follows", "hears"]
OBJECTS = ["the mat", "a tree", "the river", "the house", "a song", "the road"]
ENDINGS = [".", "today .", "again .", "at night ."]


def grammar_sentences(n, seed):
    rng = np.random.default_rng(seed)
    pick = lambda options: options[rng.integers(len(options))]
    return [f"{pick(SUBJECTS)} {pick(VERBS)} {pick(OBJECTS)} {pick(ENDINGS)}" for _ in range(n)]


def write_corpus(folder, n_train=150, n_valid=30, n_test=30):
    """train.txt, valid.txt and test.txt, one sentence per line; returns the folder as a str."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train", n_train, 0), ("valid", n_valid, 1), ("test", n_test, 2)):
        (folder / f"{name}.txt").write_text("\n".join(grammar_sentences(n, seed)) + "\n", encoding="utf-8")
    return str(folder)


def tiny_config(corpus, **changes):
    values = {"corpus": corpus, "order": 3, "emb": 8, "hidden": 16, "direct": True, "dropout": 0.1,
              "optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 32, "seed": 7, "patience": 0}
    values.update(changes)
    return LMConfig(**values)


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus")


def test_training_learns_and_writes_the_run_directory(corpus, tmp_path):
    out = tmp_path / "run"
    result = train_lm(tiny_config(corpus, epochs=3), out, verbose=False)
    assert result.status == "finished" and result.epochs == 3
    data = result.data
    vocab_words = len(data.vocab) - 4
    # The grammar allows few continuations: far below a uniform guess over the vocabulary.
    assert result.best_val_ppl < vocab_words / 3
    assert result.history["val_ppl"][-1] < result.history["val_ppl"][0]
    for name in ("config.json", "vocab.json", "best.ckpt.npz", "last.ckpt.npz", "history.json", "curves.png"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["order"] == 3 and config["model"]["direct"] is True
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_ppl"]) == 3 and history["tokens_per_s"][0] > 0

    run = load_run(out)
    score = evaluate_model(run.model, data, "valid")
    assert score.ppl == pytest.approx(result.best_val_ppl, rel=1e-9)
    assert score.n_tokens == data.n_tokens("valid") == sum(len(s.split()) + 1 for s in grammar_sentences(30, 1))


def test_interrupted_run_resumes_to_the_same_weights(corpus, tmp_path):
    """SIGTERM in the middle of epoch 2, then resume: same weights and history as one uninterrupted run."""
    straight = train_lm(tiny_config(corpus), tmp_path / "straight", verbose=False)

    def terminate(epoch, step):
        if epoch == 1 and step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by the trainer's GracefulInterrupt

    out = tmp_path / "interrupted"
    first = train_lm(tiny_config(corpus), out, callback=terminate, verbose=False)
    assert first.status == "interrupted" and first.exit_code == 128 + signal.SIGTERM
    assert first.epochs == 1
    resumed = resume_lm(out, verbose=False)
    assert resumed.status == "finished" and resumed.epochs == 2
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert resumed.history["val_ppl"] == straight.history["val_ppl"]
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    assert_same_weights(weights(load_run(tmp_path / "straight").model), weights(load_run(out).model))


def test_one_epoch_then_resume_for_another_equals_two_epochs(corpus, tmp_path):
    config = {"epochs": 2, "schedule": "exponential", "lr_decay": 0.5}
    straight = train_lm(tiny_config(corpus, **config), tmp_path / "a", verbose=False)
    train_lm(tiny_config(corpus, **dict(config, epochs=1)), tmp_path / "b", verbose=False)
    resumed = resume_lm(tmp_path / "b", epochs=2, verbose=False)
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert resumed.history["val_ppl"] == straight.history["val_ppl"]
    assert resumed.history["lr"] == straight.history["lr"] == [0.01, 0.005]  # halved after each epoch


def test_early_stopping_and_best_checkpoint(corpus, tmp_path):
    # lr=0 never improves on the first epoch's validation perplexity.
    result = train_lm(tiny_config(corpus, lr=0.0, epochs=10, patience=2, dropout=0.0), tmp_path / "run",
                      verbose=False)
    assert result.status == "early_stop"
    assert result.epochs == 3  # the first epoch sets the best, two more fail to improve it
    from chainrule.train import load_checkpoint
    assert load_checkpoint(tmp_path / "run" / "best.ckpt.npz")["epoch"] == 1  # and only it was kept as best


def test_bad_input_is_reported(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"context_size=9 is longer than every sentence"):
        train_lm(tiny_config(corpus, order=10), tmp_path / "long", verbose=False)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        train_lm(tiny_config(corpus, optimizer="rmsprop"), tmp_path / "opt", verbose=False)
    with pytest.raises(ValueError, match="unknown corpus 'no-such-corpus'.*known: austen, kjv"):
        train_lm(tiny_config("no-such-corpus"), tmp_path / "x", verbose=False)
    train_lm(tiny_config(corpus, epochs=1), tmp_path / "run", verbose=False)
    with pytest.raises(ValueError, match="already holds a training run.*--resume"):
        train_lm(tiny_config(corpus, epochs=1), tmp_path / "run", verbose=False)
    # A run that failed while setting up leaves the folder free for the next try.
    assert not (tmp_path / "long" / "config.json").exists()
    train_lm(tiny_config(corpus, epochs=1), tmp_path / "long", verbose=False)


def test_a_second_run_into_a_folder_being_trained_in_is_refused(corpus, tmp_path):
    from chainrule.train.checkpoint import RunDir
    RunDir(tmp_path / "run").claim()  # another run's first epoch: no checkpoint yet
    with pytest.raises(ValueError, match="already holds a training run"):
        train_lm(tiny_config(corpus, epochs=1), tmp_path / "run", verbose=False)


def test_missing_or_corrupt_checkpoint(corpus, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="not a directory"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointNotFoundError, match="no run configuration"):
        load_run(tmp_path / "empty")
    with pytest.raises(CheckpointNotFoundError):
        resume_lm(tmp_path / "empty", verbose=False)
    out = tmp_path / "run"
    train_lm(tiny_config(corpus, epochs=1), out, verbose=False)
    data = (out / "best.ckpt.npz").read_bytes()
    (out / "best.ckpt.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="best.ckpt.npz"):
        load_run(out)


def write_vectors(corpus, path, seed):
    """6-d random vectors for every word of the corpus's vocabulary, as word2vec text; returns (data, vectors)."""
    from chainrule.datasets import save_word2vec_text

    data = prepare_data(corpus)
    vectors = np.random.default_rng(seed).standard_normal((len(data.vocab) - 4, 6)).astype(np.float32)
    save_word2vec_text(path, data.vocab.itos[4:], vectors)
    return data, vectors


def test_pretrained_embeddings_frozen(corpus, tmp_path):
    path = tmp_path / "vectors.txt"
    data, vectors = write_vectors(corpus, path, seed=0)
    result = train_lm(tiny_config(corpus, epochs=1, emb=99, pretrained=str(path), freeze=True), tmp_path / "run",
                      data=data, verbose=False)
    table = result.model.embedding.weight.data
    assert table.shape == (len(data.vocab), 6)  # the vectors set the embedding size
    np.testing.assert_array_equal(table[4:], vectors)  # frozen: unchanged by training
    messages = []
    from chainrule.lm.trainer import build_model
    build_model(tiny_config(corpus, emb=99, pretrained=str(path)), data.vocab, log=messages.append)
    assert any("the vectors' width, 6 (not emb=99)" in m for m in messages)  # said, not silently changed
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["emb"] == 6


def test_tied_model_trains_and_reloads(corpus, tmp_path):
    out = tmp_path / "tied"
    result = train_lm(tiny_config(corpus, emb=16, hidden=16, tie=True, epochs=2), out, verbose=False)
    assert result.history["val_ppl"][-1] < result.history["val_ppl"][0]
    assert json.loads((out / "config.json").read_text())["model"]["tie"] is True
    run = load_run(out)
    assert run.model.output is None
    assert evaluate_model(run.model, result.data, "valid").ppl == pytest.approx(result.best_val_ppl, rel=1e-9)
    with pytest.raises(ValueError, match="hidden must equal emb"):
        tiny_config(corpus, emb=8, hidden=16, tie=True).check()


def test_weight_averaging_is_validated_saved_and_resumed(corpus, tmp_path):
    """--ema: the best checkpoint holds the averaged weights, and an interrupted run resumes exactly."""
    config = {"ema": 0.9, "epochs": 2}
    straight = train_lm(tiny_config(corpus, **config), tmp_path / "straight", verbose=False)
    best = load_run(tmp_path / "straight").model
    # The averaged weights are not the last ones, and the validation perplexity is theirs.
    assert not np.array_equal(weights(best)["hidden.weight"], weights(straight.model)["hidden.weight"])
    assert evaluate_model(best, straight.data, "valid").ppl == pytest.approx(straight.best_val_ppl, rel=1e-9)

    def terminate(epoch, step):
        if epoch == 1 and step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "interrupted"
    assert train_lm(tiny_config(corpus, **config), out, callback=terminate, verbose=False).status == "interrupted"
    resumed = resume_lm(out, verbose=False)
    assert resumed.history["val_ppl"] == straight.history["val_ppl"]
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert_same_weights(weights(best), weights(load_run(out).model))
    with pytest.raises(ValueError, match="ema"):
        tiny_config(corpus, ema=1.0).check()


def test_a_negative_clip_is_refused(corpus, tmp_path):
    # clip_grad_norm_ with a negative maximum would flip every gradient and climb the loss.
    with pytest.raises(ValueError, match="clip is a maximum gradient norm"):
        train_lm(tiny_config(corpus, clip=-1.0), tmp_path / "run", verbose=False)
    assert not (tmp_path / "run" / "config.json").exists()
    tiny_config(corpus, clip=None).check()  # None means off, as 0 does


def test_resuming_with_more_epochs_is_saved_for_the_next_resume(corpus, tmp_path):
    """--resume --epochs 3 that is interrupted again, then a plain --resume: it still trains to epoch 3."""
    out = tmp_path / "run"
    train_lm(tiny_config(corpus, epochs=1), out, verbose=False)

    def terminate(epoch, step):
        if epoch == 1 and step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    assert resume_lm(out, epochs=3, callback=terminate, verbose=False).status == "interrupted"
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 3
    finished = resume_lm(out, verbose=False)
    assert finished.status == "finished" and finished.epochs == 3


def test_resume_does_not_read_the_pretrained_vectors_again(corpus, tmp_path):
    path = tmp_path / "vectors.txt"
    _, vectors = write_vectors(corpus, path, seed=1)
    config = tiny_config(corpus, epochs=2, pretrained=str(path), freeze=True)
    straight = train_lm(config, tmp_path / "straight", verbose=False)

    def terminate(epoch, step):
        if epoch == 1 and step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "run"
    train_lm(tiny_config(corpus, epochs=2, pretrained=str(path), freeze=True), out, callback=terminate,
             verbose=False)
    path.unlink()  # the checkpoint holds the weights: the vectors file is not needed any more
    resumed = resume_lm(out, verbose=False)
    assert resumed.status == "finished"
    assert_same_weights(weights(straight.model), weights(resumed.model))
    np.testing.assert_array_equal(resumed.model.embedding.weight.data[4:], vectors)  # still frozen
    assert not resumed.model.embedding.weight.requires_grad


def test_a_run_that_fails_in_its_first_epoch_leaves_the_folder_free(corpus, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train_lm(tiny_config(corpus, optimizer="sgd", lr=1e38, epochs=1), out, verbose=False)
    assert not (out / "config.json").exists() and not (out / "vocab.json").exists()
    assert train_lm(tiny_config(corpus, epochs=1), out, verbose=False).status == "finished"


def test_validation_sentences_shorter_than_the_context_are_scored(tmp_path):
    """Only the training split must be longer than the context; short validation sentences are padded."""
    folder = write_corpus(tmp_path / "corpus")
    (tmp_path / "corpus" / "valid.txt").write_text("the cat .\na dog .\n", encoding="utf-8")
    result = train_lm(tiny_config(folder, order=5, epochs=1), tmp_path / "run", verbose=False)
    assert result.status == "finished"
    assert evaluate_model(result.model, result.data, "valid").n_tokens == 8  # 3 words + </s>, twice
    with pytest.raises(ValueError, match=r"train split\): context_size=9 is longer than every sentence"):
        train_lm(tiny_config(folder, order=10), tmp_path / "long", verbose=False)
