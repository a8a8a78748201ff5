"""Tests of chainrule.train: atomic files, checkpoints and exact resume, interrupts,
early stopping, history and plots, the batch sampler, progress and fit."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from weights import assert_same_weights, weights

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim
from chainrule.train import (
    BatchSampler,
    CheckpointError,
    CheckpointNotFoundError,
    EarlyStopping,
    GracefulInterrupt,
    History,
    RunDir,
    Throughput,
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    fit,
    load_checkpoint,
    progress,
    restore,
    save_checkpoint,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ helpers
def make_model(seed):
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 3))


def make_data(n=37, seed=0):
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    return x, y


def sgd_step(model, opt, x, y, noise_rng=None):
    inputs = x
    if noise_rng is not None:  # a second generator the loop draws from, saved through rngs=
        inputs = x + noise_rng.standard_normal(x.shape).astype(np.float32) * 0.1
    loss = F.cross_entropy(model(cr.tensor(inputs)), cr.tensor(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


# ------------------------------------------------------------------ atomic
def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path, monkeypatch):
    target = tmp_path / "vocab.txt"
    atomic_write_text(target, "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new\n" * 1000)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["vocab.txt"]  # no temporary file left behind


def test_atomic_open_keeps_old_file_when_writing_fails_midway(tmp_path):
    target = tmp_path / "vectors.txt"
    atomic_write_text(target, "complete old file\n")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write("half of the new")
        raise RuntimeError("killed while writing")
    assert target.read_text() == "complete old file\n"
    assert os.listdir(tmp_path) == ["vectors.txt"]
    with atomic_open(target) as f:
        f.write("new\n")
    assert target.read_text() == "new\n"


def test_atomic_write_json_round_trip_and_unserialisable_leaves_file(tmp_path):
    target = tmp_path / "h.json"
    atomic_write_json(target, {"loss": [1.5, float("nan"), float("inf")], "name": "é"})
    back = json.loads(target.read_text(encoding="utf-8"))
    assert back["name"] == "é" and back["loss"][0] == 1.5 and np.isnan(back["loss"][1])
    before = target.read_bytes()
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert target.read_bytes() == before
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "missing_dir" / "x.txt", "x")


# ------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_model_adam_and_generators(tmp_path):
    x, y = make_data()
    model = make_model(1)
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        sgd_step(model, opt, x, y)
    shuffle_rng = np.random.default_rng(123)
    shuffle_rng.random(7)
    history = History()
    history.record(epoch=1, train_loss=1.25, val_loss=1.5)
    path = tmp_path / "last.ckpt.npz"
    save_checkpoint(path, model, opt, epoch=3, step=17, history=history, rngs={"shuffle": shuffle_rng},
                    extra={"vocab_size": 50, "note": "hi"})
    expected_next_draw = np.random.default_rng(0)
    expected_next_draw.bit_generator.state = shuffle_rng.bit_generator.state
    cr_state = cr.rng.get_state()

    ckpt = load_checkpoint(tmp_path)  # a directory means its last.ckpt.npz
    assert ckpt["epoch"] == 3 and ckpt["step"] == 17 and ckpt["extra"] == {"vocab_size": 50, "note": "hi"}
    assert ckpt["history"]["val_loss"] == [1.5]

    fresh = make_model(99)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    fresh_rng = np.random.default_rng(0)
    fresh_history = History()
    cr.manual_seed(5)  # the restore must bring chainrule's generator back
    restore(ckpt, fresh, fresh_opt, history=fresh_history, rngs={"shuffle": fresh_rng})
    assert_same_weights(weights(model), weights(fresh))
    assert fresh_opt.param_groups[0]["lr"] == 0.01
    assert fresh_history["train_loss"] == [1.25]
    assert fresh_rng.random() == expected_next_draw.random()
    assert cr.rng.get_state() == cr_state
    saved_opt, loaded_opt = opt.state_dict(), fresh_opt.state_dict()
    for key, state in saved_opt["state"].items():
        assert loaded_opt["state"][key]["step"] == state["step"] == 3
        np.testing.assert_array_equal(loaded_opt["state"][key]["exp_avg_sq"], state["exp_avg_sq"])
    # The next step is the same in both, so the moments really came back.
    cr.manual_seed(7)
    sgd_step(model, opt, x, y)
    cr.manual_seed(7)
    sgd_step(fresh, fresh_opt, x, y)
    assert_same_weights(weights(model), weights(fresh))


def test_exact_resume_with_shuffling_and_dropout(tmp_path):
    """4 epochs in one go == 2 epochs, save, restore into fresh objects, 2 more epochs."""
    x, y = make_data()

    def train(model, opt, sampler, noise, until):
        model.train()
        while sampler.epoch < until:
            for idx in sampler:
                sgd_step(model, opt, x[idx], y[idx], noise)

    model = make_model(0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sampler = BatchSampler(len(x), batch_size=8, shuffle=True, seed=3)
    noise = np.random.default_rng(11)
    train(model, opt, sampler, noise, until=4)
    uninterrupted = weights(model)

    model = make_model(0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sampler = BatchSampler(len(x), batch_size=8, shuffle=True, seed=3)
    noise = np.random.default_rng(11)
    train(model, opt, sampler, noise, until=2)
    save_checkpoint(tmp_path / "last.ckpt.npz", model, opt, epoch=2, states={"sampler": sampler},
                    rngs={"noise": noise})
    halfway = weights(model)

    # As a new process would: different initial weights, seed and generators.
    model = make_model(42)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sampler = BatchSampler(len(x), batch_size=8, shuffle=True, seed=0)
    noise = np.random.default_rng(0)
    ckpt = restore(load_checkpoint(tmp_path / "last.ckpt.npz"), model, opt, states={"sampler": sampler},
                   rngs={"noise": noise})
    assert ckpt["epoch"] == sampler.epoch == 2
    train(model, opt, sampler, noise, until=4)
    resumed = weights(model)
    assert_same_weights(uninterrupted, resumed)
    assert not np.array_equal(halfway["0.weight"], resumed["0.weight"])  # training did move on


def test_resume_without_rng_restore_differs(tmp_path):
    """The exact-resume test can fail: skipping the RNG restore changes the dropout masks."""
    x, y = make_data()
    model = make_model(0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    save_checkpoint(tmp_path / "c.npz", model, opt)
    sgd_step(model, opt, x, y)
    expected = weights(model)
    model2 = make_model(1)
    opt2 = optim.Adam(model2.parameters(), lr=0.01)
    restore(load_checkpoint(tmp_path / "c.npz"), model2, opt2, restore_rng=False)
    sgd_step(model2, opt2, x, y)
    assert not np.array_equal(expected["0.weight"], weights(model2)["0.weight"])


def test_missing_checkpoint_errors_name_the_path_and_directory(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.save_config({"lr": 0.1})
    with pytest.raises(CheckpointNotFoundError) as err:
        load_checkpoint(run.path)
    message = str(err.value)
    assert "last.ckpt.npz" in message and "config.json" in message
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(CheckpointNotFoundError, match="empty"):
        load_checkpoint(RunDir(tmp_path / "empty").create().last)
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere" / "last.ckpt.npz")
    assert run.load_config() == {"lr": 0.1}
    with pytest.raises(CheckpointNotFoundError, match="config.json"):
        RunDir(tmp_path / "empty").load_config()


def test_corrupt_checkpoint_errors(tmp_path):
    model = make_model(0)
    opt = optim.Adam(model.parameters(), lr=0.01)
    good = tmp_path / "last.ckpt.npz"
    save_checkpoint(good, model, opt, epoch=1)
    save_checkpoint(tmp_path / "best.ckpt.npz", model, epoch=1)
    data = good.read_bytes()

    truncated = tmp_path / "last.ckpt.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged") as err:
        load_checkpoint(truncated)
    assert str(truncated) in str(err.value) and "best.ckpt.npz" in str(err.value)

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.npz"):
        load_checkpoint(garbage)

    other = tmp_path / "other.npz"
    cr.save({"weights": np.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_checkpoint(other)

    # A readable checkpoint for another model: the error says so.
    best = load_checkpoint(tmp_path / "best.ckpt.npz")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        restore(best, nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 3)))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        restore(best, make_model(0), optim.Adam(make_model(0).parameters()))


def test_save_checkpoint_rejects_non_json_state(tmp_path):
    class Weird:
        def state_dict(self):
            return {"fn": print}

    with pytest.raises(TypeError, match="JSON-friendly"):
        save_checkpoint(tmp_path / "c.npz", make_model(0), states={"weird": Weird()})
    assert not (tmp_path / "c.npz").exists()


# -------------------------------------------------------------- interrupts
def test_graceful_interrupt_sigterm_sets_flag_and_restores_handler():
    before = signal.getsignal(signal.SIGTERM)
    with GracefulInterrupt(message=False) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested  # the handler runs before the next bytecode in the main thread
        assert stop.signal_name == "SIGTERM" and stop.exit_code == 143
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.fixture
def sigint_as_in_a_terminal():
    """Python's own Ctrl-C handler for the test: a suite run as a background job starts with SIGINT ignored."""
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, original)


def test_graceful_interrupt_second_signal_aborts(sigint_as_in_a_terminal):
    before = signal.getsignal(signal.SIGINT)
    with GracefulInterrupt(message=False) as stop:
        os.kill(os.getpid(), signal.SIGINT)  # the first one only asks to stop ...
        for _ in range(1000):
            pass
        assert stop.requested and stop.exit_code == 130
        with pytest.raises(KeyboardInterrupt):  # ... the second one aborts at once
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the signal arrives within a few bytecodes
                pass
    assert signal.getsignal(signal.SIGINT) is before


def test_graceful_interrupt_message(capsys):
    buffer = io.StringIO()
    with GracefulInterrupt(file=buffer) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.requested and "SIGTERM" in buffer.getvalue() and "checkpoint" in buffer.getvalue()


# ----------------------------------------------------------- early stopping
def test_early_stopping_min_with_patience_and_delta():
    stopper = EarlyStopping(patience=2, mode="min", min_delta=0.1)
    assert stopper.step(1.0) is True
    assert stopper.step(0.95) is False  # better, but not by more than min_delta
    assert not stopper.should_stop
    assert stopper.step(0.8) is True and stopper.best == 0.8 and stopper.best_step == 2
    assert stopper.step(float("nan")) is False
    assert not stopper.should_stop
    assert stopper.step(0.9) is False
    assert stopper.should_stop


def test_early_stopping_max_and_state_round_trip():
    stopper = EarlyStopping(patience=1, mode="max")
    stopper.step(0.5)
    stopper.step(0.7)
    resumed = EarlyStopping(patience=1, mode="max")
    resumed.load_state_dict(json.loads(json.dumps(stopper.state_dict())))
    assert resumed.best == 0.7 and resumed.best_step == 1
    assert resumed.step(0.6) is False and resumed.should_stop
    never = EarlyStopping(patience=None)
    for v in range(10):
        never.step(v)
    assert not never.should_stop and never.best == 0
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="min").load_state_dict(stopper.state_dict())


# ------------------------------------------------------------------ history
def test_history_record_save_load_and_plot_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = History()
    history.record(epoch=1, train_loss=np.float32(2.0), val_loss=2.5)
    history.record(epoch=2, train_loss=1.5, val_loss=2.1, val_acc=0.6)
    history.record(epoch=3, train_loss=1.2, val_loss=float("nan"), val_acc=0.7)
    assert history["val_acc"] == [None, 0.6, 0.7] and len(history) == 3
    assert isinstance(history["train_loss"][0], float)
    assert history.best("val_loss") == (2.1, 1)
    assert history.best("val_acc", mode="max") == (0.7, 2)
    history.save(tmp_path / "history.json")
    back = History.load(tmp_path / "history.json")
    assert back["train_loss"] == history["train_loss"] and np.isnan(back["val_loss"][2])

    png = tmp_path / "curves.png"
    back.plot(png, title="run")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 2 * image.shape[0]  # two panels side by side
    back.plot(tmp_path / "one.png", metrics=[("train_loss", "val_loss")])
    assert (tmp_path / "one.png").read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(KeyError, match="val_ppl"):
        back.plot(tmp_path / "x.png", metrics=["val_ppl"])
    assert not (tmp_path / "x.png").exists()


def test_history_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="history"):
        History.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        History.load(bad)
    with pytest.raises(ValueError, match="lengths"):
        History({"a": [1, 2], "b": [1]})


def test_history_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    history = History()
    history.record(epoch=1, train_loss=1.0)
    with pytest.raises(ImportError, match="pip install"):
        history.plot(tmp_path / "c.png")


# ------------------------------------------------------------------ sampler
def test_batch_sampler_covers_each_epoch_and_resumes_mid_epoch():
    sampler = BatchSampler(10, batch_size=4, seed=1)
    assert len(sampler) == 3
    epoch0 = list(sampler)
    assert [len(b) for b in epoch0] == [4, 4, 2] and sampler.epoch == 1
    assert sorted(np.concatenate(epoch0).tolist()) == list(range(10))
    epoch1 = list(sampler)
    assert not np.array_equal(np.concatenate(epoch0), np.concatenate(epoch1))

    reference = BatchSampler(10, batch_size=4, seed=1)
    full = [b.tolist() for _ in range(3) for b in reference]
    partial = BatchSampler(10, batch_size=4, seed=1)
    seen = []
    for b in partial:
        seen.append(b.tolist())
        if len(seen) == 2:
            break
    state = json.loads(json.dumps(partial.state_dict()))
    resumed = BatchSampler(10, batch_size=4, seed=99)
    resumed.load_state_dict(state)
    seen += [b.tolist() for b in resumed] + [b.tolist() for _ in range(2) for b in resumed]
    assert seen == full

    assert [b.tolist() for b in BatchSampler(5, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(5, 2, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        resumed.load_state_dict(dict(state, batch_size=5))
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(5, 0)


# ----------------------------------------------------------------- progress
def test_throughput_with_a_fake_clock():
    now = [0.0]
    speed = Throughput(window=10, clock=lambda: now[0])
    for _ in range(4):
        now[0] += 1.0
        speed.update(1000)
    assert speed.rate == pytest.approx(1000.0)
    now[0] += 1.0
    speed.update(5000)
    assert speed.rate == pytest.approx(9000 / 5)
    assert speed.format("tok") == "1.8k tok/s"
    for _ in range(20):
        now[0] += 1.0
        speed.update(100)
    assert speed.recent_rate == pytest.approx(100.0)  # the window forgot the fast start


def test_progress_without_tqdm_prints_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    out = io.StringIO()
    bar = progress(range(5), desc="epoch 1", unit="batch", disable=False, file=out)
    assert type(bar).__name__ == "_PlainProgress"
    total = 0
    for i in bar:
        bar.set_postfix(loss=0.5)
        total += i
    assert total == 10
    assert "epoch 1: 5/5 batch" in out.getvalue() and "loss=0.5" in out.getvalue()
    silent = io.StringIO()
    with progress(total=3, file=silent, disable=None) as manual:  # a StringIO is not a terminal
        manual.update(3)
    assert silent.getvalue() == ""


def test_progress_uses_tqdm_when_installed():
    tqdm = pytest.importorskip("tqdm")
    bar = progress(range(3), disable=True)
    assert isinstance(bar, tqdm.tqdm) and list(bar) == [0, 1, 2]


# ---------------------------------------------------------------------- fit
def make_fit_run(seed=0):
    """A model, optimiser, scheduler, sampler and the two functions fit needs."""
    x, y = make_data(40)
    vx, vy = make_data(20, seed=1)
    model = make_model(seed)
    opt = optim.Adam(model.parameters(), lr=0.02)
    scheduler = optim.StepLR(opt, step_size=2, gamma=0.5)
    sampler = BatchSampler(len(x), batch_size=8, shuffle=True, seed=5)
    calls = {"steps": 0}

    def train_step(idx):
        calls["steps"] += 1
        loss = sgd_step(model, opt, x[idx], y[idx])
        return loss, len(idx)

    def evaluate():
        logits = model(cr.tensor(vx))
        return {"val_loss": F.cross_entropy(logits, cr.tensor(vy)).item(),
                "val_acc": float((logits.data.argmax(1) == vy).mean())}

    return model, opt, scheduler, sampler, train_step, evaluate, calls


def run_fit(run_dir, epochs, resume=False, interrupt_at=None, **kwargs):
    model, opt, scheduler, sampler, train_step, evaluate, calls = make_fit_run(seed=7 if resume else 0)
    if interrupt_at is not None:
        inner = train_step

        def train_step(idx):
            out = inner(idx)
            if calls["steps"] == interrupt_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return out

    result = fit(model, opt, sampler, train_step, evaluate, epochs=epochs, run_dir=run_dir, resume=resume,
                 scheduler=scheduler, on_epoch_end=lambda epoch, row: scheduler.step(), show_progress=False,
                 log=lambda text: None, config={"epochs": epochs}, **kwargs)
    return result, model, opt


def test_fit_interrupted_mid_epoch_then_resumed_matches_uninterrupted(tmp_path):
    pytest.importorskip("matplotlib")
    full, full_model, full_opt = run_fit(tmp_path / "full", epochs=4, plot=False)
    assert not full.interrupted and full.epoch == 4 and full.step == 20

    # SIGTERM at step 7 (epoch 2, batch 2 of 5): a checkpoint mid-epoch, exit code 143.
    part, _, _ = run_fit(tmp_path / "part", epochs=4, interrupt_at=7, plot=False)
    assert part.interrupted and part.exit_code == 143 and part.step == 7 and len(part.history) == 1
    ckpt = load_checkpoint(tmp_path / "part")
    assert ckpt["states"]["sampler"]["position"] == 2
    rest, rest_model, rest_opt = run_fit(tmp_path / "part", epochs=4, resume=True)
    assert not rest.interrupted and rest.step == 20

    assert_same_weights(weights(full_model), weights(rest_model))
    assert full_opt.param_groups[0]["lr"] == rest_opt.param_groups[0]["lr"] == 0.02 * 0.5 ** 2
    # Everything but the timings matches, epoch by epoch.
    for name in ("epoch", "train_loss", "val_loss", "val_acc", "lr"):
        assert full.history[name] == rest.history[name], name
    run = RunDir(tmp_path / "part")
    for path in (run.last, run.best, run.history, run.plot, run.config):
        assert path.is_file(), path
    assert run.plot.read_bytes()[:8] == PNG_SIGNATURE
    assert History.load(run.history)["val_loss"] == rest.history["val_loss"]
    best = load_checkpoint(run.best)
    assert best["epoch"] == rest.best_epoch
    assert best["extra"]["metrics"]["val_loss"] == rest.best == min(rest.history["val_loss"])


def test_fit_early_stopping_and_run_dir_rules(tmp_path):
    # mode='max' with an unreachable min_delta: no epoch after the first improves.
    result, _, _ = run_fit(tmp_path / "r", epochs=10, monitor="val_acc", mode="max", patience=2, min_delta=1.0,
                           plot=False)
    assert result.stopped_early and result.epoch == 3 and result.best_epoch == 1
    # Resuming a run that stopped early does nothing more.
    again, _, _ = run_fit(tmp_path / "r", epochs=10, resume=True, monitor="val_acc", mode="max", patience=2,
                          min_delta=1.0, plot=False)
    assert again.epoch == 3 and again.step == result.step and again.stopped_early

    with pytest.raises(CheckpointError, match="already holds a run"):
        run_fit(tmp_path / "r", epochs=1)
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        run_fit(tmp_path / "new", epochs=1, resume=True)
    with pytest.raises(KeyError, match="val_ppl"):
        run_fit(tmp_path / "m", epochs=1, monitor="val_ppl")


def test_fit_stops_on_a_diverged_loss(tmp_path):
    model, opt, _, sampler, _, _, _ = make_fit_run()
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(model, opt, sampler, lambda idx: float("nan"), epochs=1, monitor="train_loss",
            show_progress=False, log=lambda text: None)


def test_failed_checkpoint_write_leaves_previous_loadable(tmp_path, monkeypatch):
    model = make_model(0)
    path = tmp_path / "last.ckpt.npz"
    save_checkpoint(path, model, epoch=1)

    def dies_midway(file, **arrays):
        file.write(b"PK\x03\x04 partial zip")
        raise KeyboardInterrupt  # as if killed while writing

    monkeypatch.setattr(np, "savez", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt.npz"]


SCRIPT = """
import signal, sys, time
# Ctrl-C as from a terminal: the test suite itself may run as a background job, which ignores SIGINT
# (and GracefulInterrupt leaves an ignored SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import chainrule as cr
from chainrule import nn, optim
import chainrule.functional as F
from chainrule.train import BatchSampler, fit

cr.manual_seed(0)
x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.int64)
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
opt = optim.SGD(model.parameters(), lr=0.1)

def step(idx):
    time.sleep(0.01)  # slow enough for the test to signal mid-run
    loss = F.cross_entropy(model(cr.tensor(x[idx])), cr.tensor(y[idx]))
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item(), len(idx)

result = fit(model, opt, BatchSampler(64, 8, seed=1), step, epochs=int(sys.argv[2]), run_dir=sys.argv[1],
             resume=sys.argv[3] == "resume", monitor="train_loss", show_progress=False, plot=False)
print("done", result.epoch, result.step, flush=True)
sys.exit(result.exit_code)
"""


def test_ctrl_c_in_a_real_process_saves_and_resume_finishes(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run_dir), "1000", "new"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run_dir / "history.json").exists():  # the first epoch is done
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err and "last.ckpt.npz" in err
    ckpt = load_checkpoint(run_dir)
    assert 1 <= ckpt["epoch"] < 1000 and ckpt["step"] >= 8

    done = subprocess.run([sys.executable, str(script), str(run_dir), str(ckpt["epoch"] + 1), "resume"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    assert done.stdout.split() == ["done", str(ckpt["epoch"] + 1), str((ckpt["epoch"] + 1) * 8)]


def test_fit_early_stop_on_a_metric_that_never_had_a_usable_value(tmp_path):
    model, opt, _, sampler, train_step, _, _ = make_fit_run()
    lines = []
    kwargs = {"epochs": 6, "run_dir": tmp_path / "r", "patience": 2, "show_progress": False,
              "log": lines.append, "plot": False}
    result = fit(model, opt, sampler, train_step, lambda: {"val_loss": float("nan")}, **kwargs)
    assert result.stopped_early and result.best_epoch is None
    assert "it never had a usable value" in lines[-1]
    # And a resume of that run ends the same way instead of failing.
    again = fit(model, opt, sampler, train_step, lambda: {"val_loss": float("nan")}, resume=True, **kwargs)
    assert again.stopped_early and again.step == result.step


def test_fit_checks_the_monitor_before_training(tmp_path):
    model, opt, _, sampler, train_step, _, calls = make_fit_run()
    with pytest.raises(ValueError, match="needs evaluate="):
        fit(model, opt, sampler, train_step, epochs=1, show_progress=False, log=lambda text: None)
    assert calls["steps"] == 0  # refused before the first step, not after an epoch
    result = fit(model, opt, sampler, train_step, epochs=1, monitor="lr", show_progress=False, log=lambda text: None)
    assert result.best == 0.02  # a metric fit itself records needs no evaluate
    with pytest.raises(ValueError, match="sampler"):
        fit(model, opt, sampler, train_step, epochs=1, monitor="train_loss", states={"sampler": sampler},
            show_progress=False, log=lambda text: None)


def test_fit_checkpoints_the_callers_extra_state(tmp_path):
    """An EMA updated inside train_step, and a JSON state, are saved and restored with the run."""
    class Counter:
        def __init__(self):
            self.n = 0

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    def run(run_dir, resume=False, interrupt_at=None):
        model, opt, _, sampler, train_step, evaluate, calls = make_fit_run(seed=7 if resume else 0)
        ema, counter = optim.ExponentialMovingAverage(model.parameters(), 0.9), Counter()

        def step(idx):
            out = train_step(idx)
            ema.update()
            counter.n += 1
            if calls["steps"] == interrupt_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return out

        result = fit(model, opt, sampler, step, evaluate, epochs=3, run_dir=run_dir, resume=resume,
                     states={"counter": counter}, array_states={"ema": ema}, show_progress=False,
                     log=lambda text: None, plot=False)
        with ema.average_parameters():
            averaged = weights(model)
        return result, averaged, counter.n

    _, full_average, full_count = run(tmp_path / "full")
    part, _, _ = run(tmp_path / "part", interrupt_at=7)
    assert part.interrupted
    _, resumed_average, resumed_count = run(tmp_path / "part", resume=True)
    assert resumed_count == full_count == 15
    assert_same_weights(full_average, resumed_average)


@pytest.mark.parametrize("kind", [np.random.MT19937, np.random.Philox, np.random.SFC64])
def test_checkpoint_saves_generators_of_every_bit_generator(tmp_path, kind):
    model = make_model(0)
    g = np.random.Generator(kind(11))
    g.random(5)
    save_checkpoint(tmp_path / "c.npz", model, rngs={"g": g})
    expected = g.random(3)
    h = np.random.Generator(kind(0))
    restore(load_checkpoint(tmp_path / "c.npz"), model, rngs={"g": h})
    np.testing.assert_array_equal(h.random(3), expected)


def test_graceful_interrupt_leaves_an_ignored_signal_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a job started with `cmd &` by a script
    try:
        with GracefulInterrupt(message=False) as stop:
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            assert not stop.requested
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_negative_seed_works_everywhere_as_in_manual_seed():
    # manual_seed takes -1 as torch does (its 64-bit two's complement); NumPy refuses negative seeds,
    # so the samplers used to fail on their first epoch.
    from chainrule.rng import numpy_seed
    assert numpy_seed(-1) == 2**64 - 1 and numpy_seed(5) == 5
    sampler = BatchSampler(10, 4, seed=-1)
    assert sorted(np.concatenate(list(sampler))) == list(range(10))
    assert [b.tolist() for b in BatchSampler(10, 4, seed=-1)] == [b.tolist() for b in BatchSampler(10, 4, seed=2**64 - 1)]


def test_resume_writes_the_history_of_its_checkpoint(tmp_path):
    # A run stopped between its last checkpoint and history.json kept a history an epoch short for good.
    run_fit(tmp_path / "r", epochs=3, plot=False)
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3]
    (tmp_path / "r" / "history.json").write_text(json.dumps({k: v[:2] for k, v in history.items()}))
    run_fit(tmp_path / "r", epochs=3, resume=True, plot=False)
    assert json.loads((tmp_path / "r" / "history.json").read_text()) == history


def test_format_count_never_shows_a_thousand_of_a_unit():
    from chainrule.train.progress import format_count
    assert [format_count(n) for n in (999_960, 999.96, 999.94, 999, 1500, 1_234_567)] == [
        "1.0M", "1.0k", "999.9", "999", "1.5k", "1.2M"]


def test_a_second_signal_aborts_with_its_own_exit_code(monkeypatch, capsys):
    import argparse

    from chainrule.cli import main
    from chainrule.train.interrupt import Aborted

    def abort(args):
        raise Aborted(signal.SIGTERM)

    def parser():
        p = argparse.ArgumentParser()
        p.set_defaults(func=abort)
        return p
    monkeypatch.setattr("chainrule.cli.build_parser", parser)
    assert main([]) == 143  # a second SIGTERM used to exit 130, as Ctrl-C
    assert "interrupted without saving" in capsys.readouterr().err


def test_resuming_in_a_folder_that_cannot_be_written_fails_before_any_work(tmp_path, monkeypatch):
    run_fit(tmp_path / "r", epochs=1, plot=False)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(tmp_path / "r")
                        else real_access(path, mode))
    with pytest.raises(PermissionError, match="folder is not writable"):
        run_fit(tmp_path / "r", epochs=2, resume=True, plot=False)
