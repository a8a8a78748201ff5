"""Kneser-Ney against the neural LM and their mixture, on the same data, scored the same way.

    from chainrule.lm.compare import run_compare
    result = run_compare("kjv", LMConfig(order=5, emb=60, hidden=200, direct=True, epochs=5))
    print(result.table())

One vocabulary (from the training split) serves every model. Kneser-Ney is
fitted at each order in ``orders`` and the order with the lowest validation
perplexity is kept; the neural LM is trained with early stopping on
validation; the mixture weight is tuned on validation. Test perplexities are
then reported once for each. Every model scores exactly the same tokens -
each word of each sentence plus its ``</s>`` - and the comparison checks
that the counts agree before it reports anything.
"""
import math
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field

from ..datasets.sources import saved_source
from ..models.mixture import Mixture
from ..models.ngram import DiscountWarning, KneserNeyLM
from ..models.perplexity import Score
from ..train.checkpoint import RunDir
from .data import prepare_data
from .run import read_config
from .trainer import LMConfig, resume_lm, train_lm

SPLITS = ("valid", "test")


@dataclass
class ModelScores:
    name: str
    valid: Score
    test: Score
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self):
        return {"model": self.name, "detail": self.detail,
                "valid_ppl": self.valid.ppl, "test_ppl": self.test.ppl,
                "valid_tokens": self.valid.n_tokens, "test_tokens": self.test.n_tokens,
                "seconds": round(self.seconds, 2)}


class CompareInterrupted(Exception):
    """Ctrl-C or SIGTERM while the neural LM trained; ``exit_code`` is 128 + the signal number."""

    def __init__(self, exit_code, run_dir=None):
        self.exit_code, self.run_dir = exit_code, run_dir
        where = (f"; its run is kept in {run_dir}, and the same command continues it" if run_dir else "")
        super().__init__(f"interrupted while the neural LM trained, so there is no comparison{where}")


@dataclass
class CompareResult:
    corpus: str
    vocab_size: int
    train_tokens: int
    ngram: list                 # ModelScores of Kneser-Ney at each order
    best_ngram: ModelScores     # the order chosen on validation
    neural: ModelScores
    mixture: ModelScores
    mixture_weight: float       # weight of the neural LM
    tokens_per_s: float         # neural LM training throughput
    samples: list = field(default_factory=list)

    def rows(self):
        return self.ngram + [self.neural, self.mixture]

    def improvement(self, scores):
        """How much lower than the best Kneser-Ney order the test perplexity of ``scores`` is (0.2 = 20%)."""
        return 1 - scores.test.ppl / self.best_ngram.test.ppl

    def table(self):
        lines = [f"{self.corpus}: vocabulary {self.vocab_size:,}, {self.train_tokens:,} training tokens",
                 f"{'model':<22} {'valid ppl':>10} {'test ppl':>10} {'valid N':>9} {'test N':>9}  test vs best KN"]
        for row in self.rows():
            if row is self.best_ngram:
                note = "chosen on valid"
            elif row is self.neural or row is self.mixture:
                note = f"{-self.improvement(row):+.1%}"
            else:
                note = ""
            lines.append(f"{row.name:<22} {row.valid.ppl:>10.2f} {row.test.ppl:>10.2f} {row.valid.n_tokens:>9,} "
                         f"{row.test.n_tokens:>9,}  {note}")
        lines.append(f"mixture weight of the neural LM (tuned on valid): {self.mixture_weight:.3f}; "
                     f"neural LM training: {self.tokens_per_s:,.0f} tokens/s")
        return "\n".join(lines)

    def as_dict(self):
        return {"corpus": self.corpus, "vocab_size": self.vocab_size, "train_tokens": self.train_tokens,
                "models": [r.as_dict() for r in self.rows()], "best_ngram": self.best_ngram.name,
                "mixture_weight": self.mixture_weight, "tokens_per_s": self.tokens_per_s,
                # Fractions by which the test perplexity is below the best Kneser-Ney order's (0.2: 20% lower);
                # the table prints the same as a signed change (-20.0%).
                "neural_reduction_vs_best_ngram": self.improvement(self.neural),
                "mixture_reduction_vs_best_ngram": self.improvement(self.mixture),
                "samples": self.samples}


def fit_ngrams(data, orders=(2, 3, 4, 5), log=print, note=None):
    """Kneser-Ney at each order on ``data``'s training split; returns [(model, ModelScores)].

    ``log`` gets the progress lines; ``note`` (default: ``log``) the discounts that fell back.
    """
    note = note or log
    out = []
    for order in orders:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DiscountWarning)
            lm = KneserNeyLM(order).fit(data.tokens["train"], vocab=data.vocab.itos)
        for message in dict.fromkeys(str(w.message) for w in caught):  # each once
            note(f"  note: {message}")
        scores = ModelScores(f"Kneser-Ney {order}-gram", lm.score(data.tokens["valid"]),
                             lm.score(data.tokens["test"]), detail=f"order {order}",
                             seconds=time.perf_counter() - start)
        log(f"  KN {order}-gram: valid ppl {scores.valid.ppl:.2f}, test ppl {scores.test.ppl:.2f} "
            f"({scores.seconds:.1f} s)")
        out.append((lm, scores))
    return out


def _continues(out_dir, config):
    """True if ``out_dir`` holds a neural LM run of ``config`` to continue (an interrupted comparison).

    Checked before any work: a folder holding another run is refused at once,
    not after Kneser-Ney has been fitted.
    """
    run = RunDir(out_dir)
    if not run.config.exists():
        return False
    wanted = dict(asdict(config), corpus=saved_source(config.corpus))  # as train_lm saves it
    saved = read_config(out_dir).get("train", {})
    if config.pretrained:  # the vectors' width replaced emb when the run started
        saved, wanted = {**saved, "emb": None}, {**wanted, "emb": None}
    if not run.has_checkpoint() or saved != wanted:
        raise ValueError(f"{out_dir} already holds a training run with other settings (or one that never "
                         f"reached a checkpoint); choose another --out for the comparison")
    return True


def run_compare(corpus="kjv", config=None, orders=(2, 3, 4, 5), out_dir=None, json_path=None, n_samples=0,
                verbose=True, show_progress=None):
    """Fit Kneser-Ney at ``orders``, train the neural LM of ``config`` and tune the mixture; returns a
    CompareResult (``.table()`` prints it). ``out_dir`` keeps the neural LM's run directory (a
    temporary one is used otherwise); ``json_path`` writes the table as JSON; ``n_samples``
    sentences are generated from the neural LM for a look at what it learned."""
    from .generate import generate, join_tokens
    from .run import load_run

    log = print if verbose else (lambda *a, **k: None)
    config = LMConfig.from_dict(config if isinstance(config, dict) else asdict(config or LMConfig()))
    config.corpus = str(corpus)  # a copy: the caller's config is left as it was
    config.check()
    resume = out_dir is not None and _continues(out_dir, config)
    data = prepare_data(corpus, lower=config.lower, min_count=config.min_count, max_vocab=config.max_vocab or None)
    for split in ("train",) + SPLITS:
        data.examples(split, config.context_size)  # a context too long for the corpus fails before any work
    log(f"{data.name}: vocabulary {len(data.vocab):,} (min_count {config.min_count}); tokens scored: "
        f"valid {data.n_tokens('valid'):,}, test {data.n_tokens('test'):,}; "
        f"OOV rate valid {data.oov_rate('valid'):.2%}, test {data.oov_rate('test'):.2%}")

    log("Kneser-Ney:")
    fitted = fit_ngrams(data, orders, log)
    best_lm, best_ngram = min(fitted, key=lambda pair: pair[1].valid.ppl)

    log(f"neural LM (n={config.order}, emb {config.emb}, hidden {config.hidden}, direct {config.direct}, "
        f"tie {config.tie}):")
    with tempfile.TemporaryDirectory(prefix="chainrule-compare-") as tmp:
        run_dir = out_dir or tmp
        start = time.perf_counter()
        if resume:
            log(f"continuing the neural LM's run in {out_dir}")
            result = resume_lm(out_dir, data=data, verbose=verbose, show_progress=show_progress)
        else:
            result = train_lm(config, run_dir, data=data, verbose=verbose, show_progress=show_progress,
                              resumable=False)
        seconds = time.perf_counter() - start
        if result.status == "interrupted":
            # A half-trained model would make the table meaningless; with --out the same command continues it.
            raise CompareInterrupted(result.exit_code, out_dir)
        model = load_run(run_dir).model  # the best epoch's weights
    tokens_per_s = _mean([v for v in result.history["tokens_per_s"] if v])
    neural_logp = {}
    for split in SPLITS:
        X, y = data.examples(split, config.context_size)
        neural_logp[split] = model.log_probs(X, y)
    neural = ModelScores("neural LM", *(_score(neural_logp[s]) for s in SPLITS),
                         detail=(f"n={config.order} emb={config.emb} hidden={config.hidden} direct={config.direct}"
                                 + (" tied" if config.tie else "")),
                         seconds=seconds)

    ngram_logp = {split: best_lm.token_logprobs(data.tokens[split]) for split in SPLITS}
    mix = Mixture().fit(neural_logp["valid"], ngram_logp["valid"])
    mixture = ModelScores("mixture", *(_score(mix.log_probs(neural_logp[s], ngram_logp[s])) for s in SPLITS),
                          detail=f"{mix.weight:.3f} neural + {1 - mix.weight:.3f} {best_ngram.name}")

    rows = [s for _, s in fitted] + [neural, mixture]
    for split in SPLITS:
        counts = {r.name: getattr(r, split).n_tokens for r in rows}
        if set(counts.values()) != {data.n_tokens(split)}:
            raise RuntimeError(f"models scored different numbers of {split} tokens: {counts} "
                               f"(expected {data.n_tokens(split)} for every one)")

    samples = []
    if n_samples:
        for tokens in generate(model, data.vocab, n=n_samples, seed=config.seed, temperature=0.8, top_k=50,
                               allow_unk=False, max_len=40):
            samples.append(join_tokens(tokens))
    out = CompareResult(corpus=data.name, vocab_size=len(data.vocab), train_tokens=data.n_tokens("train"),
                        ngram=[s for _, s in fitted], best_ngram=best_ngram, neural=neural, mixture=mixture,
                        mixture_weight=mix.weight, tokens_per_s=tokens_per_s, samples=samples)
    if json_path:
        from ..train.atomic import atomic_write_json
        atomic_write_json(json_path, out.as_dict())
    return out


def _score(logp):
    return Score(float(-logp.sum()), int(logp.size))


def _mean(values):
    return sum(values) / len(values) if values else math.nan


#: The `make demo` configuration: the benchmark's tied model, smaller and for two epochs on kjv
#: (benchmarks/bench_lm.py has the full settings); a few minutes of training on 2 cores. No weight
#: averaging (ema): two epochs are too short for it (see chainrule.lm.trainer).
DEMO_CONFIG = {"order": 6, "emb": 192, "hidden": 192, "tie": True, "dropout": 0.15, "optimizer": "adam",
               "lr": 2e-3, "schedule": "exponential", "lr_decay": 0.5, "batch_size": 256, "epochs": 2,
               "patience": 1, "lower": True, "min_count": 3, "seed": 0}


def demo(corpus="kjv", out_dir=None, n_samples=5, verbose=True, epochs=None, seed=None):
    """The language-model part of ``make demo``: the comparison table and a few generated sentences.

    Trains the small ``DEMO_CONFIG`` model (the benchmark's larger settings
    are in benchmarks/bench_lm.py; ``epochs`` and ``seed`` override its own) and
    prints what ``lm compare`` prints.
    """
    config = dict(DEMO_CONFIG, **({"epochs": epochs} if epochs else {}), **({"seed": seed} if seed is not None else {}))
    result = run_compare(corpus, LMConfig(**config), out_dir=out_dir, n_samples=n_samples, verbose=verbose,
                         show_progress=None)
    print()
    print(result.table())
    print("\nsentences sampled from the neural LM (temperature 0.8, top-k 50):")
    for s in result.samples:
        print("  " + s)
    return result
