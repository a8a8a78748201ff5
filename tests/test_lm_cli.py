"""The `chainrule lm` and `chainrule embeddings` commands, end to end on a tiny corpus, and their error messages."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_lm_train import write_corpus

from chainrule.cli import main
from chainrule.datasets import load_vectors, save_word2vec_text
from chainrule.lm.data import prepare_data

TINY = ["--order", "3", "--emb", "8", "--hidden", "16", "--batch-size", "32", "--lr", "0.01", "--seed", "3"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A corpus and a run directory trained by `chainrule lm train`."""
    root = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(root / "corpus")
    out = root / "run"
    code = main(["lm", "train", "--corpus", corpus, *TINY, "--epochs", "2", "--direct", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    return corpus, out


def test_train_writes_the_run(trained):
    _, out = trained
    for name in ("config.json", "vocab.json", "best.ckpt.npz", "last.ckpt.npz", "history.json", "curves.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["train"]["direct"] is True


def test_eval_reports_perplexity_over_every_token(trained, capsys):
    corpus, out = trained
    code, text, _ = run_cli(capsys, "lm", "eval", out, "--split", "test")
    assert code == 0
    n = prepare_data(corpus).n_tokens("test")
    assert f"over {n:,} tokens" in text and "perplexity" in text


def test_generate_is_seeded(trained, capsys):
    _, out = trained
    code, first, _ = run_cli(capsys, "lm", "generate", out, "--n", "4", "--seed", "5", "--top-k", "5")
    assert code == 0 and len(first.strip().splitlines()) == 4
    _, again, _ = run_cli(capsys, "lm", "generate", out, "--n", "4", "--seed", "5", "--top-k", "5")
    assert again == first
    code, greedy, _ = run_cli(capsys, "lm", "generate", out, "--greedy", "--prompt", "the dog")
    assert code == 0 and greedy.startswith("the dog ") and len(greedy.strip().splitlines()) == 1


def test_ngram_writes_arpa(trained, capsys, tmp_path):
    corpus, _ = trained
    arpa = tmp_path / "tiny.arpa"
    code, text, _ = run_cli(capsys, "lm", "ngram", "--corpus", corpus, "--order", "3", "--arpa", arpa)
    assert code == 0 and "Kneser-Ney 3-gram" in text
    n = prepare_data(corpus).n_tokens("valid")
    assert f"over {n:,} tokens" in text
    assert arpa.read_text().startswith("\n\\data\\") or "\\data\\" in arpa.read_text()[:20]


def test_compare_scores_every_model_on_the_same_tokens(trained, capsys, tmp_path):
    corpus, _ = trained
    path = tmp_path / "table.json"
    code, text, _ = run_cli(capsys, "lm", "compare", "--corpus", corpus, *TINY, "--epochs", "2", "--orders", "2,3",
                            "--json", path, "--samples", "2", "--no-progress")
    assert code == 0
    table = json.loads(path.read_text())
    names = [m["model"] for m in table["models"]]
    assert names == ["Kneser-Ney 2-gram", "Kneser-Ney 3-gram", "neural LM", "mixture"]
    data = prepare_data(corpus)
    for split in ("valid", "test"):
        assert {m[f"{split}_tokens"] for m in table["models"]} == {data.n_tokens(split)}
    best = min(table["models"][:2], key=lambda m: m["valid_ppl"])
    assert table["best_ngram"] == best["model"]
    mixture = table["models"][-1]
    # The mixture weight is tuned on valid, so there it is no worse than either component.
    assert mixture["valid_ppl"] <= min(best["valid_ppl"], table["models"][2]["valid_ppl"]) + 1e-9
    assert len(table["samples"]) == 2
    assert "mixture" in text and "chosen on valid" in text
    # The JSON's reductions are fractions below the best KN: positive is better (the table's change is negative).
    for name, row in (("neural", table["models"][2]), ("mixture", mixture)):
        assert table[f"{name}_reduction_vs_best_ngram"] == pytest.approx(1 - row["test_ppl"] / best["test_ppl"])


def test_compare_refuses_an_existing_run_before_any_work(trained, capsys):
    corpus, out = trained
    code, text, err = run_cli(capsys, "lm", "compare", "--corpus", corpus, *TINY, "--out", out, "--no-progress")
    assert code == 2 and "already holds a training run with other settings" in err
    assert "Kneser-Ney" not in text  # refused before fitting anything


def test_eval_of_a_run_stopped_before_validation_says_which_weights(trained, capsys, tmp_path):
    import shutil
    _, out = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "best.ckpt.npz").unlink()
    code, text, err = run_cli(capsys, "lm", "eval", copy)
    assert code == 0 and "perplexity" in text
    assert "chainrule: warning: " in err and "using the latest weights, last.ckpt.npz" in err


def test_ngram_prints_the_discount_fallbacks(trained, capsys):
    corpus, _ = trained
    code, _, err = run_cli(capsys, "lm", "ngram", "--corpus", corpus, "--order", "5")
    assert code == 0 and "note: " in err and "the corpus is too small" in err  # the tiny grammar has no n3


def test_compare_interrupted_stops_without_a_table(trained, capsys, tmp_path, monkeypatch):
    from chainrule.lm import compare

    def train_then_terminate(*args, **kwargs):
        def terminate(epoch, step):
            if step == 2:  # in the first epoch: no history yet
                os.kill(os.getpid(), signal.SIGTERM)
        return real_train(*args, callback=terminate, **kwargs)

    real_train = compare.train_lm
    monkeypatch.setattr(compare, "train_lm", train_then_terminate)
    corpus, _ = trained
    code, text, err = run_cli(capsys, "lm", "compare", "--corpus", corpus, *TINY, "--epochs", "2", "--orders", "2",
                              "--no-progress")
    assert code == 128 + signal.SIGTERM
    assert "mixture" not in text and "interrupted while the neural LM trained" in err
    assert "--resume" not in text + err  # its folder was temporary
    out = tmp_path / "kept"
    argv = ["lm", "compare", "--corpus", corpus, *TINY, "--epochs", "2", "--orders", "2", "--no-progress", "--out", out]
    code, text, err = run_cli(capsys, *argv)
    assert code == 128 + signal.SIGTERM and f"its run is kept in {out}, and the same command continues it" in err
    assert (out / "last.ckpt.npz").is_file()
    # The same command continues the run (uninterrupted now) and prints the comparison.
    monkeypatch.setattr(compare, "train_lm", real_train)
    code, text, err = run_cli(capsys, *argv)
    assert code == 0 and f"continuing the neural LM's run in {out}" in text and "mixture" in text
    assert len(json.loads((out / "history.json").read_text())["val_ppl"]) == 2


def test_embeddings_commands(trained, capsys, tmp_path, monkeypatch):
    _, out = trained
    code, text, _ = run_cli(capsys, "embeddings", "neighbors", out, "cat", "--k", "3")
    assert code == 0 and text.startswith("cat: ") and text.count("(") == 3
    vec = tmp_path / "run.vec"
    code, text, _ = run_cli(capsys, "embeddings", "export", out, vec)
    assert code == 0
    vectors = load_vectors(vec)
    assert "cat" in vectors and "<pad>" not in vectors and vectors.dim == 8

    # Word-similarity sets replaced by small ones, so the test needs no download.
    from chainrule.datasets import wordsim
    monkeypatch.setitem(wordsim.WORD_PAIR_SETS, "wordsim353",
                        lambda: [("cat", "dog", 8.0), ("cat", "river", 1.0), ("king", "child", 5.0), ("x", "y", 2)])
    monkeypatch.setitem(wordsim.WORD_PAIR_SETS, "simlex999", lambda: [("cat", "dog", 7.0), ("song", "tree", 1.0)])
    code, text, _ = run_cli(capsys, "embeddings", "evaluate", vec)
    assert code == 0
    assert "wordsim353  Spearman" in text and "on 3 pairs (OOV rate 25.0%)" in text
    assert "simlex999" in text


@pytest.mark.parametrize("argv, message", [
    (["lm", "eval", "{empty}"], "no run configuration"),
    (["lm", "eval", "{missing}"], "is not a directory"),
    (["lm", "train", "--corpus", "no-such-corpus", "--out", "{tmp}/x"], "unknown corpus 'no-such-corpus'.*austen, kjv"),
    (["lm", "train", "--corpus", "{corpus}", "--order", "12", "--out", "{tmp}/y"],
     "context_size=11 is longer than every sentence"),
    (["lm", "train", "--resume", "{run}", "--order", "4"], "--order cannot change"),
    (["lm", "train", "--corpus", "{corpus}"], "needs --out"),
    (["lm", "generate", "{run}", "--temperature", "0"], "temperature must be positive"),
    (["embeddings", "neighbors", "{run}", "zebra"], "'zebra' is not among"),
    (["embeddings", "neighbors", "{empty}", "cat"], "not a language-model run"),
    # A file where the run's folder should be, or inside one: OSErrors, once tracebacks.
    (["lm", "train", "--corpus", "{corpus}", "--order", "3", "--out", "{afile}"], "afile: File exists"),
    (["lm", "train", "--corpus", "{corpus}", "--order", "3", "--out", "{afile}/sub"], "afile/sub: Not a directory"),
])
def test_errors_are_one_clean_line(trained, capsys, tmp_path, argv, message):
    import re

    corpus, run = trained
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    places = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "tmp": tmp_path, "corpus": corpus,
              "run": run, "afile": tmp_path / "afile"}
    code, _, err = run_cli(capsys, *[a.format(**places) for a in argv])
    assert code == 2
    assert err.startswith("chainrule: error: ") and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


def test_corrupt_checkpoint_is_a_clean_error(trained, capsys, tmp_path):
    import shutil

    _, run = trained
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "best.ckpt.npz").write_bytes(b"not a zip file at all")
    code, _, err = run_cli(capsys, "lm", "eval", copy)
    assert code == 2 and err.startswith("chainrule: error: cannot read checkpoint") and "best.ckpt.npz" in err


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_finishes(tmp_path):
    """A real `chainrule lm train` process, sent SIGTERM mid-run, saves last.ckpt.npz and exits with 143."""
    corpus = write_corpus(tmp_path / "corpus", n_train=500)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    cmd = [sys.executable, "-m", "chainrule", "lm", "train", "--corpus", corpus, *TINY, "--batch-size", "16",
           "--epochs", "200", "--patience", "0", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while not (out / "history.json").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted: saved" in stdout and "--resume" in stdout
    from chainrule.train.checkpoint import load_checkpoint
    checkpoint = load_checkpoint(out / "last.ckpt.npz")
    done = checkpoint["epoch"]
    resumed = subprocess.run([sys.executable, "-m", "chainrule", "lm", "train", "--resume", str(out),
                              "--epochs", str(done + 1), "--no-progress"],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out}" in resumed.stdout
    assert len(json.loads((out / "history.json").read_text())["val_ppl"]) == done + 1


def test_pretrained_vectors_from_the_cli(trained, capsys, tmp_path):
    corpus, _ = trained
    vocab = prepare_data(corpus).vocab
    words = vocab.itos[4:]
    vectors = np.random.default_rng(0).standard_normal((len(words), 5)).astype(np.float32)
    save_word2vec_text(tmp_path / "v.txt", words, vectors)
    code, _, err = run_cli(capsys, "lm", "train", "--corpus", corpus, *TINY, "--epochs", "1", "--pretrained",
                           tmp_path / "v.txt", "--freeze", "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["emb_dim"] == 5
