"""TextCNN on movie reviews: Kim (2014)'s Table 2 protocol, and how fast chainrule trains and predicts.

    python benchmarks/bench_cnn.py                       # mr, 10-fold CV, all four modes + baseline
    python benchmarks/bench_cnn.py --folds 2 --epochs 10 # a quicker estimate
    python benchmarks/bench_cnn.py --data mr-vader --json out.json

Targets (issue 4), with GloVe 6B 50d vectors on ``mr`` with 10-fold CV:
non-static >= 80% mean accuracy, rand >= 76%, and every CNN mode above the
bag-of-n-grams baseline. For reference, Kim (2014) on Pang & Lee's MR with
300-d word2vec: rand 76.1, static 81.0, non-static 81.5, multichannel 81.1.

Besides accuracy the script reports training speed (sentences/s, the median
over epochs as measured by the trainer) and prediction speed (sentences/s
for the whole data set through ``TextClassifier.predict_proba``, which
includes tokenising).
"""
import argparse
import json
import os
import platform
import sys
import time

# Two shared cores: one BLAS thread each avoids oversubscription (see README "Threads").
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from chainrule.cnn.compare import compare, format_table, table_json
from chainrule.cnn.config import CNNConfig
from chainrule.cnn.trainer import train_textcnn
from chainrule.datasets.labelled import load_labelled
from chainrule.models.textcnn import MODES

TARGETS = {"CNN-non-static": 0.80, "CNN-rand": 0.76}


def prediction_speed(data, config, log):
    """Train briefly on the data, then time predict_proba over every sentence (3 runs, the best)."""
    quick = config.replace(epochs=1)
    result = train_textcnn(data.train, quick, show_progress=False, log=log)
    texts = data.train.texts
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result.classifier.predict_proba(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="mr")
    p.add_argument("--embeddings", default="glove-6b-50d")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--cv", type=int, default=10)
    p.add_argument("--folds", type=int, help="run only the first N folds")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--rand-dim", type=int, help="embedding width of rand (default: the vectors'; Kim's was 300)")
    p.add_argument("--no-bucket", action="store_true", help="random batches, as Kim")
    p.add_argument("--optimizer", choices=("adadelta", "adam"), default="adadelta", help="default: Kim's Adadelta")
    p.add_argument("--lr", type=float, help="default: 1.0 for Adadelta, 1e-3 for Adam")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0, as Kim)")
    p.add_argument("--embed-weight-decay", type=float,
                   help="the fine-tuned embedding's own L2 penalty (default: --weight-decay)")
    p.add_argument("--patience", type=int, help="stop a fold after this many epochs without a better dev accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="keep the runs here (resumable with --resume)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    data = load_labelled(args.data)
    config = CNNConfig(embeddings=args.embeddings, epochs=args.epochs, seed=args.seed, bucket=not args.no_bucket,
                       optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                       embed_weight_decay=args.embed_weight_decay, patience=args.patience)
    modes = tuple(m for m in args.modes.split(",") if m)
    started = time.perf_counter()
    rows = compare(data, config, k=args.cv, modes=modes, max_folds=args.folds, rand_dim=args.rand_dim,
                   run_dir=args.out, resume=args.resume, show_progress=False, log=log)
    seconds = time.perf_counter() - started
    folds = len(rows[0][1].folds) if rows else 0
    epochs = f"{args.epochs} epochs" + (f" (patience {args.patience})" if args.patience else "")
    print(format_table(rows, title=f"{args.data}: {folds} of {args.cv} folds, {epochs}, "
                                   f"{args.embeddings}, {config.optimizer} lr {config.learning_rate:g}, "
                                   f"weight decay {config.weight_decay:g}"))

    speeds = {name: [f.get("train_sentences_per_s") for f in r.folds if f.get("train_sentences_per_s")]
              for name, r in rows}
    for name, values in speeds.items():
        if values:
            print(f"{name}: training {sum(values) / len(values):,.0f} sentences/s (mean over folds)")
    predict = prediction_speed(data, config.replace(mode="non-static"), log)
    print(f"prediction (non-static): {predict:,.0f} sentences/s, tokenising included")
    baseline = dict(rows).get("bag-of-n-grams")
    for name, r in rows:
        target = TARGETS.get(name)
        verdict = []
        if target is not None:
            verdict.append(f"target {target:.0%}: {'met' if r.accuracy[0] >= target else 'NOT met'}")
        if baseline is not None and name.startswith("CNN"):
            verdict.append(f"{'beats' if r.accuracy[0] > baseline.accuracy[0] else 'does NOT beat'} the baseline")
        if verdict:
            print(f"{name}: {r.accuracy[0]:.2%}; " + "; ".join(verdict))
    print(f"total {seconds / 60:.1f} min on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"data": args.data, "folds": folds, "cv": args.cv, "epochs": args.epochs,
                       "config": config.to_dict(),
                       "results": table_json(rows), "train_sentences_per_s": speeds,
                       "predict_sentences_per_s": predict, "seconds": seconds}, f, indent=1)


if __name__ == "__main__":
    main()
