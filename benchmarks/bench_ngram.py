"""How fast the Kneser-Ney n-gram model counts and scores.

    python benchmarks/bench_ngram.py                 # synthetic 1M tokens, order 5; kjv too if it loads
    python benchmarks/bench_ngram.py --tokens 200000 --order 3 --no-kjv

Target (issue 3): fit plus scoring of a 1M-token corpus at order 5 in under
20 s on the 2-core reference machine. The synthetic corpus has a Zipfian
vocabulary of 10k words and sentences of random length (seeded), so the
n-gram tables are about as sparse as real text's. The script also writes and
reads back the ARPA file, which is not part of the target.
"""
import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

from chainrule.models.ngram import KneserNeyLM


def synthetic(n_tokens, vocab_size=10_000, seed=0):
    """Sentences of Zipf-distributed words w0, w1, ... (rank 1 most frequent), lengths 1-40."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab_size + 1)
    p /= p.sum()
    words = np.array([f"w{i}" for i in range(vocab_size)], dtype=object)
    tokens = words[rng.choice(vocab_size, size=n_tokens, p=p)].tolist()
    cuts = np.cumsum(rng.integers(1, 41, size=n_tokens // 10 + 1))
    cuts = cuts[cuts < n_tokens].tolist()
    return [tokens[a:b] for a, b in zip([0] + cuts, cuts + [n_tokens])]


def run(name, train, test, order, vocab=None, arpa=True):
    n_train = sum(len(s) + 1 for s in train)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = KneserNeyLM(order).fit(train, vocab=vocab)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    score = lm.score(test)
    t_score = time.perf_counter() - t0
    print(f"{name}: order {order}, {len(train)} training sentences, {n_train} tokens (words + </s>), "
          f"vocabulary {len(lm.vocab)}")
    print(f"  n-grams per order: {lm.ngram_counts()}")
    print(f"  fit {t_fit:.2f} s, score {score.n_tokens} tokens {t_score:.2f} s, total {t_fit + t_score:.2f} s")
    print(f"  perplexity {score.ppl:.2f}")
    if arpa:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.arpa")
            t0 = time.perf_counter()
            lm.to_arpa(path)
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            loaded = KneserNeyLM.from_arpa(path)
            t_read = time.perf_counter() - t0
            size = os.path.getsize(path) / 2**20
            same = np.abs(loaded.token_logprobs(test[:2000]) - lm.token_logprobs(test[:2000])).max()
        print(f"  ARPA: write {t_write:.2f} s, read {t_read:.2f} s, {size:.0f} MiB, "
              f"max |ln p difference| after round trip {same:.1e}")
    return t_fit, t_score


def kjv(order, arpa=True):
    try:
        from chainrule.datasets import load_corpus
        from chainrule.text.vocab import Vocab
        corpus = load_corpus("kjv")
    except (ImportError, OSError, ValueError) as e:  # no loader, no network, bad data: report and go on
        print(f"kjv: not run ({type(e).__name__}: {e})")
        return
    train, test = corpus.tokenized("train", lower=True), corpus.tokenized("test", lower=True)
    vocab = Vocab.build(train, min_count=2)
    run("kjv", train, test, order, vocab=vocab.itos, arpa=arpa)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000, help="synthetic corpus size (default 1M)")
    parser.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    parser.add_argument("--no-kjv", action="store_true", help="skip the kjv corpus")
    parser.add_argument("--no-arpa", action="store_true", help="skip writing and reading the ARPA files")
    args = parser.parse_args(argv)
    corpus = synthetic(args.tokens)
    t_fit, t_score = run(f"synthetic {args.tokens} tokens", corpus, corpus, args.order, arpa=not args.no_arpa)
    verdict = "meets" if t_fit + t_score < 20 else "MISSES"
    print(f"  {verdict} the 20 s target for fit + scoring (scoring the training corpus itself)")
    if not args.no_kjv:
        kjv(args.order, arpa=not args.no_arpa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
