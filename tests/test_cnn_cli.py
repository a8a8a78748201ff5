"""``chainrule cnn``: train (CV and fixed split), resume, eval, predict, ngrams, compare, and user errors."""
import io
import json

import numpy as np
import pytest

from chainrule.cli import main

POS = ["good", "great", "fine", "lovely", "superb"]
NEG = ["bad", "awful", "poor", "dull", "boring"]
FILL = ["the", "a", "movie", "film", "was", "is", "very", "quite", "plot", "acting"]
SMALL = ["--maps", "6", "--embed-dim", "12", "--filters", "2,3", "--epochs", "3", "--optimizer", "adam", "--lr",
         "0.02", "--no-progress"]


def lines(n, seed):
    g = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = list(g.choice(FILL, size=g.integers(3, 10)))
        words.insert(int(g.integers(len(words) + 1)), (POS if i % 2 else NEG)[g.integers(5)])
        out.append(f"{'pos' if i % 2 else 'neg'}\t{' '.join(words)}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder of train/test files and a model trained on it with the fixed split."""
    root = tmp_path_factory.mktemp("cnn")
    data = root / "data"
    data.mkdir()
    (data / "train.tsv").write_text(lines(200, 0), encoding="utf-8")
    (data / "test.tsv").write_text(lines(60, 1), encoding="utf-8")
    out = root / "run"
    assert main(["cnn", "train", "--data", str(data), "--out", str(out), "--features", "length,shape", *SMALL]) == 0
    return root, data, out


def test_train_fixed_split_writes_run_folder(trained, capsys):
    _, _, out = trained
    for name in ("model.npz", "cnn.json", "vocab.json", "metrics.json", "history.json", "curves.png",
                 "confusion.png", "run.json", "best.ckpt.npz", "last.ckpt.npz"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["n"] == 60 == np.sum(metrics["confusion_matrix"])
    assert metrics["accuracy"] == pytest.approx(np.trace(metrics["confusion_matrix"]) / 60)


def test_predict_arguments_and_stdin(trained, capsys, monkeypatch):
    _, _, out = trained
    assert main(["cnn", "predict", str(out), "a lovely film", "the plot was awful"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2
    for row, sentence in zip(rows, ["a lovely film", "the plot was awful"]):
        label, shown, text = row.split("\t")
        probs = dict(item.split("=") for item in shown.split())
        assert text == sentence and label == max(probs, key=lambda c: float(probs[c]))  # the likeliest class
    monkeypatch.setattr("sys.stdin", io.StringIO("superb acting\r\n\r\nboring plot\n"))  # CRLF too
    assert main(["cnn", "predict", str(out), "--json"]) == 0
    objs = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [o["text"] for o in objs] == ["superb acting", "boring plot"]
    assert sum(objs[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_eval_prints_metrics_and_writes_png(trained, capsys, tmp_path):
    _, data, out = trained
    assert main(["cnn", "eval", str(out), "--data", str(data / "test.tsv"), "--png", str(tmp_path / "cm.png")]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "macro-F1" in text and "true \\ pred" in text
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_with_unseen_label_names_file_and_line(trained, capsys, tmp_path):
    _, _, out = trained
    bad = tmp_path / "bad.tsv"
    bad.write_text("pos\ta fine film\nmeh\ta film\n", encoding="utf-8")
    assert main(["cnn", "eval", str(out), "--data", str(bad)]) == 2
    assert "bad.tsv line 2: label 'meh' was never seen in training" in capsys.readouterr().err


def test_ngrams_report(trained, capsys):
    _, _, out = trained
    assert main(["cnn", "ngrams", str(out), "--top", "2", "--filters", "3"]) == 0
    text = capsys.readouterr().out
    assert text.count("filter ") == 3 and "(width 2, map 0)" in text
    assert main(["cnn", "ngrams", str(out), "--top", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report) == 12 and all(len(f["ngrams"]) == 1 for f in report)


def test_ngrams_of_a_text_file_plain_or_fasttext(trained, capsys, tmp_path):
    _, _, out = trained
    plain = tmp_path / "plain.txt"
    plain.write_text("a superb film\nthe plot was dull\n", encoding="utf-8")
    labelled = tmp_path / "labelled.txt"  # .txt is also fastText's suffix: its labels are not words
    labelled.write_text("__label__pos a superb film\n__label__neg the plot was dull\n", encoding="utf-8")
    tabbed = tmp_path / "tabbed.txt"  # ... and label<TAB>text, as `cnn train` reads a .txt file
    tabbed.write_text("pos\ta superb film\nneg\tthe plot was dull\n", encoding="utf-8")
    reports = []
    for path in (plain, labelled, tabbed):
        assert main(["cnn", "ngrams", str(out), "--data", str(path), "--top", "3", "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0] == reports[1] == reports[2]
    assert not any("label" in gram or "pos" in gram for f in reports[1] + reports[2] for gram, _ in f["ngrams"])
    blank = tmp_path / "blank.txt"
    blank.write_text("\n", encoding="utf-8")
    assert main(["cnn", "ngrams", str(out), "--data", str(blank)]) == 2
    assert "blank.txt: no sentences" in capsys.readouterr().err


def test_a_run_records_its_paths_absolute_so_it_works_from_elsewhere(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "all.tsv").write_text(lines(80, 3), encoding="utf-8")
    (work / "v.vec").write_text("2 3\ngood 1 0 0\nbad 0 1 0\n", encoding="utf-8")
    monkeypatch.chdir(work)
    assert main(["cnn", "train", "--data", "all.tsv", "--embeddings", "v.vec", "--mode", "static", "--out", "r",
                 *SMALL[:2], "--filters", "2", "--epochs", "1", "--no-progress"]) == 0
    spec = json.loads((work / "r" / "run.json").read_text())
    assert spec["data"]["data"] == str(work / "all.tsv")
    assert spec["config"]["embeddings"] == str(work / "v.vec")
    monkeypatch.chdir(tmp_path)  # elsewhere, the run still finds its data
    capsys.readouterr()
    assert main(["cnn", "ngrams", "work/r", "--top", "1"]) == 0


def test_cross_validation_and_resume_of_a_finished_run(tmp_path, capsys):
    data = tmp_path / "all.tsv"
    data.write_text(lines(120, 2), encoding="utf-8")
    out = tmp_path / "cv"
    assert main(["cnn", "train", "--data", str(data), "--cv", "2", "--out", str(out), *SMALL]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "2-fold accuracy" in text and "per fold:" in text
    assert "2-fold accuracy" not in captured.err  # the summary once, on stdout (it was on both)
    cv = json.loads((out / "cv.json").read_text())
    assert len(cv["folds"]) == 2
    # The same --out again is refused; --resume finds both folds done.
    assert main(["cnn", "train", "--data", str(data), "--out", str(out), *SMALL]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["cnn", "train", "--resume", str(out)]) == 0
    assert "already done" in capsys.readouterr().err


def test_compare_table_and_json(tmp_path, capsys):
    data = tmp_path / "all.tsv"
    data.write_text(lines(90, 3), encoding="utf-8")
    report = tmp_path / "table.json"
    assert main(["cnn", "compare", "--data", str(data), "--embeddings", "none", "--modes", "rand", "--cv", "3",
                 "--folds", "1", "--json", str(report), *SMALL]) == 0
    text = capsys.readouterr().out
    assert "CNN-rand" in text and "bag-of-n-grams" in text
    assert set(json.loads(report.read_text())["results"]) == {"CNN-rand", "bag-of-n-grams"}


@pytest.mark.parametrize("argv,message", [
    (["cnn", "train", "--data", "mr"], "needs --out"),
    (["cnn", "train", "--out", "x"], "needs --data"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--mode", "static"], "needs pretrained embeddings"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--weight-decay", "-1"], "--weight-decay -1.0: must be >= 0"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--embed-weight-decay", "-1"],
     "--embed-weight-decay -1.0: must be >= 0"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--pool", "kmax", "--pool-size", "2"],
     "k-max pooling takes no pool_size"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--dropout", "1"], "error: --dropout 1.0: must be in [0, 1)\n"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--features", "length,foo"],
     "--features ('length', 'foo'): must be among length, shape"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--pool", "kmax", "--k", "0"], "--k 0: must be at least 1"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--embeddings", "nosuch.vec"],
     "--embeddings nosuch.vec: no such file, and not a named set"),
    (["cnn", "train", "--resume", "x", "--lr", "0.5"], "--lr cannot change"),
    (["cnn", "train", "--resume", "x", "--epochs", "3", "--cv", "4"], "--epochs, --cv cannot change"),
    # Typed options are refused even when they repeat a default (they would be ignored).
    (["cnn", "train", "--resume", "x", "--epochs", "25", "--mode", "rand", "--cased"],
     "--epochs, --cased, --mode cannot change"),
    (["cnn", "train", "--resume", "x", "--seed", "0", "--dropout", "0"], "--dropout, --seed cannot change"),
    (["cnn", "train", "--data", "mr", "--out", "x", "--cv", "1"], "--cv needs at least 2 folds"),
    (["cnn", "compare", "--data", "mr", "--embeddings", "none", "--modes", "rand", "--cv", "0"],
     "--cv needs at least 2 folds"),
    (["cnn", "compare", "--data", "mr", "--embeddings", "none"], "need --embeddings"),
    (["cnn", "predict", "no/such/run", "hi"], "no trained CNN at no/such/run"),
])
def test_user_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "run.json").exists()  # refused before the folder was claimed


def test_a_run_failing_in_its_first_epoch_frees_its_folder(tmp_path, capsys, monkeypatch):
    from chainrule.cnn import trainer

    def diverge(*args, **kwargs):
        raise FloatingPointError("the training loss became nan at epoch 1, step 1; lower the learning rate")

    data = tmp_path / "all.tsv"
    data.write_text(lines(90, 3), encoding="utf-8")
    argv = ["cnn", "train", "--data", str(data), "--embeddings", "none", "--cv", "2", "--out", str(tmp_path / "run"),
            *SMALL, "--epochs", "1"]
    monkeypatch.setattr(trainer, "fit", diverge)
    assert main(argv) == 2
    assert "lower the learning rate" in capsys.readouterr().err
    assert not (tmp_path / "run" / "run.json").exists()
    monkeypatch.undo()
    assert main(argv) == 0  # the same folder takes the next try


def test_a_comparison_is_not_written_over(tmp_path, capsys):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "rand").mkdir()
    assert main(["cnn", "compare", "--data", "mr", "--embeddings", "none", "--modes", "rand", "--out",
                 str(tmp_path / "cmp")]) == 2
    assert "already holds a comparison; continue it with --resume" in capsys.readouterr().err


def test_library_warnings_are_one_line_messages(tmp_path, capsys):
    data = tmp_path / "all.tsv"
    data.write_text(lines(90, 3), encoding="utf-8")
    assert main(["cnn", "train", "--data", str(data), "--embeddings", "none", "--cv", "2", "--max-len", "4",
                 "--out", str(tmp_path / "run"), *SMALL, "--epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "chainrule: warning: " in err and "were truncated" in err
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_resume_without_a_run(tmp_path, capsys):
    assert main(["cnn", "train", "--resume", str(tmp_path)]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_config_from_options_defaults_and_zero_meaning_none():
    from chainrule.cli import build_parser
    from chainrule.cli.cnn import _config
    from chainrule.cnn.config import CNNConfig

    parse = build_parser().parse_args
    assert _config(parse(["cnn", "train", "--data", "x", "--out", "y"])) == CNNConfig()
    assert _config(parse(["cnn", "compare", "--data", "x"]), mode="rand") == CNNConfig(embeddings="glove-6b-50d")
    config = _config(parse(["cnn", "train", "--data", "x", "--out", "y", "--max-norm", "0", "--vector-std", "0",
                            "--patience", "0", "--embeddings", "GloVe-6B-50d", "--mode", "static"]))
    assert config.max_norm is None and config.vector_std is None and config.patience == 0
    assert config.embeddings == "GloVe-6B-50d"  # named sets are found whatever the case, as load_vectors does


def test_optimiser_options_reach_the_config():
    from chainrule.cli import build_parser
    from chainrule.cli.cnn import _config
    args = build_parser().parse_args(["cnn", "train", "--data", "mr", "--out", "x", "--optimizer", "adam",
                                      "--weight-decay", "3e-4", "--embed-weight-decay", "0"])
    config = _config(args)
    assert (config.optimizer, config.weight_decay, config.embed_weight_decay) == ("adam", 3e-4, 0.0)
    default = _config(build_parser().parse_args(["cnn", "train", "--data", "mr", "--out", "x"]))
    assert default.embed_weight_decay is None  # the embedding shares --weight-decay


def test_a_damaged_run_file_is_named(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"data": {"data": "mr"},\n', encoding="utf-8")
    assert main(["cnn", "train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "run.json is damaged" in err and len(err.strip().splitlines()) == 1


def test_runs_of_one_kind_never_write_into_the_other_kinds_folder(trained, tmp_path, capsys):
    from chainrule.train.checkpoint import RunDir
    _, data, out = trained
    vocab = (out / "vocab.json").read_bytes()
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"the cat sat on mat number {i} .\n" for i in range(60)), encoding="utf-8")
    # A language model into a finished TextCNN run would overwrite (or, failing, delete) its vocab.json.
    with pytest.raises(ValueError, match="already holds a training run's files"):
        RunDir(out).claim()
    assert main(["lm", "train", "--corpus", str(corpus), "--order", "3", "--emb", "4", "--hidden", "4", "--epochs",
                 "1", "--out", str(out), "--no-progress"]) == 2
    assert "already holds a training run's files" in capsys.readouterr().err
    assert (out / "vocab.json").read_bytes() == vocab
    # ... and a TextCNN into a language model's folder.
    lm = tmp_path / "lm"
    assert main(["lm", "train", "--corpus", str(corpus), "--order", "3", "--emb", "4", "--hidden", "4", "--epochs",
                 "1", "--out", str(lm), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["cnn", "train", "--data", str(data), "--out", str(lm), *SMALL]) == 2
    assert "already holds a training run's files" in capsys.readouterr().err
    assert not (lm / "run.json").exists()


def test_a_folder_whose_run_stopped_before_any_checkpoint_says_how_to_start_again(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"data": {"data": "x"}, "cv": None, "config": {}}), encoding="utf-8")
    (out / "best.ckpt.npz").write_bytes(b"")  # a best checkpoint alone is no progress to resume from
    assert main(["cnn", "train", "--resume", str(out)]) == 2
    assert "no last.ckpt.npz (the run stopped before its first epoch ended); delete" in capsys.readouterr().err
    data = tmp_path / "d.tsv"
    data.write_text(lines(40, 4), encoding="utf-8")
    assert main(["cnn", "train", "--data", str(data), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "has no checkpoint" in err and f"delete {out / 'run.json'}" in err
