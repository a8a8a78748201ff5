"""A trained language model's run directory: its configuration, vocabulary and weights.

    DIR/config.json      {"kind": "chainrule.lm", "train": {...options...}, "model": {...NeuralLM args...}}
    DIR/vocab.json       the vocabulary, built from the training split only
    DIR/best.ckpt.npz    the weights with the best validation perplexity
    DIR/last.ckpt.npz    everything needed to resume (weights, optimiser, counters, RNG states)
    DIR/history.json     per-epoch metrics; DIR/curves.png draws them

``load_run`` rebuilds the model from these files alone, for ``lm eval``,
``lm generate`` and the embedding tools.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..models.nplm import NeuralLM
from ..train.checkpoint import CheckpointError, CheckpointNotFoundError, RunDir, load_checkpoint, restore

KIND = "chainrule.lm"
VOCAB_FILE = "vocab.json"


@dataclass
class LoadedRun:
    model: NeuralLM
    vocab: object
    config: dict  # the training options ("train" in config.json)
    path: Path

    @property
    def context_size(self):
        return self.model.context_size


def vocab_path(run_dir):
    return Path(run_dir) / VOCAB_FILE


def read_config(run_dir):
    """The config.json of a run directory, checked to be a language-model run."""
    run = RunDir(run_dir)
    if not Path(run_dir).is_dir():
        raise CheckpointNotFoundError(f"{run_dir} is not a directory; expected a run directory made by "
                                      f"'chainrule lm train --out DIR'")
    config = run.load_config()
    if not isinstance(config, dict) or config.get("kind") != KIND or "model" not in config:
        raise CheckpointError(f"{run.config} is not a chainrule language-model configuration "
                              f"(expected kind {KIND!r} with 'model' and 'train' entries)")
    return config


def load_run(run_dir, which="best"):
    """Rebuild the model of ``run_dir`` with its ``best`` (default) or ``last`` weights, in eval mode."""
    from ..text import Vocab

    config = read_config(run_dir)
    run = RunDir(run_dir)
    path = run.best if which == "best" else run.last
    if which == "best" and not path.is_file() and run.last.is_file():
        # Interrupted before the first validation: the latest weights are all there is.
        warnings.warn(f"{run_dir} has no {run.best.name} (it was stopped before its first validation); "
                      f"using the latest weights, {run.last.name}", stacklevel=2)
        path = run.last
    checkpoint = load_checkpoint(path)
    vpath = vocab_path(run_dir)
    if not vpath.is_file():
        raise CheckpointNotFoundError(f"no vocabulary at {vpath}; the run directory is incomplete")
    vocab = Vocab.load(vpath)
    model_args = dict(config["model"])
    if model_args.get("vocab_size") != len(vocab):
        raise CheckpointError(f"{vpath} has {len(vocab)} words but the model in {run.config} expects "
                              f"{model_args.get('vocab_size')}")
    model = NeuralLM(**model_args)
    restore(checkpoint, model, restore_rng=False)
    model.eval()
    return LoadedRun(model=model, vocab=vocab, config=dict(config.get("train", {})), path=Path(run_dir))
