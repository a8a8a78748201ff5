"""Training the bag-of-n-grams logistic regression baseline with chainrule, on the CNN's splits.

The protocol mirrors the CNN's so the comparison is fair: the same seeded
10% of the training data is held out as dev data, the epoch with the best dev
accuracy is kept, and the test split is scored once with it.
"""
from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import optim, rng
from ..grad_mode import no_grad
from ..models.bow import BagOfNgrams, NgramFeaturizer
from ..train import BatchSampler
from .classifier import label_ids
from .data import cnn_tokenize
from .metrics import classification_metrics
from .trainer import dev_indices


@dataclass
class BowConfig:
    n: int = 2                  # unigrams and bigrams
    min_count: int = 1
    lower: bool = True
    epochs: int = 10
    batch_size: int = 50
    lr: float = 0.01            # Adam
    weight_decay: float = 1e-4  # L2 penalty, through Adam's weight_decay
    dev_fraction: float = 0.1
    seed: int = 0


@dataclass
class BowResult:
    model: BagOfNgrams
    featurizer: NgramFeaturizer
    labels: list
    best_epoch: int
    dev_accuracy: float
    test: dict = None

    def predict(self, texts):
        x = self.featurizer.transform([cnn_tokenize(t) for t in texts])
        with no_grad():
            return [self.labels[i] for i in self.model(x).data.argmax(axis=1)]


def _logits(model, x, batch_size=2000):
    with no_grad():
        return np.concatenate([model(x[i:i + batch_size]).data for i in range(0, len(x), batch_size)])


def train_bow(train, config=None, *, dev=None, test=None):
    """Train the baseline on a LabelledSplit; returns a BowResult with test metrics when ``test`` is given."""
    config = config or BowConfig()
    rng.manual_seed(config.seed)
    labels = sorted(set(train.labels))  # before the dev split, as train_textcnn does
    if dev is None:
        keep, held = dev_indices(len(train), config.dev_fraction, config.seed, train.source)
        train, dev = train.subset(keep), train.subset(held)
    if not len(dev):
        raise ValueError(f"{dev.source}: the dev split is empty; the baseline picks its epoch on it")
    featurizer = NgramFeaturizer(config.n, config.min_count, config.lower)
    train_tokens = [cnn_tokenize(t) for t in train.texts]
    featurizer.fit(train_tokens)
    x_train = featurizer.transform(train_tokens)
    y_train = label_ids(train.labels, labels, train)
    x_dev = featurizer.transform([cnn_tokenize(t) for t in dev.texts])
    y_dev = label_ids(dev.labels, labels, dev)

    model = BagOfNgrams(featurizer.num_features, len(labels))
    opt = optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sampler = BatchSampler(len(x_train), config.batch_size, shuffle=True, seed=config.seed)
    best_acc, best_epoch, best_state = -1.0, None, None
    for epoch in range(1, config.epochs + 1):
        for idx in sampler:
            # Trim each batch's padding to its own longest sentence.
            xb = x_train[idx]
            xb = xb[:, :max(1, int((xb != 0).sum(axis=1).max()))]
            loss = F.cross_entropy(model(xb), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = float((_logits(model, x_dev).argmax(axis=1) == y_dev).mean())
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch
            best_state = {k: v.copy() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)

    result = BowResult(model, featurizer, labels, best_epoch, best_acc)
    if test is not None:
        y_test = label_ids(test.labels, labels, test)
        x_test = featurizer.transform([cnn_tokenize(t) for t in test.texts])
        result.test = classification_metrics(y_test, _logits(model, x_test).argmax(axis=1), labels)
    return result


def cross_validate_bow(data, folds, config=None, log=None):
    """The baseline on the given folds (pairs of index arrays into ``data.train``); returns a CVResult."""
    from .crossval import summarize
    split = data.train
    results = []
    for i, (train_idx, test_idx) in enumerate(folds, start=1):
        r = train_bow(split.subset(train_idx), config, test=split.subset(test_idx))
        results.append({"fold": i, "accuracy": r.test["accuracy"], "macro_f1": r.test["macro_f1"],
                        "best_epoch": r.best_epoch, "dev_accuracy": r.dev_accuracy,
                        "confusion_matrix": r.test["confusion_matrix"], "test_examples": len(test_idx)})
        if log:
            log(f"baseline fold {i}/{len(folds)}: test accuracy {r.test['accuracy']:.2%}")
    return summarize(results, data.labels, {"k": len(folds), "model": "bag-of-n-grams logistic regression"})
