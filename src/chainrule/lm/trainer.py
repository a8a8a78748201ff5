"""Training a NeuralLM on a corpus, with checkpoints that resume exactly.

    from chainrule.lm.trainer import LMConfig, train_lm
    result = train_lm(LMConfig(corpus="kjv", order=5, emb=60, hidden=200, epochs=5), "runs/kjv")
    result.best_val_ppl

One epoch is one pass over the (context, next word) examples of the training
split in a shuffled order; after each, the validation perplexity decides
whether the weights are the best so far (DIR/best.ckpt.npz), whether to
halve the learning rate, and whether to stop early. DIR/last.ckpt.npz holds
everything needed to continue, including the position inside the epoch and
the random generators' states, so a run interrupted by Ctrl-C or SIGTERM
and resumed with ``resume_lm(DIR)`` ends with the same weights as one that
was never interrupted.

With ``ema`` (e.g. 0.9997) the weights that are validated and kept as best
are an exponential moving average of the trained ones
(``optim.ExponentialMovingAverage``): on austen it lowered the test
perplexity by about 0.6 at the end of 5 epochs. The average spans about
``1 / (1 - ema)`` steps, so it pays only when training is several times
longer: over the 2 epochs of the kjv demo (5,800 steps) 0.9997 still held
early weights and scored 54.3 instead of 52.3. Training itself goes on from
the raw weights; DIR/last.ckpt.npz holds both.
"""
import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields

from .. import functional as F
from .. import optim, rng
from ..datasets.sources import saved_source
from ..models.nplm import NeuralLM
from ..models.perplexity import Score, exp_mean_nll
from ..train.checkpoint import (
    CheckpointNotFoundError,
    RunDir,
    already_holds_a_run,
    load_checkpoint,
    refuse_other_runs,
    restore,
    save_checkpoint,
)
from ..train.early_stopping import EarlyStopping
from ..train.history import History
from ..train.interrupt import GracefulInterrupt
from ..train.progress import Throughput, progress
from ..train.sampler import BatchSampler
from .data import prepare_data
from .run import KIND, read_config, vocab_path

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adagrad": optim.Adagrad}
SCHEDULES = ("plateau", "exponential", "none")


@dataclass
class LMConfig:
    """Everything that defines a training run; saved as the "train" entry of DIR/config.json."""

    corpus: str = "kjv"
    order: int = 5              # n of the n-gram: the model sees n-1 previous words
    emb: int = 60               # embedding size m
    hidden: int = 100           # hidden units H
    direct: bool = False        # direct connections from the embeddings to the output
    tie: bool = False           # the output weights are the embedding table (needs hidden == emb)
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip: float = 0.0           # gradient-norm clipping; 0 = off
    schedule: str = "plateau"   # "plateau": decay after an epoch without improvement; "exponential": every epoch
    lr_decay: float = 0.5       # the factor the schedule multiplies the learning rate by
    ema: float = 0.0            # evaluate and keep an exponential moving average of the weights; 0 = off
    epochs: int = 10
    batch_size: int = 256
    seed: int = 0
    min_count: int = 1
    max_vocab: int = 0          # 0 = no limit
    lower: bool = False
    patience: int = 2           # stop after this many epochs without improvement; 0 = never stop early
    pretrained: str = ""        # word vectors (file or name) to start the embeddings from
    freeze: bool = False        # keep pretrained embeddings fixed

    @property
    def context_size(self):
        return self.order - 1

    def check(self):
        if self.order < 2:
            raise ValueError(f"order must be at least 2 (one word of context), got {self.order}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r} (known: {', '.join(OPTIMIZERS)})")
        for name in ("emb", "hidden", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.clip is not None and not self.clip >= 0:  # a negative max norm would flip every gradient
            raise ValueError(f"clip is a maximum gradient norm, at least 0 (0 = off), got {self.clip}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r} (known: {', '.join(SCHEDULES)})")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema is the averaging decay, in [0, 1) (0 = off; e.g. 0.9997), got {self.ema}")
        if self.tie:  # here too, so that the CLI refuses before it loads a corpus
            NeuralLM.check_tie(self.emb, self.hidden, self.freeze)
        if self.freeze and not self.pretrained:
            raise ValueError("freeze keeps pretrained embeddings fixed: give pretrained vectors too")
        return self

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class TrainResult:
    status: str                 # "finished", "early_stop" or "interrupted"
    epochs: int                 # epochs completed
    best_val_ppl: float
    history: History
    model: NeuralLM             # the latest weights, not averaged (the best are in DIR/best.ckpt.npz)
    data: object                # the LMData trained on
    path: str
    exit_code: int = 0          # 128 + signal number when interrupted


def build_model(config, vocab, log=print):
    """A freshly initialised NeuralLM for ``config`` over ``vocab`` (drawing from chainrule's generator)."""
    pretrained, emb = None, config.emb
    if config.pretrained:
        from .embeddings import vectors_for_vocab
        pretrained, found = vectors_for_vocab(config.pretrained, vocab, seed=config.seed)
        log(f"pretrained vectors {config.pretrained}: found {found:,} of the {len(vocab) - 4:,} vocabulary words")
        emb = pretrained.shape[1]
        if emb != config.emb:
            # The vectors decide the embedding size; config.json records the real one.
            log(f"the embedding size is the vectors' width, {emb} (not emb={config.emb})")
            config.emb = emb
    return NeuralLM(len(vocab), config.context_size, emb_dim=emb, hidden=config.hidden, direct=config.direct,
                    dropout=config.dropout, pretrained=pretrained, freeze=config.freeze, tie=config.tie)


def make_optimizer(config, model):
    params = [p for p in model.parameters() if p.requires_grad]
    return OPTIMIZERS[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(config, optimizer):
    """The learning-rate schedule of ``config``, stepped once per epoch (None for a constant rate)."""
    if config.schedule == "none" or config.lr_decay == 1:
        return None
    if config.schedule == "plateau":
        return optim.ReduceLROnPlateau(optimizer, factor=config.lr_decay, patience=0)
    return optim.ExponentialLR(optimizer, gamma=config.lr_decay)


def evaluate_model(model, data, split, batch_size=2048):
    """``Score(total_nll, n_tokens)`` of ``model`` on a split of ``data``."""
    X, y = data.examples(split, model.context_size)
    lp = model.log_probs(X, y, batch_size=batch_size)
    return Score(float(-lp.sum()), int(lp.size))


def train_lm(config, out_dir, *, data=None, callback=None, verbose=True, show_progress=None, resumable=True):
    """Train a new run in ``out_dir`` (which must not hold one already); returns a TrainResult.

    ``data``: an LMData to train on instead of loading ``config.corpus``
    (``lm compare`` shares one between its models). ``callback(epoch, step)``
    runs after every optimiser step (tests use it to interrupt a run).
    ``resumable=False``: ``out_dir`` is temporary, so an interruption does not
    suggest resuming from it.
    """
    config = LMConfig.from_dict(config) if isinstance(config, dict) else config
    config.check()
    config.corpus = saved_source(config.corpus)  # absolute, so `lm eval` and --resume find it from anywhere
    run = RunDir(out_dir)
    # Checked before the data is prepared (claim checks again, exclusively, after). A TextCNN run
    # has a config.json and checkpoints too, but also its run.json: no language model to resume.
    if run.has_checkpoint() and run.config.exists() and not (run.path / "run.json").exists():
        raise ValueError(already_holds_a_run(out_dir, run.config.name, resumable=True))
    refuse_other_runs(out_dir, own=run.config.name)
    if data is None:
        data = prepare_data(config.corpus, lower=config.lower, min_count=config.min_count,
                            max_vocab=config.max_vocab or None)
    run.claim()
    try:
        return _Trainer(config, run, data, resume=False, callback=callback, verbose=verbose,
                        show_progress=show_progress, resumable=resumable).run()
    except BaseException:
        run.release(also=[vocab_path(run.path)])
        raise


def resume_lm(out_dir, *, epochs=None, patience=None, data=None, callback=None, verbose=True, show_progress=None):
    """Continue the run in ``out_dir`` from DIR/last.ckpt.npz with its saved configuration.

    ``epochs`` and ``patience`` may be raised to train for longer than first planned.
    """
    from ..text import Vocab

    saved = read_config(out_dir)
    config = LMConfig.from_dict(saved["train"])
    if epochs is not None:
        config.epochs = epochs
    if patience is not None:
        config.patience = patience
    config.check()
    run = RunDir(out_dir)
    run.check_writable()
    if not run.has_checkpoint():
        raise CheckpointNotFoundError(f"nothing to resume in {out_dir}: there is no {run.last.name} (the run "
                                      f"stopped before its first epoch ended); delete {run.config} (or the folder) "
                                      f"and start it again")
    if data is None:
        vocab = Vocab.load(vocab_path(out_dir))
        data = prepare_data(config.corpus, lower=config.lower, vocab=vocab)
    if asdict(config) != saved["train"]:
        # Saved, so that a later plain --resume (the command an interruption prints) keeps the longer plan.
        run.save_config({**saved, "train": asdict(config)})
    return _Trainer(config, run, data, resume=True, callback=callback, verbose=verbose,
                    show_progress=show_progress, model_args=saved.get("model")).run()


class _Trainer:
    def __init__(self, config, run, data, resume, callback, verbose, show_progress, model_args=None,
                 resumable=True):
        self.config, self.run_dir, self.data = config, run, data
        self.resume, self.callback, self.verbose = resume, callback, verbose
        self.show_progress = show_progress
        # A resumed run rebuilds its model from config.json's "model" entry, as `lm eval` does: the
        # checkpoint holds the weights, so pretrained vectors are not read again (their file may be gone).
        self.model_args = model_args
        self.resumable = resumable  # False: the folder is temporary, so no `--resume` hint

    def log(self, text):
        if self.verbose:
            print(text, flush=True)

    def setup(self):
        c = self.config
        rng.manual_seed(c.seed)
        self.X, self.y = self.data.examples("train", c.context_size)
        if self.model_args:
            self.model = NeuralLM(**self.model_args)
        else:
            self.model = build_model(c, self.data.vocab, log=self.log)
        self.optimizer = make_optimizer(c, self.model)
        self.scheduler = make_scheduler(c, self.optimizer)
        # The averaged weights are the ones validated and kept as best; training goes on from the raw ones.
        self.ema = optim.ExponentialMovingAverage(self.model.parameters(), c.ema) if c.ema else None
        self.sampler = BatchSampler(len(self.y), c.batch_size, shuffle=True, seed=c.seed)
        self.stopper = EarlyStopping(patience=c.patience or None)
        self.history = History()
        # The running training loss of the current epoch, kept across an interruption.
        self.loss_sum, self.loss_count = 0.0, 0
        if self.resume:
            checkpoint = load_checkpoint(self.run_dir.last)
            restore(checkpoint, self.model, self.optimizer, self.scheduler, history=self.history,
                    states={"sampler": self.sampler, "early_stopping": self.stopper}, array_states=self.array_states())
            extra = checkpoint.get("extra", {})
            self.loss_sum, self.loss_count = extra.get("loss_sum", 0.0), extra.get("loss_count", 0)
            self.stopper.patience = c.patience or None
            self.history.save(self.run_dir.history)  # as fit does: it may be an epoch behind the checkpoint
            if self.sampler.epoch >= c.epochs or self.stopper.should_stop:
                self.log(f"{self.run_dir.path}: the run already finished ({self.sampler.epoch} epochs); --epochs N "
                         f"continues it for more")
            else:
                self.log(f"resuming {self.run_dir.path} at epoch {self.sampler.epoch + 1}, "
                         f"batch {self.sampler.position} of {len(self.sampler)}")
        else:
            self.run_dir.create()
            self.data.vocab.save(vocab_path(self.run_dir.path))
            self.run_dir.save_config({"kind": KIND, "train": asdict(c), "model": self.model.config(),
                                      "data": {"name": self.data.name, "vocab_size": len(self.data.vocab),
                                               "train_tokens": len(self.y)}})
            self.log(f"{self.data.name}: {len(self.y):,} training tokens, vocabulary {len(self.data.vocab):,}, "
                     f"model {self.model.num_parameters():,} parameters")

    def run(self):
        self.setup()
        c = self.config
        status = "finished"
        with GracefulInterrupt() as stop:
            while self.sampler.epoch < c.epochs and not self.stopper.should_stop:
                if not self.train_epoch(stop):
                    return self.finish("interrupted", stop.exit_code)
                self.end_epoch()
                if stop.requested:
                    return self.finish("interrupted", stop.exit_code)
            if self.stopper.should_stop:
                status = "early_stop"
                self.log(f"stopping early: no improvement for {self.stopper.num_bad_steps} epochs")
        return self.finish(status, 0)

    def train_epoch(self, stop):
        """One pass over the training examples; False if interrupted (a checkpoint is then saved)."""
        c, model, opt = self.config, self.model, self.optimizer
        epoch = self.sampler.epoch
        model.train()
        speed = Throughput()
        self.epoch_start = time.perf_counter()
        bar = progress(total=len(self.y), initial=min(self.sampler.position * c.batch_size, len(self.y)),
                       desc=f"epoch {epoch + 1}/{c.epochs}", unit="tok",
                       disable=(not self.verbose) if self.show_progress is None else not self.show_progress)
        try:
            for step, idx in enumerate(self.sampler, start=self.sampler.position):
                loss = F.cross_entropy(model(self.X[idx]), self.y[idx])
                opt.zero_grad()
                loss.backward()
                if c.clip:
                    optim.clip_grad_norm_(opt.param_groups[0]["params"], c.clip)
                opt.step()
                if self.ema is not None:
                    self.ema.update()
                value = float(loss.data)
                if not math.isfinite(value):
                    raise FloatingPointError(f"the training loss became {value} at epoch {epoch + 1}, batch "
                                             f"{step + 1}; lower the learning rate (--lr {c.lr})")
                self.loss_sum += value * len(idx)
                self.loss_count += len(idx)
                speed.update(len(idx))
                bar.update(len(idx))
                if step % 20 == 0:
                    bar.set_postfix(loss=self.loss_sum / self.loss_count, refresh=False)
                if self.callback is not None:
                    self.callback(epoch, step)
                if stop.requested:
                    self.save_last()
                    return False
        finally:
            bar.close()
        self.tokens_per_s = speed.rate
        return True

    def end_epoch(self):
        c = self.config
        epoch = self.sampler.epoch  # the sampler has moved on, so this counts finished epochs
        train_time = time.perf_counter() - self.epoch_start
        with self.averaged_weights():
            val = evaluate_model(self.model, self.data, "valid")
        train_loss = self.loss_sum / max(self.loss_count, 1)
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
        improved = self.stopper.step(val.mean_nll)
        if isinstance(self.scheduler, optim.ReduceLROnPlateau):
            self.scheduler.step(val.mean_nll)
        elif self.scheduler is not None:
            self.scheduler.step()
        self.history.record(epoch=epoch, train_loss=train_loss, val_loss=val.mean_nll, val_ppl=val.ppl,
                            train_ppl=math.exp(min(train_loss, 700)), lr=lr,
                            tokens_per_s=self.tokens_per_s, epoch_time_s=train_time)
        self.loss_sum, self.loss_count = 0.0, 0
        if improved:
            with self.averaged_weights():
                save_checkpoint(self.run_dir.best, self.model, epoch=epoch,
                                extra={"val_ppl": val.ppl, "val_tokens": val.n_tokens})
        self.save_last()
        self.history.save(self.run_dir.history)
        self.log(f"epoch {epoch}/{c.epochs}: train loss {train_loss:.4f}, valid ppl {val.ppl:.2f}"
                 f"{' (best)' if improved else ''}, {self.tokens_per_s:,.0f} tok/s, {train_time:.0f} s")

    def save_last(self):
        save_checkpoint(self.run_dir.last, self.model, self.optimizer, self.scheduler, epoch=self.sampler.epoch,
                        step=self.sampler.position, history=self.history,
                        states={"sampler": self.sampler, "early_stopping": self.stopper},
                        extra={"loss_sum": self.loss_sum, "loss_count": self.loss_count},
                        array_states=self.array_states())

    def array_states(self):
        return {"ema": self.ema} if self.ema is not None else None

    def averaged_weights(self):
        """A context in which the model holds the weights that are validated and saved as best."""
        return self.ema.average_parameters() if self.ema is not None else contextlib.nullcontext()

    def plot(self):
        # Drawn once at the end (drawing costs about a second); history.json is updated every epoch.
        if len(self.history) == 0:
            return
        try:
            self.history.plot(self.run_dir.plot, metrics=[("train_loss", "val_loss"), "val_ppl"],
                              title=f"{self.data.name}: NeuralLM n={self.config.order}")
        except ImportError:
            self.log("matplotlib is not installed: no curves.png (history.json has the numbers)")

    def finish(self, status, exit_code):
        self.plot()
        if status == "interrupted" and self.resumable:
            self.log(f"interrupted: saved {self.run_dir.last} (epoch {self.sampler.epoch + 1}, batch "
                     f"{self.sampler.position}); continue with: chainrule lm train --resume {self.run_dir.path}")
        best = self.stopper.best
        return TrainResult(status=status, epochs=len(self.history),
                           best_val_ppl=exp_mean_nll(best) if math.isfinite(best) else math.nan,
                           history=self.history, model=self.model, data=self.data,
                           path=str(self.run_dir.path), exit_code=exit_code)
