"""Classification metrics: accuracy, macro-F1, the confusion matrix (as text and as a PNG)."""
import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts (C, C): row = true class, column = predicted class (scikit-learn's convention)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.shape[0]} true labels but {y_pred.shape[0]} predictions")
    # bincount over the pair index is one pass and avoids np.add.at.
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)


def accuracy(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else float("nan")


def per_class_f1(cm):
    """F1 of each class from a confusion matrix; a class never predicted nor present scores 0."""
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    denom = predicted + actual
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def macro_f1(y_true, y_pred, num_classes):
    """The unweighted mean of the classes' F1 scores (scikit-learn's f1_score(average='macro')).

    As there, only classes that occur in the data or the predictions count: a
    cross-validation fold without any example of a rare class is not marked
    down for never predicting it.
    """
    return _macro(confusion_matrix(y_true, y_pred, num_classes))


def _macro(cm):
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(per_class_f1(cm)[present].mean()) if present.any() else float("nan")


def classification_metrics(y_true, y_pred, labels):
    """accuracy, macro_f1, the confusion matrix (as lists) and per-class F1, as a JSON-friendly dict."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    f1 = per_class_f1(cm)
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": _macro(cm), "n": len(y_true),
            "labels": list(labels), "confusion_matrix": cm.tolist(),
            "f1": {label: float(v) for label, v in zip(labels, f1)}}


def format_confusion(cm, labels):
    """The confusion matrix as an aligned text table (rows: true, columns: predicted)."""
    cm = np.asarray(cm)
    labels = [str(x) for x in labels]
    width = max([len(x) for x in labels] + [len(str(cm.max())) if cm.size else 1, 4])
    head = "true \\ pred".ljust(max(width, 11))
    lines = [head + " " + " ".join(x.rjust(width) for x in labels)]
    for label, row in zip(labels, cm):
        lines.append(label.ljust(max(width, 11)) + " " + " ".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def plot_confusion(cm, labels, path, title=None):
    """Write the confusion matrix as a PNG heat map with the counts written in each cell."""
    from ..train.atomic import atomic_open
    figure = _figure_class()
    cm = np.asarray(cm)
    n = len(labels)
    fig = figure(figsize=(1.2 * n + 2.5, 1.1 * n + 1.8))
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(n), [str(x) for x in labels], rotation=45 if n > 4 else 0)
    ax.set_yticks(range(n), [str(x) for x in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > threshold else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("drawing a confusion matrix needs matplotlib: pip install 'chainrule[viz]'") from None
    return Figure
