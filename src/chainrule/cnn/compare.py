"""Kim's Table 2 on our data: the four embedding modes and a bag-of-n-grams baseline, on the same folds.

    from chainrule.cnn.compare import compare, format_table
    from chainrule.datasets.labelled import load_labelled
    rows = compare(load_labelled("mr-vader"), CNNConfig(embeddings="glove-6b-50d"), k=10)
    print(format_table(rows))

Every model sees the same folds (or the data's own train/test split when it
has one) and the same dev hold-out inside each training set. ``rand`` uses
the pretrained vectors' width unless ``rand_dim`` says otherwise (Kim's rand
had word2vec's 300), so by default the modes differ only in how the
embeddings start and whether they train.
"""
import sys
from pathlib import Path

from ..models.textcnn import MODES
from .baseline import BowConfig, cross_validate_bow, train_bow
from .config import CNNConfig
from .crossval import CVResult, cross_validate, kfold_indices, summarize

BASELINE = "bag-of-n-grams"


def _fixed_split_result(metrics, labels, extra):
    fold = {"fold": 1, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "confusion_matrix": metrics["confusion_matrix"], **extra}
    return summarize([fold], labels, {"k": 0, "split": "fixed train/test"})


def compare(data, config=None, k=10, *, modes=MODES, bow_config=None, max_folds=None, vectors=None,
            rand_dim=None, run_dir=None, resume=False, show_progress=None, log=None):
    """Each CNN mode in ``modes`` and the baseline; returns rows ``(name, CVResult)`` in that order.

    ``max_folds`` runs only the first folds of the k-fold split (a quicker
    estimate; the table says how many ran). With ``run_dir`` each mode's
    runs go to ``run_dir/<mode>`` and can be resumed. ``vectors``: already
    loaded pretrained vectors (else ``config.embeddings`` is loaded once).
    """
    from .trainer import load_vectors, train_textcnn
    config = config or CNNConfig()
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    needs_vectors = any(m != "rand" for m in modes)
    if needs_vectors and not config.embeddings:
        raise ValueError("compare: the static, non-static and multichannel modes need pretrained embeddings "
                         "(e.g. --embeddings glove-6b-50d); or compare --modes rand only")
    if vectors is None and config.embeddings:
        vectors = load_vectors(config.embeddings)
    width = vectors.matrix.shape[1] if vectors is not None else None

    fixed = data.test is not None
    folds = None
    if not fixed:
        folds = kfold_indices(data.train.labels, k, config.seed)
        if max_folds:
            folds = folds[:max_folds]
    rows = []
    for mode in modes:
        dim = (rand_dim or config.embed_dim or width) if mode == "rand" else (config.embed_dim or width)
        cfg = config.replace(mode=mode, embed_dim=dim, embeddings=config.embeddings if mode != "rand" else None)
        log(f"== CNN-{mode} ==")
        sub = Path(run_dir) / mode if run_dir is not None else None
        if fixed:
            r = train_textcnn(data.train, cfg, dev=data.dev, test=data.test, vectors=vectors, run_dir=sub,
                              resume=resume and sub is not None and (sub / "last.ckpt.npz").exists(),
                              show_progress=show_progress, log=log)
            if r.interrupted:
                break
            result = _fixed_split_result(r.test, r.classifier.labels, {"best_epoch": r.best_epoch})
        else:
            result = cross_validate(data, cfg, vectors=vectors, folds=folds, run_dir=sub, resume=resume,
                                    show_progress=show_progress, log=log)
            if result.info.get("interrupted"):
                break
        rows.append((f"CNN-{mode}", result))
    else:  # no mode was interrupted: the baseline too
        log(f"== {BASELINE} ==")
        bow = bow_config or BowConfig(seed=config.seed, dev_fraction=config.dev_fraction)
        if fixed:
            r = train_bow(data.train, bow, dev=data.dev, test=data.test)
            rows.append((BASELINE, _fixed_split_result(r.test, r.labels, {"best_epoch": r.best_epoch})))
        else:
            rows.append((BASELINE, cross_validate_bow(data, folds, bow, log=log)))
    return rows


def format_table(rows, title=None):
    """The rows of ``compare`` as an aligned text table (accuracy and macro-F1, mean +- std)."""
    lines = [title] if title else []
    lines.append(f"{'model':<20} {'accuracy':>18} {'macro-F1':>18} {'folds':>6}")
    for name, r in rows:
        folds = len(r.folds) if r.info.get("k") else "fixed"
        if folds == "fixed" or folds < 2:  # one result has no spread to show (0.00 would look measured)
            acc, f1 = f"{r.accuracy[0]:.2%}", f"{r.macro_f1[0]:.4f}"
        else:
            acc = f"{r.accuracy[0]:.2%} +- {r.accuracy[1]:.2%}"
            f1 = f"{r.macro_f1[0]:.4f} +- {r.macro_f1[1]:.4f}"
        lines.append(f"{name:<20} {acc:>18} {f1:>18} {folds!s:>6}")
    return "\n".join(lines)


def table_json(rows):
    return {name: r.to_dict() for name, r in rows}


def demo_run(data="mr", embeddings="glove-6b-50d", modes=("rand", "non-static"), folds=1, epochs=None, log=None,
             seed=0):
    """A short comparison for ``make demo`` (a few minutes on two cores): one fold of mr's 10-fold
    split, a few epochs, two modes and the baseline. ``epochs`` (default: 4 for the CNNs, the
    baseline's own 10) applies to every model. Prints the table and returns the rows."""
    from ..datasets.labelled import load_labelled
    config = CNNConfig(embeddings=embeddings, epochs=epochs or 4, seed=seed)
    bow = BowConfig(seed=seed, dev_fraction=config.dev_fraction, epochs=epochs or BowConfig.epochs)
    rows = compare(load_labelled(data), config, k=10, modes=modes, max_folds=folds, log=log, bow_config=bow)
    print(format_table(rows, title=f"TextCNN on {data}: {folds} of 10 folds, {config.epochs} epochs for the CNNs "
                                   f"and {bow.epochs} for the baseline (Kim trains 25 epochs on all 10 folds)"))
    return rows


__all__ = ["BASELINE", "CVResult", "compare", "demo_run", "format_table", "table_json"]
