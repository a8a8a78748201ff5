"""``chainrule explain`` and ``chainrule demo`` through the command-line entry point."""
import html
import json
import shutil

import pytest

from chainrule import graph
from chainrule.cli import CLIError, main

LECTURE = ["explain", "c*(a+2*b)", "a=3", "b=1", "c=-2"]


def test_json_output(capsys):
    assert main(LECTURE + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == -10
    assert out["grads"] == {"a": -2, "b": -4, "c": 5}
    nodes = {n["name"]: n for n in out["nodes"]}
    assert {k: (n["value"], n.get("grad")) for k, n in nodes.items()} == {
        "a": (3, -2), "b": (1, -4), "c": (-2, 5), "2": (2, None), "d": (2, -2), "e": (5, -2), "L": (-10, 1)}
    assert nodes["d"]["expr"] == "2 * b" and nodes["e"]["expr"] == "a + d" and nodes["L"]["expr"] == "c * e"


def test_text_output(capsys):
    assert main(LECTURE) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "∂L/∂b = ∂L/∂d · ∂d/∂b = -2 · 2 = -4" in out
    assert main(LECTURE + ["--ascii"]) == 0
    assert "dL/db = dL/dd * dd/db" in capsys.readouterr().out


@pytest.mark.parametrize("expression", ["__import__('os')", "().__class__", "open('x').read()"])
def test_malicious_expression_is_refused(capsys, expression):
    assert main(["explain", expression]) == 2
    err = capsys.readouterr().err
    assert "chainrule: error:" in err and "not allowed" in err and "Traceback" not in err


@pytest.mark.parametrize("values, message", [
    (["a=3", "b=1"], "no value given for c"),
    (["a=3", "b=1", "c=-2", "z=1"], "z is given a value but not used"),
    (["a=3", "b", "c=-2"], "NAME=VALUE"),
    (["a=3", "b=one", "c=-2"], "not a number"),
])
def test_bad_values(capsys, values, message):
    assert main(["explain", "c*(a+2*b)"] + values) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_and_png_files(tmp_path, capsys):
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    assert main(LECTURE + ["--svg", str(svg), "--png", str(png)]) == 0
    content = html.unescape(svg.read_text())
    assert "<svg" in content and "grad -4" in content and "value -10" in content
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "g.dot").exists()
    assert f"wrote {svg}" in capsys.readouterr().err


def test_without_graphviz_the_dot_file_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    assert main(LECTURE + ["--png", str(tmp_path / "g.png")]) == 0
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and f"wrote {tmp_path / 'g.dot'}" in err
    assert "grad -4" in (tmp_path / "g.dot").read_text()
    assert not (tmp_path / "g.png").exists()


def test_unwritable_graph_path(tmp_path, capsys):
    assert main(LECTURE + ["--dot", str(tmp_path / "missing" / "g.dot")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_missing_folder_for_one_file_writes_no_file_and_prints_nothing(tmp_path, capsys):
    args = LECTURE + ["--dot", str(tmp_path / "g.dot"), "--svg", str(tmp_path / "missing" / "g.svg")]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "does not exist" in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_ascii_output_escapes_names_that_are_not_ascii(capsys):
    assert main(["explain", "α*β", "α=1", "β=2", "--ascii"]) == 0
    out = capsys.readouterr().out
    assert out.isascii() and "\\u03b1 * \\u03b2" in out


def test_a_graph_file_name_must_match_its_option(tmp_path, capsys):
    assert main(LECTURE + ["--svg", str(tmp_path / "g.png")]) == 2
    assert "--svg needs a file name ending in .svg" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(LECTURE + ["--dot", str(tmp_path / "g.gv")]) == 0  # Graphviz's other suffix
    assert (tmp_path / "g.gv").read_text().startswith("digraph")


def test_demo_smoke(tmp_path, capsys):
    pytest.importorskip("sklearn")
    # The lm and cnn steps train on real corpora for minutes; they are exercised by their own tests.
    assert main(["demo", "--only", "explain,logistic,mlp", "--epochs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "∂L/∂b = ∂L/∂d · ∂d/∂b" in " ".join(out.split())
    assert "epoch 2/2" in out and "test_acc" in out and "=== summary ===" in out
    summary = out.split("=== summary ===")[1]
    for name in ("logistic", "mlp"):
        line = next(line for line in summary.splitlines() if line.strip().startswith(name))
        accuracy = float(line.split("test_acc ")[1].split("%")[0]) / 100
        assert accuracy > 0.85  # breast-cancer data is easy: both models are far above chance after 2 epochs
    assert (tmp_path / "explain.dot").exists() and (tmp_path / "mlp_graph.dot").exists()


def test_demo_epochs_reach_the_lm_and_cnn_steps(monkeypatch, capsys):
    from types import SimpleNamespace

    from chainrule.cnn import compare as cnn_compare
    from chainrule.lm import compare as lm_compare
    seen = {}

    def fake_lm(corpus, out_dir=None, epochs=None, seed=None):
        seen["lm"] = (epochs, seed)
        row = SimpleNamespace(name="model", test=SimpleNamespace(ppl=1.0))
        return SimpleNamespace(best_ngram=row, neural=row, mixture=row)

    def fake_cnn(epochs=4, seed=0):
        seen["cnn"] = (epochs, seed)
        return [("CNN-rand", SimpleNamespace(accuracy=(0.75, 0.0)))]
    monkeypatch.setattr(lm_compare, "demo", fake_lm)
    monkeypatch.setattr(cnn_compare, "demo_run", fake_cnn)
    assert main(["demo", "--only", "lm,cnn", "--epochs", "3", "--seed", "7", "--out", ""]) == 0
    assert seen == {"lm": (3, 7), "cnn": (3, 7)}
    assert "cnn        CNN-rand acc 75.0%" in capsys.readouterr().out  # in the closing summary
    assert main(["demo", "--only", "lm,cnn", "--out", ""]) == 0
    assert seen == {"lm": (None, 0), "cnn": (4, 0)}  # each step's own epochs; --seed 0 by default


def test_demo_only_and_unknown_step(capsys):
    assert main(["demo", "--only", "explain", "--out", ""]) == 0
    out = capsys.readouterr().out
    assert "1/1 explain" in out and "logistic" not in out
    assert main(["demo", "--only", "explain,bogus"]) == 2
    assert "unknown demo step bogus" in capsys.readouterr().err
    assert main(["demo", "--only", ","]) == 2  # once ran nothing and said nothing
    assert "--only names no step" in capsys.readouterr().err


def test_demo_lm_step_replaces_its_previous_run(tmp_path, monkeypatch):
    """A second `make demo` must not stop at "already holds a training run" (the corpus training is stubbed)."""
    from types import SimpleNamespace

    from chainrule.cli import demo as demo_cli
    from chainrule.lm import compare

    old_run = tmp_path / "lm_kjv"
    old_run.mkdir()
    (old_run / "last.ckpt.npz").write_bytes(b"from an earlier demo")
    (old_run / "config.json").write_text(json.dumps({"kind": "chainrule.lm", "train": dict(compare.DEMO_CONFIG)}))
    seen = {}

    def fake_demo(corpus, out_dir=None, epochs=None, seed=None):
        seen["existed"] = (tmp_path / "lm_kjv").exists()
        row = SimpleNamespace(name="model", test=SimpleNamespace(ppl=1.0))
        return SimpleNamespace(best_ngram=row, neural=row, mixture=row)

    monkeypatch.setattr(compare, "demo", fake_demo)
    demo_cli.lm_step(SimpleNamespace(out=str(tmp_path), epochs=None, seed=0))
    assert seen == {"existed": False}
    # A run the demo did not make (other model settings) is never deleted.
    mine = tmp_path / "lm_kjv"
    mine.mkdir()
    (mine / "config.json").write_text(json.dumps({"kind": "chainrule.lm", "train": {"order": 3, "emb": 600}}))
    with pytest.raises(CLIError, match="holds something the demo did not write"):
        demo_cli.lm_step(SimpleNamespace(out=str(tmp_path), epochs=None, seed=0))
    assert (mine / "config.json").exists()
