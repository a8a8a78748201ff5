"""k-fold cross-validation of the TextCNN (Kim's protocol for data without a test split).

Folds are stratified: each class is shuffled (seeded) and dealt round-robin to
the k folds, so every fold has about the same class balance, and the same
seed gives the same folds to every model compared on them. Fold i is the
test set of run i; the rest is its training data, of which 10% is held out
as dev data for choosing the epoch.

With a run folder::

    DIR/fold-01/ ... DIR/fold-10/   each fold's run (history, curves, result.json)
    DIR/cv.json                     per-fold and mean +- std scores
    DIR/confusion.png               the confusion matrix summed over the folds
    DIR/model.npz, cnn.json, ...    fold 1's classifier, for predict and ngrams

A fold's checkpoints are deleted once it is finished (its result.json says
so), which keeps the folder small; ``resume=True`` skips finished folds and
resumes an interrupted one from its last checkpoint.
"""
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..rng import numpy_seed
from .config import CNNConfig
from .metrics import format_confusion, plot_confusion

CV_FILE, RESULT_FILE = "cv.json", "result.json"


def kfold_indices(labels, k=10, seed=0):
    """k (train indices, test indices) pairs, stratified by label, each index in exactly one test fold."""
    labels = list(labels)
    n = len(labels)
    if not 2 <= k <= n:
        raise ValueError(f"cross-validation needs 2 <= k <= {n} (the number of examples), got k={k}")
    g = np.random.default_rng([numpy_seed(seed), 11])
    fold_of = np.empty(n, np.int64)
    start = 0
    for label in sorted(set(labels)):
        members = np.flatnonzero(np.asarray([x == label for x in labels]))
        members = members[g.permutation(len(members))]
        # Continue the round-robin where the previous class stopped, so fold sizes differ by at most one.
        fold_of[members] = (start + np.arange(len(members))) % k
        start = (start + len(members)) % k
    folds = []
    for i in range(k):
        test = np.flatnonzero(fold_of == i)
        train = np.flatnonzero(fold_of != i)
        folds.append((train, test))
    return folds


def mean_std(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


@dataclass
class CVResult:
    folds: list                      # one dict per fold: accuracy, macro_f1, best_epoch, ...
    accuracy: tuple                  # (mean, std)
    macro_f1: tuple
    confusion_matrix: list           # summed over folds
    labels: list
    info: dict = field(default_factory=dict)

    def summary(self):
        return (f"{len(self.folds)}-fold accuracy {self.accuracy[0]:.2%} +- {self.accuracy[1]:.2%}, "
                f"macro-F1 {self.macro_f1[0]:.4f} +- {self.macro_f1[1]:.4f}")

    def to_dict(self):
        return {"folds": self.folds, "accuracy": {"mean": self.accuracy[0], "std": self.accuracy[1]},
                "macro_f1": {"mean": self.macro_f1[0], "std": self.macro_f1[1]},
                "confusion_matrix": self.confusion_matrix, "labels": self.labels, "info": self.info}


def summarize(folds, labels, info=None):
    """A CVResult from per-fold dicts holding accuracy, macro_f1 and confusion_matrix."""
    cm = np.sum([np.asarray(f["confusion_matrix"]) for f in folds], axis=0).tolist()
    return CVResult(folds, mean_std([f["accuracy"] for f in folds]), mean_std([f["macro_f1"] for f in folds]),
                    cm, list(labels), dict(info or {}))


def _read_fold_result(path):
    """A finished fold's result.json, or a CheckpointError that names it and says how to recover."""
    from ..train.checkpoint import CheckpointError
    try:
        fold = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(fold, dict) or not {"accuracy", "macro_f1", "confusion_matrix"} <= fold.keys():
            raise ValueError("it lacks the accuracy, macro_f1 or confusion_matrix of the fold")
    except (ValueError, UnicodeDecodeError) as e:  # (json.JSONDecodeError is a ValueError)
        raise CheckpointError(f"{path} is damaged ({e}); delete it to train that fold again") from None
    return fold


def _delete_checkpoints(fold_dir):
    for name in ("last.ckpt.npz", "best.ckpt.npz"):
        (fold_dir / name).unlink(missing_ok=True)


def cross_validate(data, config=None, k=10, *, vectors=None, run_dir=None, resume=False, folds=None,
                   show_progress=None, log=None, report=True):
    """k-fold cross-validation of a TextCNN on ``data.train`` (a LabelledData); returns a CVResult.

    ``folds`` may be given (pairs of index arrays, e.g. to share them with a
    baseline); else ``kfold_indices(labels, k, config.seed)``. An interrupted
    fold stops the whole run (its checkpoint is kept for ``resume=True``);
    the returned CVResult then has ``info["interrupted"]`` set. ``report``:
    log the summary and confusion matrix at the end (the CLI prints them itself).
    """
    from .trainer import load_vectors, train_textcnn
    config = config or CNNConfig()
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    split = data.train
    folds = folds if folds is not None else kfold_indices(split.labels, k, config.seed)
    if config.mode != "rand" and vectors is None:
        vectors = load_vectors(config.embeddings)  # once, not once per fold
    run = Path(run_dir) if run_dir is not None else None
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)

    results = []
    for i, (train_idx, test_idx) in enumerate(folds, start=1):
        fold_dir = run / f"fold-{i:02d}" if run is not None else None
        done = fold_dir / RESULT_FILE if fold_dir is not None else None
        if resume and done is not None and done.is_file():
            results.append(_read_fold_result(done))
            _delete_checkpoints(fold_dir)  # left behind if a run was killed right after writing result.json
            log(f"fold {i}/{len(folds)}: already done (accuracy {results[-1]['accuracy']:.2%})")
            continue
        resume_fold = resume and fold_dir is not None and (fold_dir / "last.ckpt.npz").is_file()
        if fold_dir is not None and not resume_fold and fold_dir.exists():
            shutil.rmtree(fold_dir)  # a fold that never saved a checkpoint starts over
        log(f"fold {i}/{len(folds)}: {len(train_idx)} training sentences, {len(test_idx)} test sentences")
        result = train_textcnn(split.subset(train_idx), config, test=split.subset(test_idx), vectors=vectors,
                               run_dir=fold_dir, resume=resume_fold, show_progress=show_progress, log=log,
                               save=False)
        if result.interrupted:
            partial = summarize(results, data.labels, {"interrupted": True, "exit_code": result.exit_code}) \
                if results else CVResult([], (np.nan, np.nan), (np.nan, np.nan), [], data.labels,
                                         {"interrupted": True, "exit_code": result.exit_code})
            return partial
        fold = {"fold": i, "accuracy": result.test["accuracy"], "macro_f1": result.test["macro_f1"],
                "best_epoch": result.best_epoch, "dev_accuracy": result.dev_accuracy,
                "confusion_matrix": result.test["confusion_matrix"], "test_examples": len(test_idx),
                "train_sentences_per_s": result.train_sentences_per_s, "seconds": result.seconds,
                "coverage": result.coverage}
        results.append(fold)
        log(f"fold {i}/{len(folds)}: test accuracy {fold['accuracy']:.2%} at best dev epoch {fold['best_epoch']}")
        if fold_dir is not None:
            from ..train.atomic import atomic_write_json
            if i == 1:
                result.classifier.save(run)
            # result.json first: a kill between the two then leaves a finished fold, not a lost one.
            atomic_write_json(done, fold)
            _delete_checkpoints(fold_dir)

    info = {"k": len(folds), "config": config.to_dict(), "data": data.name}
    cv = summarize(results, data.labels, info)
    if run is not None:
        from ..train.atomic import atomic_write_json
        atomic_write_json(run / CV_FILE, cv.to_dict())
        try:
            plot_confusion(cv.confusion_matrix, cv.labels, run / "confusion.png",
                           title=f"{len(folds)}-fold CV, accuracy {cv.accuracy[0]:.1%}")
        except ImportError:
            pass
    if report:
        log(cv.summary())
        log(format_confusion(cv.confusion_matrix, cv.labels))
    return cv
