"""Training one TextCNN the way Kim (2014) did, built on ``chainrule.train.fit``.

    from chainrule.cnn import CNNConfig, train_textcnn
    from chainrule.datasets.labelled import load_labelled
    data = load_labelled("my_folder")               # train/dev/test files
    result = train_textcnn(data.train, CNNConfig(mode="non-static", embeddings="glove-6b-50d"),
                           dev=data.dev, test=data.test, run_dir="runs/cnn")
    result.test["accuracy"], result.classifier.predict(["a gripping film"])

Without a dev split, a seeded random ``dev_fraction`` (10%) of the training
data is held out. Each epoch ends with the dev accuracy; the weights of the
best dev epoch are kept and the test set is scored once, with them (Kim
reports the test score at the best dev epoch). With ``run_dir`` the run
writes checkpoints every epoch and on Ctrl-C, ``resume=True`` continues one,
and the finished folder also holds the classifier (see ``classifier.py``),
``metrics.json``, ``history.json``, ``curves.png`` and ``confusion.png``.
"""
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import functional as F
from .. import optim, rng
from ..datasets.labelled import check_classes
from ..models.textcnn import TextCNN, min_input_length
from ..rng import numpy_seed
from ..train import BatchSampler, History, RunDir, fit, load_checkpoint
from ..train.checkpoint import CheckpointError
from .classifier import TextClassifier, label_ids
from .config import CNNConfig
from .data import TextEncoder, cnn_tokenize, pad_user_features, pretrained_matrix
from .sampler import LengthBucketSampler

METRICS_FILE = "metrics.json"


@dataclass
class TrainResult:
    classifier: TextClassifier
    history: History
    best_epoch: int
    dev_accuracy: float
    test: dict = None              # classification_metrics on the test split, at the best dev epoch
    coverage: dict = None          # how many vocabulary words the pretrained vectors had
    train_sentences_per_s: float = None
    seconds: float = None
    interrupted: bool = False
    exit_code: int = 0
    info: dict = field(default_factory=dict)


def load_vectors(name_or_path):
    """Pretrained vectors by name (``glove-6b-50d``) or path, via chainrule.datasets."""
    from ..datasets.vectors import load_vectors as load
    return load(name_or_path)


def dev_indices(n, fraction, seed, source="the training data"):
    """(train indices, dev indices), sorted: a seeded random ``fraction`` of n examples held out."""
    n_dev = round(n * fraction)
    if n_dev == 0 or n_dev == n:
        raise ValueError(f"{source}: cannot hold out {fraction:.0%} of {n} examples as a dev set; "
                         "give a dev split or change dev_fraction")
    order = np.random.default_rng([numpy_seed(seed), 7]).permutation(n)
    return np.sort(order[n_dev:]), np.sort(order[:n_dev])


def split_dev(split, fraction, seed):
    """(train, dev) LabelledSplits: a seeded random ``fraction`` of ``split`` held out."""
    keep, held = dev_indices(len(split), fraction, seed, split.source)
    return split.subset(keep), split.subset(held)


def parameter_groups(model, config):
    """The trained parameters, for the optimiser: one list, or two groups when the embedding has its own decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = config.embed_weight_decay
    if decay is None or decay == config.weight_decay or not model.embedding.weight.requires_grad:
        return params  # one group: what the optimiser and its checkpoints have always had
    embedding = model.embedding.weight
    return [{"params": [embedding], "weight_decay": decay},
            {"params": [p for p in params if p is not embedding]}]


def _need_positions(config):
    if config.pool == "kmax":
        return config.k
    return config.pool_size or 1


def train_textcnn(train, config=None, *, dev=None, test=None, vectors=None, run_dir=None, resume=False,
                  user_features=None, show_progress=None, log=None, save=True):
    """Train a TextCNN on ``train`` (a LabelledSplit); returns a TrainResult.

    ``vectors``: already loaded pretrained vectors (else ``config.embeddings`` is
    loaded). ``user_features``: a dict ``{"train": array (N, L, F), "dev": ...,
    "test": ...}`` of per-token features aligned with each split's sentences
    (when the dev split is cut from train, give only "train" and "test").
    ``save``: write the classifier and metrics into ``run_dir`` at the end.
    """
    config = config or CNNConfig()
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.perf_counter()
    rng.manual_seed(config.seed)
    user_features = dict(user_features or {})

    # The classes are those of all the training data, before any is held out: a rare class whose
    # few examples all went to dev is still a class, not "a label never seen in training".
    labels = sorted(set(train.labels))
    check_classes(train)
    if dev is None:
        keep, held = dev_indices(len(train), config.dev_fraction, config.seed, train.source)
        if "train" in user_features and "dev" not in user_features:
            whole = np.asarray(user_features["train"])  # cut the features exactly as the sentences
            user_features["train"], user_features["dev"] = whole[keep], whole[held]
        train, dev = train.subset(keep), train.subset(held)
    y_train = label_ids(train.labels, labels, train)
    y_dev = label_ids(dev.labels, labels, dev)
    y_test = label_ids(test.labels, labels, test) if test is not None else None

    # Text -> ids. Words of dev/test that the pretrained vectors know join the vocabulary (Kim's code
    # does the same): they get their pretrained vector, not <unk>, and no label is looked at.
    tokens = {name: [cnn_tokenize(t, config.clitics) for t in split.texts] for name, split in
              (("train", train), ("dev", dev), ("test", test)) if split is not None}
    if config.mode != "rand" and vectors is None:
        vectors = load_vectors(config.embeddings)
    extra_words = ()
    if vectors is not None and config.mode != "rand":
        known = vectors.index if hasattr(vectors, "index") else set(vectors.words)
        extra_words = {w for name in ("dev", "test") for toks in tokens.get(name, ())
                       for w in ((t.lower() for t in toks) if config.lower else toks)
                       if w in known or w.lower() in known}  # as pretrained_matrix looks words up
    min_len = min_input_length(config.filters, config.stride, config.padding, _need_positions(config))
    encoder = TextEncoder.fit(tokens["train"], lower=config.lower, features=config.features,
                              min_count=config.min_count, max_len=config.max_len, min_len=min_len,
                              extra_words=extra_words, clitics=config.clitics)
    arrays = {}
    for name, split in (("train", train), ("dev", dev), ("test", test)):
        if split is None:
            continue
        ids, feats, _ = encoder.encode(tokens[name], source=f"{split.source} ({name})")
        arrays[name] = (ids, _features(feats, user_features.get(name), len(ids), encoder.max_len, name))
    user_channels = _user_channels(user_features)

    coverage = None
    if config.mode == "rand":
        matrix = None
        embed_dim = config.embed_dim or 300
    else:
        matrix, coverage = pretrained_matrix(encoder.vocab, vectors, dim=config.embed_dim, seed=config.seed,
                                             source=str(config.embeddings), std=config.vector_std)
        embed_dim = matrix.shape[1]
        log(f"pretrained vectors {config.embeddings}: {coverage['found']:,} of {coverage['words']:,} vocabulary "
            f"words found ({coverage['rate']:.1%}); the rest start at U[-0.25, 0.25]"
            + (f"; vectors scaled by {coverage['scale']:.3g}" if coverage["scale"] != 1.0 else ""))
    model = TextCNN(len(encoder.vocab), len(labels), embed_dim=embed_dim, filter_sizes=config.filters,
                    num_maps=config.maps, mode=config.mode, vectors=matrix, activation=config.activation,
                    pool=config.pool, pool_size=config.pool_size, pool_stride=config.pool_stride, k=config.k,
                    stride=config.stride, padding=config.padding, dropout=config.dropout,
                    feature_channels=encoder.feature_channels + user_channels, max_len=encoder.max_len,
                    max_norm=config.max_norm)
    params = parameter_groups(model, config)
    if config.optimizer == "adadelta":
        opt = optim.Adadelta(params, lr=config.learning_rate, rho=config.rho, eps=config.eps,
                             weight_decay=config.weight_decay)
    else:
        opt = optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)

    x_train, f_train = arrays["train"]
    len_train = np.minimum([len(t) for t in tokens["train"]], encoder.max_len)
    if config.bucket:
        sampler = LengthBucketSampler(len_train, config.batch_size, seed=config.seed)
    else:
        sampler = BatchSampler(len(x_train), config.batch_size, shuffle=True, seed=config.seed)

    def train_step(idx):
        # Global pooling ignores padding, so the batch is cut to its longest sentence.
        lens = len_train[idx]
        width = encoder.max_len if config.pool_size else max(int(lens.max()), min_len)
        logits = model(x_train[idx, :width], None if f_train is None else f_train[idx, :width], lengths=lens)
        loss = F.cross_entropy(logits, y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.apply_max_norm()
        return loss.item(), len(idx)

    classifier = TextClassifier(model, encoder, labels, user_channels)
    x_dev, f_dev = arrays["dev"]

    def evaluate():
        logits = classifier.logits(x_dev, f_dev)
        return {"dev_loss": F.cross_entropy(logits, y_dev).item(),
                "dev_acc": float((logits.argmax(axis=1) == y_dev).mean())}

    best = {"acc": -1.0, "state": None}

    def keep_best(epoch, row):
        # The same rule as fit's best checkpoint: strictly better than every earlier epoch.
        if row["dev_acc"] > best["acc"]:
            best["acc"] = row["dev_acc"]
            best["state"] = {k: v.copy() for k, v in model.state_dict().items()}

    run = RunDir(run_dir) if run_dir is not None else None
    if resume and run is not None and run.best.exists():
        ckpt = load_checkpoint(run.best)
        try:
            best["acc"] = ckpt["extra"]["metrics"]["dev_acc"]
        except (KeyError, TypeError):
            raise CheckpointError(f"{run.best} is not a TextCNN run's best checkpoint (it has no dev accuracy); "
                                  f"is {run.path} another kind of run?") from None
        best["state"] = {k: np.array(v) for k, v in ckpt["model"].items()}

    result = fit(model, opt, sampler, train_step, evaluate, epochs=config.epochs, run_dir=run_dir, resume=resume,
                 monitor="dev_acc", mode="max", patience=config.patience, on_epoch_end=keep_best,
                 config=config.to_dict(), unit="sent", show_progress=show_progress, log=log)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()

    test_metrics = None
    if test is not None:
        from .metrics import classification_metrics
        pred = classifier.logits(*arrays["test"]).argmax(axis=1)
        test_metrics = classification_metrics(y_test, pred, labels)
    history = result.history
    # An epoch resumed after its last batch trained nothing here and records 0: not a speed (as lm compare skips it).
    speeds = [v for v in history.metrics.get("sent_per_s", []) if v]
    out = TrainResult(classifier=classifier, history=history, best_epoch=result.best_epoch,
                      dev_accuracy=best["acc"], test=test_metrics, coverage=coverage,
                      train_sentences_per_s=float(np.median(speeds)) if speeds else None,
                      seconds=time.perf_counter() - started, interrupted=result.interrupted,
                      exit_code=result.exit_code)
    classifier.info = {"best_epoch": out.best_epoch, "dev_accuracy": out.dev_accuracy, "coverage": coverage,
                       "train_examples": len(train), "dev_examples": len(dev), "config": config.to_dict()}
    if run is not None and save and not result.interrupted:
        save_results(run.path, out)
    return out


def save_results(directory, result):
    """Write the classifier, metrics.json and (with matplotlib) confusion.png into a run folder."""
    from ..train.atomic import atomic_write_json
    from .metrics import plot_confusion
    directory = Path(directory)
    result.classifier.save(directory)
    metrics = {"best_epoch": result.best_epoch, "dev_accuracy": result.dev_accuracy, "test": result.test,
               "coverage": result.coverage, "train_sentences_per_s": result.train_sentences_per_s,
               "seconds": result.seconds}
    atomic_write_json(directory / METRICS_FILE, metrics)
    if result.test is not None:
        try:
            plot_confusion(result.test["confusion_matrix"], result.test["labels"], directory / "confusion.png",
                           title=f"test accuracy {result.test['accuracy']:.1%}")
        except ImportError:
            pass  # fit has already said that matplotlib is missing


def _features(builtin, user, n, max_len, name):
    if user is None:
        return builtin
    user = pad_user_features(user, n, max_len, source=f"user features for {name}")
    return user if builtin is None else np.concatenate([builtin, user], axis=2)


def _user_channels(user_features):
    widths = {name: np.shape(arr)[2] if np.ndim(arr) == 3 else None for name, arr in user_features.items()}
    if len(set(widths.values())) > 1:
        raise ValueError(f"user features must have the same number of channels in every split, got {widths}")
    if user_features and "train" not in user_features:
        raise ValueError("user features need a 'train' array (and one for each split that is scored)")
    return next(iter(widths.values()), 0) or 0
