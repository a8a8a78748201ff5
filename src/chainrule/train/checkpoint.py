"""Checkpoints and the run directory they live in.

A run directory holds::

    DIR/config.json      the settings the run was started with (to resume it with the same ones)
    DIR/last.ckpt.npz    everything needed to continue: weights, optimiser, counters, RNG states
    DIR/best.ckpt.npz    the weights with the best validation metric so far
    DIR/history.json     per-epoch metrics, for people and plots
    DIR/curves.png       those metrics drawn

A checkpoint is one ``.npz`` written by ``chainrule.save`` (atomically and
without pickle) holding a dict: ``model`` (the state_dict's arrays),
``optimizer`` (its state_dict), and ``meta``: epoch and step counters, the
history, the states of the sampler, early stopping and scheduler, and the
states of chainrule's random generator and of any other generator passed in.
``meta`` must be JSON-friendly: chainrule.save keeps such values in its JSON
header, where PCG64's 128-bit integers fit (they would not fit an array).
"""
import json
import os
import time
from pathlib import Path

import numpy as np

from .. import rng

FORMAT = "chainrule.checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be used: unreadable, not a checkpoint, or not matching the model."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint where one was asked for."""


#: Files that belong to a training run, of any kind (a language model's, a TextCNN's, a cross-validation's).
RUN_FILES = ("config.json", "run.json", "vocab.json", "cnn.json", "model.npz", "cv.json", "result.json",
             "metrics.json", "history.json", "last.ckpt.npz", "best.ckpt.npz")


def run_files(folder):
    """The names of ``RUN_FILES`` present in ``folder`` (sorted; empty if it does not exist)."""
    folder = Path(folder)
    return sorted(name for name in RUN_FILES if (folder / name).exists())


def refuse_other_runs(folder, own=None):
    """ValueError if ``folder`` holds a training run's files (besides ``own``, this run's claim file):
    a new run would write over them (a language model's vocab.json over a TextCNN's, or back)."""
    others = [name for name in run_files(folder) if name != own]
    if others:
        raise ValueError(f"{folder} already holds a training run's files ({', '.join(others[:4])}); choose another "
                         f"--out, or continue that run with --resume {folder} if it is one of this kind")


def already_holds_a_run(folder, claim_file, resumable):
    """The message for a new run pointed at a folder that another run has claimed."""
    if resumable:
        return f"{folder} already holds a training run; continue it with --resume {folder}, or choose another --out"
    return (f"{folder} already holds a training run that has no checkpoint ({claim_file} but no last.ckpt.npz: it stopped "
            f"before its first epoch ended, or is starting now); if it is not running, delete {folder / claim_file} "
            f"(or the folder) to start again there, or choose another --out")


class RunDir:
    """The files of one training run, in one directory (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)

    last = property(lambda self: self.path / "last.ckpt.npz")
    best = property(lambda self: self.path / "best.ckpt.npz")
    config = property(lambda self: self.path / "config.json")
    history = property(lambda self: self.path / "history.json")
    plot = property(lambda self: self.path / "curves.png")

    def create(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def has_checkpoint(self):
        return self.last.is_file()

    def check_writable(self):
        """Before resuming: a folder that cannot take new files would fail only after an epoch's work."""
        if self.path.is_dir() and not os.access(self.path, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.path}: the run's folder is not writable, so no checkpoint could be saved; "
                                  f"copy it somewhere writable and resume there")

    def claim(self):
        """Create the folder and, exclusively, an empty ``config.json``, before a new run starts.

        The first checkpoint comes only after an epoch: without this, a second
        run started into the same folder meanwhile would train too, and the two
        would leave one's configuration beside the other's weights. A folder
        holding another kind of run's files (a TextCNN's ``run.json``,
        ``vocab.json``, ...) is refused too: this run would write over them.
        """
        from .atomic import claim
        refuse_other_runs(self.path, own=self.config.name)
        self.create()
        if not claim(self.config):
            raise ValueError(already_holds_a_run(self.path, self.config.name, self.has_checkpoint()))
        return self

    def release(self, also=()):
        """Undo ``claim`` for a run that failed before its first checkpoint.

        Its ``config.json`` (and the files in ``also``, such as a vocabulary it
        wrote) are removed, so the same folder can take a new run; once there is
        a checkpoint, everything stays for ``--resume``.
        """
        if self.has_checkpoint():
            return
        for path in (self.config, *also):
            Path(path).unlink(missing_ok=True)

    def contents(self):
        """Names of the files in the directory, for error messages."""
        try:
            return sorted(p.name for p in self.path.iterdir())
        except OSError:
            return None

    def save_config(self, config):
        from .atomic import atomic_write_json
        self.create()
        atomic_write_json(self.config, config)

    def load_config(self):
        try:
            with open(self.config, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise CheckpointNotFoundError(f"no run configuration at {self.config} ({_describe_dir(self.path)})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{self.config} is not valid JSON ({e}); the run configuration is damaged") from None

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self):
        return str(self.path)


def save_checkpoint(path, model, optimizer=None, scheduler=None, *, epoch=0, step=0, history=None, states=None,
                    rngs=None, extra=None, array_states=None):
    """Write a checkpoint to ``path`` atomically (a kill at any moment leaves the old one whole).

    ``model`` and ``optimizer`` contribute their state_dicts; ``scheduler`` and
    every object in ``states`` (a dict of name -> object with
    ``state_dict()``, e.g. ``{"sampler": sampler, "early_stopping": stopper}``)
    must give JSON-friendly state. ``history`` is a History or a dict of lists.
    chainrule's own generator is always saved; ``rngs`` names other
    ``numpy.random.Generator`` objects to save (such as one shuffling data).
    ``extra`` is any JSON-friendly dict (metrics, the vocabulary size, ...).
    ``array_states`` is like ``states`` for objects whose state holds arrays
    (an ExponentialMovingAverage of the weights): they go into the ``.npz``.
    """
    from ..serialization import save

    meta = {
        "epoch": int(epoch),
        "step": int(step),
        "history": _state_of(history) if history is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "states": {name: obj.state_dict() for name, obj in (states or {}).items()},
        "rng": {"chainrule": rng.get_state(),
                "generators": {name: _plain(g.bit_generator.state) for name, g in (rngs or {}).items()}},
        "extra": extra or {},
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save_checkpoint: the scheduler, states, history and extra must be JSON-friendly: {e}") \
            from None
    payload = {"format": FORMAT, "version": VERSION, "model": dict(model.state_dict()), "meta": meta}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if array_states:
        payload["array_states"] = {name: obj.state_dict() for name, obj in array_states.items()}
    save(payload, os.fspath(path))


def _plain(state):
    """A bit generator's state with its arrays as lists (MT19937, Philox and SFC64 hold some), for JSON.

    The ``bit_generator.state`` setter takes the lists back as they are.
    """
    if isinstance(state, dict):
        return {key: _plain(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state.item() if isinstance(state, np.generic) else state


def load_checkpoint(path):
    """Read a checkpoint file, or a run directory's ``last.ckpt.npz``.

    Returns a dict with ``model`` and ``optimizer`` (state_dicts, the latter
    None if none was saved), ``epoch``, ``step``, ``history``, ``scheduler``,
    ``states``, ``rng``, ``extra`` and ``path``. Raises CheckpointNotFoundError
    naming what the directory does hold, and CheckpointError for a damaged file.
    """
    from ..serialization import load

    path = Path(path)
    if path.is_dir():
        path = RunDir(path).last
    if not path.is_file():
        raise CheckpointNotFoundError(f"no checkpoint at {path} ({_describe_dir(path.parent)})")
    try:
        payload = load(os.fspath(path))
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"no checkpoint at {path} ({_describe_dir(path.parent)})") from None
    except Exception as e:  # noqa: BLE001 - any failure to parse means the file is unusable
        raise CheckpointError(f"cannot read checkpoint {path}: {e}. The file is damaged (a truncated copy?) "
                              f"or is not a chainrule checkpoint{_other_hint(path)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is a chainrule file but not a training checkpoint (it holds {keys})")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} is checkpoint format version {version}; this chainrule reads up to "
                              f"{VERSION}. Upgrade chainrule to resume it")
    meta = payload.get("meta")
    missing = [key for key in ("epoch", "step", "rng") if not isinstance(meta, dict) or key not in meta]
    if missing or not isinstance(payload.get("model"), dict):
        raise CheckpointError(f"cannot read checkpoint {path}: it lacks {missing or ['model']}")
    checkpoint = dict(meta)
    checkpoint["model"] = payload.get("model", {})
    checkpoint["optimizer"] = payload.get("optimizer")
    checkpoint["array_states"] = payload.get("array_states") or {}
    checkpoint["path"] = str(path)
    return checkpoint


def restore(checkpoint, model=None, optimizer=None, scheduler=None, *, history=None, states=None, rngs=None,
            restore_rng=True, array_states=None):
    """Put a loaded checkpoint's state back into the given objects, in place; returns the checkpoint.

    Pass the same kinds of objects that were given to ``save_checkpoint``;
    each is restored only if given. With ``restore_rng`` chainrule's generator
    continues exactly where it was (dropout masks, initialisers), so that
    training 2 epochs, saving, restoring and training 2 more gives the same
    weights as 4 epochs in one go. The returned dict's ``epoch`` and ``step``
    say where to continue.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint)
    where = checkpoint.get("path", "the checkpoint")
    if model is not None:
        try:
            model.load_state_dict(checkpoint["model"])
        except (KeyError, ValueError, RuntimeError) as e:  # RuntimeError as torch raises
            raise CheckpointError(f"{where} does not fit this model: {e}") from None
    if optimizer is not None:
        if checkpoint.get("optimizer") is None:
            raise CheckpointError(f"{where} has no optimizer state (a best-model checkpoint?); "
                                  "resume from last.ckpt.npz instead")
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{where} does not fit this optimizer: {e}") from None
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    if history is not None and checkpoint.get("history") is not None:
        history.load_state_dict(checkpoint["history"])
    for key, objects in (("states", states), ("array_states", array_states)):
        saved = checkpoint.get(key) or {}
        for name, obj in (objects or {}).items():
            if name not in saved:
                raise CheckpointError(f"{where} has no saved state for {name!r} (it has {sorted(saved)})")
            try:
                obj.load_state_dict(saved[name])
            except (KeyError, ValueError) as e:
                raise CheckpointError(f"{where}: the saved state of {name!r} does not fit: {e}") from None
    if restore_rng:
        rng.set_state(checkpoint["rng"]["chainrule"])
        saved = checkpoint["rng"].get("generators", {})
        for name, generator in (rngs or {}).items():
            if name not in saved:
                raise CheckpointError(f"{where} has no saved state for generator {name!r} (it has {sorted(saved)})")
            generator.bit_generator.state = saved[name]
    return checkpoint


def _state_of(obj):
    return obj.state_dict() if hasattr(obj, "state_dict") else dict(obj)


def _describe_dir(directory):
    directory = Path(directory)
    if not directory.exists():
        return f"directory {directory} does not exist"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    names = RunDir(directory).contents()
    if not names:
        return f"directory {directory} is empty"
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} files)" if len(names) > 20 else "")
    return f"{directory} contains: {shown}"


def _other_hint(path):
    # If one of the two checkpoints is damaged, the other may still be usable.
    for other in (path.with_name("best.ckpt.npz"), path.with_name("last.ckpt.npz")):
        if other != path and other.is_file():
            return f"; {other} is another checkpoint of this run"
    return ""
