"""``chainrule lm``: train, evaluate and sample neural language models, fit Kneser-Ney, compare them.

    chainrule lm train --corpus kjv --order 5 --emb 60 --hidden 200 --direct --epochs 5 --out runs/kjv
    chainrule lm train --resume runs/kjv            # after Ctrl-C, SIGTERM or a crash
    chainrule lm eval runs/kjv --split test
    chainrule lm generate runs/kjv --n 5 --temperature 0.8 --top-k 50 --prompt "And God"
    chainrule lm ngram --corpus kjv --order 5 --arpa kjv5.arpa
    chainrule lm compare --corpus kjv --json kjv.json

Each handler only parses and prints; the work is in ``chainrule.lm``.
"""
import math
import sys
import time

from . import CLIError

# Options of `lm train` and `lm compare`: (flag, LMConfig field, type, help). None defaults let
# `--resume` tell which options were given.
_MODEL_OPTIONS = [
    ("--order", "order", int, "n of the n-gram: the model sees n-1 previous words"),
    ("--emb", "emb", int, "embedding size m (with --pretrained, the vectors' width)"),
    ("--hidden", "hidden", int, "hidden units"),
    ("--dropout", "dropout", float, "dropout on the embeddings and the hidden layer"),
    ("--optimizer", "optimizer", str, "sgd, adam or adagrad"),
    ("--lr", "lr", float, "learning rate"),
    ("--weight-decay", "weight_decay", float, "L2 penalty wd * w added to every gradient (e.g. 3e-5); 0 = off"),
    ("--clip", "clip", float, "clip the gradient norm to this; 0 = off"),
    ("--schedule", "schedule", str, ("learning-rate schedule: plateau (decay after an epoch without improvement), "
                                    "exponential (decay every epoch) or none")),
    ("--lr-decay", "lr_decay", float, "the schedule's factor; 1 = constant rate"),
    ("--ema", "ema", float, ("validate and keep an exponential moving average of the weights with this decay "
                            "(e.g. 0.9997; it pays off on runs much longer than 1/(1-decay) steps); the best "
                            "checkpoint then holds the average, the last the raw weights; 0 = off")),
    ("--epochs", "epochs", int, "maximum number of epochs"),
    ("--batch-size", "batch_size", int, "examples per step"),
    ("--seed", "seed", int, "random seed: initial weights, shuffling, dropout"),
    ("--min-count", "min_count", int, "words seen fewer times in training become <unk>"),
    ("--max-vocab", "max_vocab", int, "largest vocabulary, specials included; 0 = no limit"),
    ("--patience", "patience", int, "stop after this many epochs without improvement; 0 = never"),
    ("--pretrained", "pretrained", str, ("start the embeddings from these vectors (word2vec/GloVe file or a "
                                        "name such as glove-6b-50d)")),
]
_FLAGS = [("--direct", "direct", "direct connections from the embeddings to the output"),
          ("--tie", "tie", "use the embedding table as the output weights (needs --hidden equal to --emb)"),
          ("--lower", "lower", "lower-case the text"),
          ("--freeze", "freeze", "keep the pretrained embeddings fixed")]
_RESUMABLE = {"epochs", "patience"}
_CORPUS_HELP = "kjv, austen, a text file, or a folder with train.txt, valid.txt and test.txt"


def register(subparsers):
    parser = subparsers.add_parser("lm", help="neural and n-gram language models",
                                   description="Train, evaluate and sample Bengio's neural language model; fit "
                                               "Kneser-Ney n-gram models; compare them on one corpus.")
    sub = parser.add_subparsers(dest="lm_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    p = sub.add_parser("train", help="train a neural language model",
                       description="Train a NeuralLM. Writes DIR/config.json, vocab.json, best.ckpt.npz, "
                                   "last.ckpt.npz, history.json and curves.png. Ctrl-C or SIGTERM saves a checkpoint; "
                                   "--resume DIR continues it exactly.")
    p.add_argument("--corpus", help=_CORPUS_HELP + " (default kjv)")
    _add_model_options(p)
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR (only --epochs and "
                                                   "--patience may change)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="perplexity of a trained model on a split")
    p.add_argument("run", metavar="DIR", help="run directory of 'chainrule lm train'")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"], help="default test")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="which weights: best (on validation; averaged with --ema) or last (the latest raw "
                        "weights) (default best)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("generate", help="sample sentences from a trained model")
    p.add_argument("run", metavar="DIR", help="run directory of 'chainrule lm train'")
    p.add_argument("--n", type=int, default=5, help="number of sentences (default 5; greedy decoding gives one)")
    p.add_argument("--temperature", type=float, default=1.0, help="below 1 is safer, above 1 wilder (default 1)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely words only")
    p.add_argument("--prompt", default=None, help="the start of the sentence")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a different draw each time)")
    p.add_argument("--greedy", action="store_true", help="always take the most likely word")
    p.add_argument("--max-len", type=int, default=50, help="most words to generate after the prompt (default 50)")
    p.add_argument("--no-unk", action="store_true", help="never generate <unk>")
    p.set_defaults(func=_generate)

    p = sub.add_parser("ngram", help="fit an interpolated modified Kneser-Ney model and report its perplexity")
    p.add_argument("--corpus", default="kjv", help=_CORPUS_HELP + " (default kjv)")
    p.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    p.add_argument("--arpa", metavar="FILE", help="also write the model as an ARPA file (.gz compresses)")
    p.add_argument("--min-count", type=int, default=1,
                   help="words seen fewer times in training become <unk> (default 1)")
    p.add_argument("--max-vocab", type=int, default=0,
                   help="largest vocabulary, specials included; 0 = no limit (default 0)")
    p.add_argument("--lower", action="store_true", help="lower-case the text")
    p.set_defaults(func=_ngram)

    p = sub.add_parser("compare", help="Kneser-Ney orders 2-5, the neural LM and their mixture in one table",
                       description="Fit Kneser-Ney at each order, train the neural LM and tune the mixture on one "
                                   "vocabulary; choose on validation and report validation and test perplexity "
                                   "with the number of tokens scored.")
    p.add_argument("--corpus", default="kjv", help=_CORPUS_HELP + " (default kjv)")
    _add_model_options(p)
    p.add_argument("--orders", default="2,3,4,5", help="Kneser-Ney orders (default 2,3,4,5)")
    p.add_argument("--out", help="keep the neural LM's run directory here")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON")
    p.add_argument("--samples", type=int, default=3, help="sentences to generate from the neural LM (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_compare)


def _add_model_options(p):
    from ..lm.trainer import OPTIMIZERS, SCHEDULES, LMConfig

    defaults = LMConfig()
    for flag, dest, kind, text in _MODEL_OPTIONS:
        default = getattr(defaults, dest)
        choices = {"optimizer": list(OPTIMIZERS), "schedule": list(SCHEDULES)}.get(dest)
        p.add_argument(flag, dest=dest, type=kind, default=None, choices=choices,
                       help=f"{text} (default {default})" if default not in ("", None) else text)
    for flag, dest, text in _FLAGS:
        p.add_argument(flag, dest=dest, action="store_true", default=None, help=text)


def _config_from(args):
    from ..lm.trainer import LMConfig

    config = LMConfig()
    for _, dest, *_ in _MODEL_OPTIONS + [(None, d) for _, d, _ in _FLAGS]:
        value = getattr(args, dest)
        if value is not None:
            setattr(config, dest, value)
    return config


def _given(args):
    return [dest for _, dest, *_ in _MODEL_OPTIONS + [(None, d) for _, d, _ in _FLAGS]
            if getattr(args, dest) is not None]


# ----------------------------------------------------------------- handlers
def _train(args):
    from ..lm.trainer import resume_lm, train_lm

    show = False if args.no_progress else None
    if args.resume:
        fixed = [d for d in _given(args) if d not in _RESUMABLE] + (["corpus"] if args.corpus else [])
        if fixed or args.out:
            names = ", ".join("--" + d.replace("_", "-") for d in fixed + (["out"] if args.out else []))
            raise CLIError(f"--resume continues a run with its saved settings; {names} cannot change "
                           f"(only --epochs and --patience can)")
        result = resume_lm(args.resume, epochs=args.epochs, patience=args.patience, show_progress=show)
    else:
        if not args.out:
            raise CLIError("lm train needs --out DIR (where the run is written), or --resume DIR")
        config = _config_from(args)
        config.corpus = args.corpus or config.corpus
        result = train_lm(config, args.out, show_progress=show)
    if result.status != "interrupted":
        print(f"best validation perplexity {result.best_val_ppl:.2f}; weights in {result.path}/best.ckpt.npz, "
              f"curves in {result.path}/curves.png")
    return result.exit_code


def _eval(args):
    from ..lm.data import prepare_data
    from ..lm.run import load_run
    from ..lm.trainer import evaluate_model

    run = load_run(args.run, which=args.checkpoint)
    data = prepare_data(run.config.get("corpus", "kjv"), lower=run.config.get("lower", False), vocab=run.vocab)
    score = evaluate_model(run.model, data, args.split)
    print(f"{data.name} {args.split}: perplexity {score.ppl:.2f} over {score.n_tokens:,} tokens "
          f"(NLL {score.mean_nll:.4f} nats/token; OOV rate {data.oov_rate(args.split):.2%})")


def _generate(args):
    from ..lm.generate import generate, join_tokens
    from ..lm.run import load_run

    run = load_run(args.run)
    n = 1 if args.greedy else args.n  # greedy decoding has one answer
    sentences = generate(run.model, run.vocab, n=n, prompt=args.prompt, max_len=args.max_len,
                         temperature=args.temperature, top_k=args.top_k, greedy=args.greedy, seed=args.seed,
                         allow_unk=not args.no_unk, lower=run.config.get("lower", False))
    for tokens in sentences:
        print(join_tokens(tokens))


def _ngram(args):
    from ..lm.compare import fit_ngrams
    from ..lm.data import prepare_data

    data = prepare_data(args.corpus, lower=args.lower, min_count=args.min_count, max_vocab=args.max_vocab or None)
    print(f"{data.name}: vocabulary {len(data.vocab):,}, {data.n_tokens('train'):,} training tokens")
    start = time.perf_counter()
    [(lm, scores)] = fit_ngrams(data, [args.order], log=lambda text: None,
                               note=lambda text: print(text.strip(), file=sys.stderr))
    print(f"Kneser-Ney {args.order}-gram (fit and scored in {time.perf_counter() - start:.1f} s)")
    for split in ("valid", "test"):
        s = getattr(scores, split)
        print(f"  {split}: perplexity {s.ppl:.2f} over {s.n_tokens:,} tokens")
    if args.arpa:
        lm.to_arpa(args.arpa)
        print(f"wrote {args.arpa}")


def _compare(args):
    from ..lm.compare import CompareInterrupted, run_compare

    try:
        orders = [int(o) for o in args.orders.split(",") if o.strip()]
    except ValueError:
        raise CLIError(f"--orders takes comma-separated integers such as 2,3,4,5, got {args.orders!r}") from None
    if not orders or min(orders) < 1:
        raise CLIError(f"--orders needs positive n-gram orders, got {args.orders!r}")
    config = _config_from(args)
    try:
        result = run_compare(args.corpus, config, orders=orders, out_dir=args.out, json_path=args.json,
                             n_samples=args.samples, show_progress=False if args.no_progress else None)
    except CompareInterrupted as e:
        print(e, file=sys.stderr)
        return e.exit_code
    print()
    print(result.table())
    if result.samples:
        print("\nsampled from the neural LM (temperature 0.8, top-k 50):")
        for s in result.samples:
            print("  " + s)
    if args.json:
        print(f"\nwrote {args.json}")
    if not all(math.isfinite(r.test.ppl) for r in result.rows()):
        raise CLIError("some perplexity is not finite; see the table above")
