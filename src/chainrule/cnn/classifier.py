"""A trained sentence classifier: a TextCNN with the encoder and class names it was trained with.

On disk it is a folder (usually the training run's folder)::

    DIR/model.npz   the weights (chainrule.save, no pickle)
    DIR/cnn.json    the architecture, the text encoding, the class names, training facts
    DIR/vocab.json  the vocabulary
"""
import json
from pathlib import Path

import numpy as np

from .. import functional as F
from ..grad_mode import no_grad
from ..models.textcnn import TextCNN
from ..text import Vocab
from .data import TextEncoder, pad_user_features

MODEL_FILE, CONFIG_FILE, VOCAB_FILE = "model.npz", "cnn.json", "vocab.json"
FORMAT = "chainrule.textcnn"


def label_ids(labels, classes, split=None):
    """Class indices of ``labels``; a label the model was not trained on is an error naming its line."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.empty(len(labels), np.int64)
    for i, label in enumerate(labels):
        j = index.get(label)
        if j is None:
            where = split.where(i) if split is not None else f"example {i + 1}"
            raise ValueError(f"{where}: label {label!r} was never seen in training (the model knows "
                             f"{', '.join(repr(c) for c in classes)})")
        out[i] = j
    return out


class TextClassifier:
    """``predict``, ``predict_proba`` and ``evaluate`` on raw sentences; ``save``/``load`` a folder."""

    def __init__(self, model, encoder, labels, user_channels=0, info=None):
        self.model, self.encoder, self.labels = model, encoder, list(labels)
        self.user_channels = int(user_channels)
        self.info = dict(info or {})

    # --------------------------------------------------------------- encoding
    def encode(self, texts, user_features=None, source="input", warn=True):
        """(ids, features or None) for raw sentences; features join the built-in and user channels."""
        tokens = self.encoder.tokenize(texts)
        ids, feats, _ = self.encoder.encode(tokens, warn=warn, source=source)
        return ids, self._join_features(feats, user_features, len(texts), source)

    def _join_features(self, feats, user_features, n, source):
        if self.user_channels:
            if user_features is None:
                raise ValueError(f"this model reads {self.user_channels} user feature channels per token; "
                                 "pass user_features of shape (N, L, F)")
            user = pad_user_features(user_features, n, self.encoder.max_len, source)
            if user.shape[2] != self.user_channels:
                raise ValueError(f"{source}: user features have {user.shape[2]} channels, the model was trained "
                                 f"with {self.user_channels}")
            feats = user if feats is None else np.concatenate([feats, user], axis=2)
        elif user_features is not None:
            raise ValueError("user features were given but this model was trained without them")
        return feats

    # ------------------------------------------------------------- predicting
    def logits(self, ids, feats=None, batch_size=1000):
        """Logits (N, C) of encoded sentences, in eval mode, without a graph, in batches.

        With global pooling, padding changes nothing, so sentences are batched
        in order of length and each batch is cut to its longest sentence.
        """
        model = self.model
        model.eval()
        out = np.empty((len(ids), len(self.labels)), np.float32)
        fixed = model.pool_size is not None
        lengths = None if fixed else model.lengths_of(ids)
        order = np.arange(len(ids)) if fixed else np.argsort(lengths, kind="stable")
        shortest = model.min_length()
        with no_grad():
            for start in range(0, len(ids), batch_size):
                rows = order[start:start + batch_size]
                width = ids.shape[1] if fixed else max(int(lengths[rows].max()), shortest)
                out[rows] = model(ids[rows, :width], None if feats is None else feats[rows, :width],
                                  lengths=None if fixed else lengths[rows]).data
        return out

    def predict_proba(self, texts, user_features=None, batch_size=1000):
        ids, feats = self.encode(texts, user_features)
        return F.softmax(self.logits(ids, feats, batch_size), axis=1).data

    def predict(self, texts, user_features=None, batch_size=1000):
        ids, feats = self.encode(texts, user_features)
        return [self.labels[i] for i in self.logits(ids, feats, batch_size).argmax(axis=1)]

    def evaluate(self, split, user_features=None, batch_size=1000):
        """Accuracy, macro-F1 and confusion matrix on a LabelledSplit; unseen labels are an error."""
        from .metrics import classification_metrics
        y = label_ids(split.labels, self.labels, split)
        ids, feats = self.encode(split.texts, user_features, source=split.source)
        pred = self.logits(ids, feats, batch_size).argmax(axis=1)
        return classification_metrics(y, pred, self.labels)

    # ------------------------------------------------------------------ files
    def save(self, directory):
        from ..serialization import save
        from ..train.atomic import atomic_write_json
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save({"format": FORMAT, "state": dict(self.model.state_dict())}, str(directory / MODEL_FILE))
        self.encoder.vocab.save(directory / VOCAB_FILE)
        atomic_write_json(directory / CONFIG_FILE, {
            "format": FORMAT, "version": 1, "model": self.model.config, "encoder": self.encoder.config(),
            "labels": self.labels, "user_channels": self.user_channels, "info": self.info})

    @classmethod
    def load(cls, directory):
        from ..serialization import load
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file():
            held = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else None
            where = f"the folder holds {', '.join(held) or 'nothing'}" if held is not None else "no such folder"
            raise FileNotFoundError(f"no trained CNN at {directory}: {CONFIG_FILE} is missing ({where}); "
                                    "train one with 'chainrule cnn train --out DIR'")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{config_path} is damaged: {e}") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ValueError(f"{config_path} does not describe a chainrule TextCNN")
        vocab = Vocab.load(directory / VOCAB_FILE)
        model = TextCNN.from_config(config["model"])
        payload = load(str(directory / MODEL_FILE))
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{directory / MODEL_FILE} is not a chainrule TextCNN weights file")
        try:
            model.load_state_dict(payload["state"])
        except (KeyError, ValueError, RuntimeError) as e:  # RuntimeError: missing keys or other shapes
            raise ValueError(f"{directory / MODEL_FILE} does not fit {config_path}: {e}") from None
        if len(vocab) != model.config["vocab_size"]:
            raise ValueError(f"{directory / VOCAB_FILE} has {len(vocab)} words but the model expects "
                             f"{model.config['vocab_size']}")
        encoder = TextEncoder.from_config(config["encoder"], vocab)
        model.eval()
        return cls(model, encoder, config["labels"], config.get("user_channels", 0), config.get("info"))
