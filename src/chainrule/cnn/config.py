"""CNNConfig: every setting of a TextCNN training run, defaulting to Kim (2014)'s."""
from dataclasses import asdict, dataclass, field, fields

from ..models.textcnn import ACTIVATIONS, MODES, POOLS


@dataclass
class CNNConfig:
    # Embeddings. ``embeddings``: a named set (glove-6b-50d) or a word2vec/GloVe file; needed by
    # every mode but rand. ``embed_dim`` None: the vectors' width, or 300 (Kim's) for rand.
    mode: str = "rand"
    embeddings: str = None
    embed_dim: int = None
    vector_std: float = 0.25 / 3 ** 0.5  # rescale pretrained vectors to word2vec's scale; None: as they are
    # Convolutions and pooling (TextCNN's arguments).
    filters: tuple = (3, 4, 5)
    maps: int = 100
    activation: str = "relu"
    stride: int = 1
    padding: object = 0           # words of zeros on each side, or "same"
    pool: str = "max"
    pool_size: int = None         # None: pool over the whole sentence
    pool_stride: int = None
    k: int = 1                    # for pool="kmax"
    dropout: float = 0.5
    max_norm: float = 3.0
    features: tuple = ()          # built-in token features: "length", "shape"
    # Text.
    lower: bool = True
    clitics: bool = True          # split n't 's 're ... off their words (Kim, Penn Treebank, GloVe)
    min_count: int = 1
    max_len: int = None           # None: the longest training sentence
    # Optimisation: Adadelta(rho=0.95, eps=1e-6), mini-batches of 50, 25 epochs.
    optimizer: str = "adadelta"
    lr: float = None              # None: 1.0 for Adadelta, 1e-3 for Adam
    rho: float = 0.95
    eps: float = 1e-6
    weight_decay: float = 0.0     # L2 penalty: the optimiser adds weight_decay * p to each gradient
    # The fine-tuned embedding's own penalty; None: weight_decay. It is a separate setting because
    # the penalty reaches every row at every step, including the rows of words a batch lacks, so
    # with Adam the pretrained vectors of rare words shrink towards zero long before the data can
    # speak for them: 0 keeps them (and fine-tunes only where the data pushes).
    embed_weight_decay: float = None
    batch_size: int = 50
    bucket: bool = True           # batches of similar-length sentences (faster; see cnn/sampler.py)
    epochs: int = 25
    dev_fraction: float = 0.1     # of the training data, when the data has no dev split
    patience: int = None          # early stopping on dev accuracy; None trains all epochs
    seed: int = 0
    extra: dict = field(default_factory=dict)  # free-form notes kept with the run (the data's name, ...)

    def __post_init__(self):
        self.filters = tuple(int(w) for w in self.filters)
        self.features = tuple(self.features)
        if self.padding != "same":
            self.padding = int(self.padding)
        from .data import FEATURES

        def positive_or_none(value):
            return value is None or value >= 1

        # (ok, what is wrong, the settings it is about): an error names only those settings.
        checks = [(self.mode in MODES, f"must be one of {', '.join(MODES)}", ["mode"]),
                  (self.pool in POOLS, f"must be one of {', '.join(POOLS)}", ["pool"]),
                  (self.activation in ACTIVATIONS, f"must be one of {', '.join(ACTIVATIONS)}", ["activation"]),
                  (self.optimizer in ("adadelta", "adam"), "must be adadelta or adam", ["optimizer"]),
                  (bool(self.filters) and min(self.filters) >= 1, "must be positive widths", ["filters"]),
                  (self.maps >= 1, "must be at least 1", ["maps"]),
                  (self.batch_size >= 1, "must be at least 1", ["batch_size"]),
                  (self.epochs >= 1, "must be at least 1", ["epochs"]),
                  (self.stride >= 1, "must be at least 1", ["stride"]),
                  (self.padding == "same" or self.padding >= 0, "must be 'same' or at least 0", ["padding"]),
                  (positive_or_none(self.pool_size), "must be at least 1", ["pool_size"]),
                  (positive_or_none(self.pool_stride), "must be at least 1", ["pool_stride"]),
                  (self.k >= 1, "must be at least 1", ["k"]),
                  (0 <= self.dropout < 1, "must be in [0, 1)", ["dropout"]),
                  (self.max_norm is None or self.max_norm > 0, "must be positive", ["max_norm"]),
                  (all(f in FEATURES for f in self.features), f"must be among {', '.join(FEATURES)}", ["features"]),
                  (self.min_count >= 0, "must be at least 0", ["min_count"]),
                  (positive_or_none(self.max_len), "must be at least 1", ["max_len"]),
                  (self.lr is None or self.lr > 0, "must be positive", ["lr"]),
                  (0 < self.rho <= 1 and self.eps > 0, "rho must be in (0, 1] and eps positive", ["rho", "eps"]),
                  (self.pool != "kmax" or self.pool_size is None,
                   "k-max pooling takes no pool_size (it keeps the k largest values of the sentence)",
                   ["pool", "pool_size"]),
                  (self.weight_decay >= 0, "must be >= 0", ["weight_decay"]),
                  (self.embed_weight_decay is None or self.embed_weight_decay >= 0,
                   "must be >= 0", ["embed_weight_decay"]),
                  (0 <= self.dev_fraction < 1, "must be in [0, 1)", ["dev_fraction"]),
                  # 0 stops at the first epoch without a better dev accuracy (as EarlyStopping allows).
                  (self.patience is None or self.patience >= 0, "must be at least 0", ["patience"])]
        for ok, message, names in checks:
            if not ok:
                got = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
                raise ValueError(f"CNNConfig: {got}: {message}")
        if self.mode != "rand" and not self.embeddings:
            raise ValueError(f"CNNConfig: mode {self.mode!r} needs pretrained embeddings "
                             "(e.g. embeddings='glove-6b-50d'); only mode 'rand' trains without them")

    @property
    def learning_rate(self):
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "adadelta" else 1e-3

    def to_dict(self):
        d = asdict(self)
        d["filters"], d["features"] = list(self.filters), list(self.features)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"CNNConfig: unknown settings {unknown}")
        return cls(**d)

    def replace(self, **changes):
        d = self.to_dict()
        d.update(changes)
        return CNNConfig.from_dict(d)
