"""``chainrule cnn``: sentence classification with Kim (2014)'s CNN.

    chainrule cnn train --data mr --embeddings glove-6b-50d --mode non-static --cv 10 --out runs/mr
    chainrule cnn train --resume runs/mr
    chainrule cnn eval runs/mr --data my_test.tsv
    chainrule cnn predict runs/mr "a gripping, beautifully acted film"
    chainrule cnn ngrams runs/mr --top 5
    chainrule cnn compare --data mr-vader --cv 10 --json table.json
"""
import argparse
import json
import re
import sys
from pathlib import Path

from . import CLIError

RUN_FILE = "run.json"  # what `cnn train` was asked to do, so that --resume needs nothing else


def register(subparsers):
    p = subparsers.add_parser("cnn", help="sentence classification with a convolutional network (Kim 2014)",
                              description="Train, evaluate and inspect Kim (2014)'s CNN for sentence "
                                          "classification.")
    sub = p.add_subparsers(dest="cnn_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    t = sub.add_parser("train", help="train a TextCNN (k-fold CV, or the data's own train/test split)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train a TextCNN with Kim's defaults (Adadelta rho=0.95, batch 50, dropout 0.5, "
                                   "max-norm 3,\nfilters 3,4,5 x 100 maps, 25 epochs, 10% of the training data as "
                                   "dev, test at the best dev epoch).\nData without a test split is cross-validated "
                                   "(10 folds unless --cv says otherwise).",
                       epilog="example: chainrule cnn train --data mr --embeddings glove-6b-50d --mode non-static "
                              "--out runs/mr\n         chainrule cnn train --resume runs/mr")
    _data_options(t, required=False)
    _model_options(t)
    t.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation (default: 10 when the data has "
                                                       "no test split, else the fixed split; with a test split, "
                                                       "--cv cross-validates the training data and leaves the "
                                                       "test split out)")
    t.add_argument("--out", metavar="DIR", help="run folder: checkpoints, curves, metrics and the model")
    t.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR, with its settings "
                                                   "(no other option but --no-progress)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="accuracy, macro-F1 and confusion matrix of a trained model on labelled data")
    e.add_argument("model", metavar="DIR", help="a folder written by 'cnn train'")
    _data_options(e, required=True)
    e.add_argument("--png", metavar="FILE", help="write the confusion matrix as a PNG")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("predict", help="label sentences given as arguments, or one per line on stdin")
    r.add_argument("model", metavar="DIR", help="a folder written by 'cnn train'")
    r.add_argument("sentences", nargs="*", help="sentences to classify (default: read lines from stdin)")
    r.add_argument("--json", action="store_true", help="one JSON object per sentence")
    r.set_defaults(func=cmd_predict)

    n = sub.add_parser("ngrams", help="for each filter, the n-grams of the data that activate it most")
    n.add_argument("model", metavar="DIR", help="a folder written by 'cnn train'")
    n.add_argument("--data", help="labelled data or a text file with one sentence per line (default: the "
                                  "model's training data)")
    n.add_argument("--top", type=int, default=5, help="n-grams per filter (default 5)")
    n.add_argument("--filters", type=int, metavar="N", help="show only the first N filters")
    n.add_argument("--json", action="store_true", help="print the report as JSON")
    n.set_defaults(func=cmd_ngrams)

    c = sub.add_parser("compare", help="the four embedding modes and a bag-of-n-grams baseline on the same folds",
                       description="Train the CNN in each mode (rand, static, non-static, multichannel) and a "
                                   "bag-of-n-grams logistic regression on the same folds (or the data's own "
                                   "train/test split), and print one table of mean accuracy and macro-F1.")
    _data_options(c, required=True)
    _model_options(c, compare=True)
    c.add_argument("--cv", type=int, default=10, metavar="K", help="folds (default 10; ignored when the data has "
                                                                    "its own test split)")
    c.add_argument("--folds", type=int, metavar="N", help="run only the first N of the K folds (a quicker estimate)")
    c.add_argument("--modes", default="rand,static,non-static,multichannel",
                   help="comma-separated CNN modes (default: all four)")
    c.add_argument("--rand-dim", type=int, help="embedding width of the rand mode (default: the vectors' width; "
                                                "Kim's was 300)")
    c.add_argument("--json", metavar="FILE", help="also write the table, with every fold, as JSON")
    c.add_argument("--out", metavar="DIR", help="keep each mode's runs in DIR/<mode> (resumable with --resume)")
    c.add_argument("--resume", action="store_true", help="continue an interrupted comparison in --out DIR")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_compare)


# -------------------------------------------------------------------- options
def _data_options(p, required):
    p.add_argument("--data", required=required,
                   help="mr, mr-vader, a TSV/CSV/fastText file, or a folder with train and test files")
    p.add_argument("--label-column", help="the label column of a TSV/CSV file, by name or 0-based index")
    p.add_argument("--text-column", help="the text column of a TSV/CSV file, by name or 0-based index")
    p.add_argument("--format", choices=("tsv", "csv", "fasttext"), help="file format (default: guessed)")


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 3,4,5, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one filter width")
    return values


def _padding(text):
    if text == "same":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"padding is a number of words or 'same', not {text!r}") from None


def _model_options(p, compare=False):
    # Defaults are None (CNNConfig's apply, see _config); the help texts state them.
    g = p.add_argument_group("model (Kim's defaults)")
    g.add_argument("--embeddings", default="glove-6b-50d" if compare else None,
                   help="pretrained vectors: glove-6b-50d, a word2vec/GloVe file, or none"
                        + (" (default glove-6b-50d)" if compare else " (needed by every mode but rand)"))
    if not compare:
        g.add_argument("--mode", default=None, choices=("rand", "static", "non-static", "multichannel"),
                       help="embeddings: random and trained, pretrained frozen, pretrained fine-tuned, or both "
                            "(default rand)")
    g.add_argument("--embed-dim", type=int, help="embedding width (default: the vectors' width, or 300 for rand)")
    g.add_argument("--vector-std", type=float, default=None,
                   help="rescale pretrained vectors to this element standard deviation, 0 to keep them as they "
                        "are (default 0.144, word2vec's scale, that of U[-0.25, 0.25])")
    g.add_argument("--filters", type=_int_list, default=None, help="filter widths (default 3,4,5)")
    g.add_argument("--maps", type=int, default=None, help="feature maps per filter width (default 100)")
    g.add_argument("--activation", choices=("relu", "tanh"), default=None,
                   help="after each convolution (default relu)")
    g.add_argument("--stride", type=int, default=None, help="convolution stride (default 1)")
    g.add_argument("--padding", type=_padding, default=None,
                   help="zero words on each side of a sentence for the convolutions, or 'same' (default 0)")
    g.add_argument("--pool", choices=("max", "avg", "kmax"), default=None, help="pooling over time (default max)")
    g.add_argument("--pool-size", type=int, help="pool windows of this many positions (default: whole sentence)")
    g.add_argument("--pool-stride", type=int, help="step between pooling windows (default: --pool-size)")
    g.add_argument("--k", type=int, default=None, help="values kept per map by --pool kmax (default 1)")
    g.add_argument("--dropout", type=float, default=None, help="dropout before the output layer (default 0.5)")
    g.add_argument("--max-norm", type=float, default=None,
                   help="L2 bound on each class's output weights, 0 for none (default 3)")
    g.add_argument("--features", default=None, help="extra token features: length,shape (default none)")
    g.add_argument("--cased", action="store_true", help="keep case when looking words up (default: lower-case)")
    g.add_argument("--keep-clitics", action="store_true",
                   help="keep n't, 's, 're ... attached to their words (default: split, as GloVe and Kim)")
    g.add_argument("--min-count", type=int, default=None, help="drop rarer training words (default 1)")
    g.add_argument("--max-len", type=int, help="pad or cut sentences to this many words (default: the longest "
                                               "training sentence)")
    o = p.add_argument_group("training (Kim's defaults)")
    o.add_argument("--optimizer", choices=("adadelta", "adam"), default=None, help="default adadelta")
    o.add_argument("--lr", type=float, help="learning rate (default 1.0 for Adadelta, 1e-3 for Adam)")
    o.add_argument("--rho", type=float, default=None, help="Adadelta's rho (default 0.95)")
    o.add_argument("--eps", type=float, default=None, help="Adadelta's eps (default 1e-6)")
    o.add_argument("--weight-decay", type=float, default=None,
                   help="L2 penalty: adds this times each weight to its gradient (default 0, as Kim)")
    o.add_argument("--embed-weight-decay", type=float,
                   help="the fine-tuned embedding's own L2 penalty (default: --weight-decay); 0 keeps "
                        "pretrained vectors of rare words from shrinking to zero")
    o.add_argument("--batch-size", type=int, default=None, help="default 50")
    o.add_argument("--no-bucket", action="store_true",
                   help="batches of random sentences (Kim) rather than of similar lengths (faster, the default)")
    o.add_argument("--epochs", type=int, default=None, help="default 25")
    o.add_argument("--dev-fraction", type=float, default=None,
                   help="training data held out as dev data when the data has no dev split (default 0.1)")
    o.add_argument("--patience", type=int, help="stop after this many epochs without a better dev accuracy "
                                                "(default: train every epoch)")
    o.add_argument("--seed", type=int, default=None, help="random seed: weights, dropout, batches, folds")


# Options that map one to one onto a CNNConfig setting of the same name. Their parser default is
# None ("not given"), so that CNNConfig's own defaults apply and `--resume` can tell what was typed.
_SAME_NAMED = ("embed_dim", "padding", "pool_size", "pool_stride", "k", "dropout", "maps", "activation", "stride",
               "pool", "min_count", "max_len", "optimizer", "lr", "rho", "eps", "weight_decay",
               "embed_weight_decay", "batch_size", "epochs", "dev_fraction", "patience", "seed")
_FLAGS = ("cased", "keep_clitics", "no_bucket")


def _given_model_options(args):
    """The model and training options typed on the command line (those not left at None or False)."""
    names = _SAME_NAMED + _FLAGS + ("embeddings", "mode", "vector_std", "filters", "max_norm", "features")
    # `is`, not `in (None, False)`: 0 == False, and --seed 0 is typed too.
    return [name for name in names if getattr(args, name, None) is not None and getattr(args, name) is not False]


def _config(args, mode=None):
    from ..cnn.config import CNNConfig
    from ..datasets.sources import saved_source
    embeddings = args.embeddings
    if embeddings is not None and embeddings.lower() == "none":
        embeddings = None
    if embeddings is not None:
        from ..datasets import NAMED_VECTORS
        if embeddings.lower() not in NAMED_VECTORS and not Path(embeddings).exists():
            # Checked here for every mode: rand would otherwise keep a wrong path in run.json unread.
            raise CLIError(f"--embeddings {embeddings}: no such file, and not a named set (known: "
                           f"{', '.join(NAMED_VECTORS)}; or 'none')")
    settings = {name: getattr(args, name) for name in _SAME_NAMED if getattr(args, name) is not None}
    settings.update(mode=mode or args.mode or CNNConfig.mode, embeddings=saved_source(embeddings), lower=not args.cased,
                    clitics=not args.keep_clitics, bucket=not args.no_bucket)
    if args.filters is not None:
        settings["filters"] = tuple(args.filters)
    if args.features is not None:
        settings["features"] = tuple(f.strip() for f in args.features.split(",") if f.strip())
    # On the command line 0 means "none" for these two; in CNNConfig that is None.
    if args.vector_std is not None:
        settings["vector_std"] = args.vector_std or None
    if args.max_norm is not None:
        settings["max_norm"] = args.max_norm or None
    try:
        return CNNConfig(**settings)
    except ValueError as e:
        # "CNNConfig: dropout=1.0: must be in [0, 1)" -> "--dropout 1.0: must be in [0, 1)"
        message = str(e).removeprefix("CNNConfig: ")
        message = re.sub(r"\b([a-z][a-z_]*)=", lambda m: "--" + m.group(1).replace("_", "-") + " ", message)
        raise CLIError(message) from None


def _data_spec(args):
    from ..datasets.sources import saved_source
    # A path is saved absolute, so that --resume and `cnn ngrams` find it from any directory.
    return {"data": saved_source(args.data), "label_column": args.label_column, "text_column": args.text_column,
            "format": args.format}


def _load_data(spec):
    from ..datasets.labelled import load_labelled
    return load_labelled(spec["data"], label_column=spec.get("label_column"),
                         text_column=spec.get("text_column"), format=spec.get("format"))


def _log(text):
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------- commands
def cmd_train(args):
    from ..cnn.config import CNNConfig
    from ..train.atomic import atomic_write_json, claim
    if args.resume:
        changed = _given_model_options(args) + [name for name in ("data", "label_column", "text_column", "format",
                                                                  "cv", "out") if getattr(args, name) is not None]
        if changed:
            names = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise CLIError(f"--resume continues a run with the settings in its {RUN_FILE}; {names} cannot change "
                           f"(start a new run with --out for other settings)")
        out = Path(args.resume)
        try:
            spec = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
            config = CNNConfig.from_dict(spec["config"])
        except FileNotFoundError:
            raise CLIError(f"nothing to resume in {out}: {RUN_FILE} is missing (was it made by "
                           f"'chainrule cnn train --out {out}'?)") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise CLIError(f"{out / RUN_FILE} is damaged ({type(e).__name__}: {e}); start a new run "
                           f"with --out") from None
        if not spec.get("cv") and not _has_progress(out):  # (cross-validation starts a fold anew by itself)
            raise CLIError(f"nothing to resume in {out}: no last.ckpt.npz (the run stopped before its first epoch "
                           f"ended); delete {out / RUN_FILE} (or the folder) and start it again with --out")
    else:
        if not args.data:
            raise CLIError("cnn train needs --data (mr, mr-vader, a file or a folder), or --resume DIR")
        if not args.out:
            raise CLIError("cnn train needs --out DIR for the run's checkpoints, metrics and model")
        out = Path(args.out)
        from ..train.checkpoint import already_holds_a_run, refuse_other_runs
        if (out / RUN_FILE).exists():
            raise CLIError(already_holds_a_run(out, RUN_FILE, _has_progress(out)))
        refuse_other_runs(out)  # another kind of run (a language model's): this one would write over it
        config = _config(args)
        spec = {"data": _data_spec(args), "cv": args.cv, "config": config.to_dict()}
    if spec["cv"] is not None and spec["cv"] < 2:
        raise CLIError(f"--cv needs at least 2 folds, got {spec['cv']}")
    data = _load_data(spec["data"])
    cv = spec["cv"] if spec["cv"] is not None else (None if data.test is not None else 10)
    _log(f"data {data.name}: " + ", ".join(f"{k} {v['examples']:,}" for k, v in data.info.items()
                                           if isinstance(v, dict) and "examples" in v)
         + (f"; {cv}-fold cross-validation" if cv else "; fixed train/test split"))
    if not args.resume:
        out.mkdir(parents=True, exist_ok=True)
        spec["cv"] = cv
        if not claim(out / RUN_FILE):  # a second run started into this folder meanwhile stops here
            raise CLIError(already_holds_a_run(out, RUN_FILE, _has_progress(out)))
        atomic_write_json(out / RUN_FILE, spec)
    show = False if args.no_progress else None
    try:
        return _train_and_report(args, data, config, cv, out, show)
    except BaseException:
        if not args.resume and not _has_progress(out):
            (out / RUN_FILE).unlink(missing_ok=True)  # failed before anything resumable was saved: free again
        raise


def _has_progress(out):
    """Whether a run folder holds anything `--resume` would continue from: a last checkpoint or a finished
    fold (a best checkpoint alone, left by a failure in the first epoch, is not one)."""
    return any(out.rglob("last.ckpt.npz")) or any(out.rglob("result.json"))


def _train_and_report(args, data, config, cv, out, show):
    if cv:
        from ..cnn.crossval import cross_validate
        from ..cnn.metrics import format_confusion
        result = cross_validate(data, config, cv, run_dir=out, resume=bool(args.resume), show_progress=show,
                                log=_log, report=False)  # printed below, on stdout
        if result.info.get("interrupted"):
            _log(f"stopped; continue with: chainrule cnn train --resume {out}")
            return result.info["exit_code"]
        print(result.summary())
        print(format_confusion(result.confusion_matrix, result.labels))
        print("per fold: " + ", ".join(f"{f['accuracy']:.2%}" for f in result.folds))
        print(f"wrote {out / 'cv.json'}, {out / 'confusion.png'}, fold curves in {out}/fold-*/curves.png")
        return 0

    from ..cnn.metrics import format_confusion
    from ..cnn.trainer import train_textcnn
    result = train_textcnn(data.train, config, dev=data.dev, test=data.test, run_dir=out,
                           resume=bool(args.resume), show_progress=show, log=_log)
    if result.interrupted:
        _log(f"stopped; continue with: chainrule cnn train --resume {out}")
        return result.exit_code
    t = result.test
    print(f"best dev accuracy {result.dev_accuracy:.2%} at epoch {result.best_epoch}; test accuracy "
          f"{t['accuracy']:.2%}, macro-F1 {t['macro_f1']:.4f} ({t['n']} sentences)")
    print(format_confusion(t["confusion_matrix"], t["labels"]))
    print(f"wrote the model and {out / 'metrics.json'}, {out / 'confusion.png'}, {out / 'curves.png'}")
    return 0


def _classifier(directory):
    from ..cnn.classifier import TextClassifier
    return TextClassifier.load(directory)


def cmd_eval(args):
    from ..cnn.metrics import format_confusion, plot_confusion
    classifier = _classifier(args.model)
    data = _load_labelled_any(_data_spec(args))
    split = data.test if data.test is not None else data.train
    metrics = classifier.evaluate(split)
    if args.png:
        plot_confusion(metrics["confusion_matrix"], metrics["labels"], args.png,
                       title=f"accuracy {metrics['accuracy']:.1%}")
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"{split.source}: accuracy {metrics['accuracy']:.2%}, macro-F1 {metrics['macro_f1']:.4f} "
          f"({metrics['n']} sentences)")
    print(format_confusion(metrics["confusion_matrix"], metrics["labels"]))
    return 0


def _load_labelled_any(spec):
    """Labelled data for scoring: unlike training data, one class only is fine."""
    from ..datasets.labelled import NAMED, LabelledData, read_labelled_file
    path = Path(spec["data"])
    if spec["data"] in NAMED or path.is_dir():
        return _load_data(spec)
    split = read_labelled_file(path, spec.get("label_column"), spec.get("text_column"), spec.get("format"))
    return LabelledData(path.stem, split)


def cmd_predict(args):
    import numpy as np
    classifier = _classifier(args.model)
    sentences = args.sentences
    if not sentences:
        sentences = [line.rstrip("\r\n") for line in sys.stdin]
        sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise CLIError("no sentences to classify: give them as arguments or one per line on stdin")
    probs = classifier.predict_proba(sentences)
    for sentence, p in zip(sentences, probs):
        label = classifier.labels[int(np.argmax(p))]
        if args.json:
            print(json.dumps({"text": sentence, "label": label,
                              "probabilities": {c: round(float(v), 6) for c, v in zip(classifier.labels, p)}}))
        else:
            shown = " ".join(f"{c}={v:.3f}" for c, v in zip(classifier.labels, p))
            print(f"{label}\t{shown}\t{sentence}")
    return 0


def cmd_ngrams(args):
    from ..cnn.ngrams import format_ngrams, top_ngrams
    if args.top < 1:
        raise CLIError("--top must be at least 1")
    classifier = _classifier(args.model)
    texts = _ngram_texts(args)
    report = top_ngrams(classifier, texts, top=args.top)
    if args.filters:
        report = report[:args.filters]
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        print(format_ngrams(report))
    return 0


def _ngram_texts(args):
    if args.data:
        path = Path(args.data)
        spec = {"data": args.data}
        if path.is_file() and path.suffix.lower() not in (".tsv", ".csv", ".ft", ".fasttext"):
            # A .txt file is plain sentences, one per line, unless its lines are fastText's
            # "__label__x text" or label<TAB>text as `cnn train` reads it (labels are not words).
            from ..datasets.labelled import decode_utf8
            lines = [s.rstrip("\r") for s in decode_utf8(path.read_bytes(), str(path)).split("\n") if s.strip()]
            if not lines:
                raise CLIError(f"{path}: no sentences in the file")
            if lines[0].lstrip().startswith("__label__"):
                spec["format"] = "fasttext"
            elif all("\t" in line for line in lines):
                spec["format"] = "tsv"
            else:
                return lines
    else:
        try:
            spec = json.loads((Path(args.model) / RUN_FILE).read_text(encoding="utf-8"))["data"]
        except FileNotFoundError:
            raise CLIError(f"{args.model} does not say what data it was trained on; pass --data") from None
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise CLIError(f"{Path(args.model) / RUN_FILE} is damaged ({type(e).__name__}: {e}); "
                           f"pass --data") from None
    data = _load_labelled_any(spec)
    return data.train.texts


def cmd_compare(args):
    from ..cnn.compare import compare, format_table, table_json
    from ..train.atomic import atomic_write_json
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    bad = [m for m in modes if m not in ("rand", "static", "non-static", "multichannel")]
    if bad or not modes:
        raise CLIError(f"unknown mode(s) {bad}; choose from rand, static, non-static, multichannel")
    if args.resume and not args.out:
        raise CLIError("--resume needs --out DIR, the folder of the comparison to continue")
    if args.cv < 2:
        raise CLIError(f"--cv needs at least 2 folds, got {args.cv}")
    if args.out and not args.resume and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise CLIError(f"{args.out} already holds a comparison; continue it with --resume, or choose another --out")
    config = _config(args, mode="rand")
    if any(m != "rand" for m in modes) and not config.embeddings:
        raise CLIError("the static, non-static and multichannel modes need --embeddings (e.g. glove-6b-50d)")
    data = _load_data(_data_spec(args))
    rows = compare(data, config, k=args.cv, modes=modes, max_folds=args.folds, rand_dim=args.rand_dim,
                   run_dir=args.out, resume=args.resume, show_progress=False if args.no_progress else None, log=_log)
    split = "fixed train/test split" if data.test is not None else (
        f"{len(rows[0][1].folds) if rows else 0} of {args.cv} folds")
    print(format_table(rows, title=f"{data.name}: {split}, {config.epochs} epochs, embeddings "
                                   f"{config.embeddings or 'none'}"))
    if args.json:
        atomic_write_json(args.json, {"data": data.name, "config": config.to_dict(), "results": table_json(rows)})
        print(f"wrote {args.json}")
    return 0 if len(rows) == len(modes) + 1 else 130
