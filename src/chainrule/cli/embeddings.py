"""``chainrule embeddings``: look at word vectors learned by a language model, or pretrained ones.

    chainrule embeddings neighbors runs/kjv Moses --k 10
    chainrule embeddings evaluate glove-6b-50d
    chainrule embeddings export runs/kjv kjv.vec

SOURCE is a run directory of ``chainrule lm train``, a word2vec/GloVe file, or
a named set (glove-6b-50d).
"""

_SOURCE_HELP = "a run directory of 'chainrule lm train', a word2vec/GloVe file, or a name such as glove-6b-50d"


def register(subparsers):
    parser = subparsers.add_parser("embeddings", help="nearest neighbours, word-similarity scores and export of "
                                                      "word vectors")
    sub = parser.add_subparsers(dest="embeddings_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    p = sub.add_parser("neighbors", help="the nearest words by cosine similarity")
    p.add_argument("source", metavar="SOURCE", help=_SOURCE_HELP)
    p.add_argument("words", metavar="WORD", nargs="+", help="words to find the neighbours of")
    p.add_argument("--k", type=int, default=10, help="how many neighbours (default 10)")
    p.set_defaults(func=_neighbors)

    p = sub.add_parser("evaluate", help="Spearman correlation with human judgements on WordSim-353 and SimLex-999")
    p.add_argument("source", metavar="SOURCE", help=_SOURCE_HELP)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="write the vectors in word2vec text format")
    p.add_argument("source", metavar="SOURCE", help=_SOURCE_HELP)
    p.add_argument("path", metavar="FILE", help="the word2vec text file to write")
    p.set_defaults(func=_export)


def _neighbors(args):
    from ..lm.embeddings import load_any, neighbors

    vectors = load_any(args.source)
    for word in args.words:
        pairs = neighbors(vectors, word, k=args.k)
        print(f"{word}: " + ", ".join(f"{w} ({cos:.3f})" for w, cos in pairs))


def _evaluate(args):
    from ..lm.embeddings import evaluate, load_any

    vectors = load_any(args.source)
    print(f"{args.source}: {len(vectors):,} words, dimension {vectors.dim}")
    for name, r in evaluate(vectors).items():
        print(f"  {name:<11} Spearman {r['spearman']:.3f} on {r['pairs_used']} pairs "
              f"(OOV rate {r['oov_rate']:.1%})")


def _export(args):
    from ..lm.embeddings import export_word2vec

    n = export_word2vec(args.source, args.path)
    print(f"wrote {n:,} vectors to {args.path}")
