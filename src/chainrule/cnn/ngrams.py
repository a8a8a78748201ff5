"""What each filter has learnt to detect: the n-grams of a data set that activate it most.

A filter of width w looks at w words at a time, so each of its activations
belongs to one n-gram of one sentence. ``top_ngrams`` runs the trained
convolutions over the sentences in batches, keeps each filter's strongest
activations as it goes (never the whole activation array), and reports each
filter's ``top`` distinct n-grams with their activations. Words beyond the
sentence (padding) are shown as ``<pad>``.
"""
import numpy as np

from ..grad_mode import no_grad
from ..text import PAD


def _window_start(position, width, stride, padding):
    left = (width - 1) // 2 if padding == "same" else int(padding)
    return position * stride - left


def top_ngrams(classifier, texts, top=5, batch_size=500, user_features=None):
    """For every filter, its ``top`` distinct n-grams in ``texts`` by activation, strongest first.

    Returns a list with one dict per filter: ``filter`` (0-based, in the
    order of the output layer's inputs), ``width``, ``map`` (index within its
    width) and ``ngrams``, a list of (n-gram text, activation).
    """
    model, encoder = classifier.model, classifier.encoder
    tokens = [toks[:encoder.max_len] for toks in encoder.tokenize(texts)]
    ids, feats = classifier.encode(texts, user_features, source="ngrams")
    # Several candidates per distinct n-gram may be needed, as frequent n-grams repeat.
    pool = max(4 * top, top + 20)
    best = [None] * len(model.filter_sizes)  # per width: (values (M, P), sentence (M, P), position (M, P))
    model.eval()
    with no_grad():
        for start in range(0, len(ids), batch_size):
            part = slice(start, start + batch_size)
            x = model.embed(ids[part], None if feats is None else feats[part])
            lengths = model.lengths_of(ids[part])
            for w, act in enumerate(model.feature_maps(x)):
                a = act.data  # (B, M, L_out)
                b, m, length = a.shape
                if model.pool_size is None:
                    # Positions that pooling ignores (windows over padding only) are not candidates.
                    valid = model.valid_positions(lengths, model.filter_sizes[w], length)
                    a = np.where(valid[:, None, :], a, -np.inf)
                flat = a.transpose(1, 0, 2).reshape(m, b * length)
                keep = min(pool, flat.shape[1])
                idx = np.argpartition(-flat, keep - 1, axis=1)[:, :keep]
                values = np.take_along_axis(flat, idx, axis=1)
                sentence, position = idx // length + start, idx % length
                if best[w] is not None:
                    values = np.concatenate([best[w][0], values], axis=1)
                    sentence = np.concatenate([best[w][1], sentence], axis=1)
                    position = np.concatenate([best[w][2], position], axis=1)
                    keep = min(pool, values.shape[1])
                    sel = np.argpartition(-values, keep - 1, axis=1)[:, :keep]
                    values, sentence, position = (np.take_along_axis(v, sel, axis=1)
                                                  for v in (values, sentence, position))
                best[w] = (values, sentence, position)

    report, index = [], 0
    for w, width in enumerate(model.filter_sizes):
        values, sentence, position = best[w]
        for j in range(values.shape[0]):
            order = np.argsort(-values[j], kind="stable")
            seen, found = set(), []
            for o in order:
                i, t = int(sentence[j, o]), int(position[j, o])
                begin = _window_start(t, width, model.stride, model.padding)
                words = [tokens[i][p] if 0 <= p < len(tokens[i]) else PAD for p in range(begin, begin + width)]
                text = " ".join(words)
                if text in seen or not np.isfinite(values[j, o]):
                    continue
                seen.add(text)
                found.append((text, float(values[j, o])))
                if len(found) == top:
                    break
            report.append({"filter": index, "width": width, "map": j, "ngrams": found})
            index += 1
    return report


def format_ngrams(report):
    """The report as text: one block per filter."""
    lines = []
    for f in report:
        lines.append(f"filter {f['filter']} (width {f['width']}, map {f['map']}):")
        for text, value in f["ngrams"]:
            lines.append(f"  {value:8.4f}  {text}")
    return "\n".join(lines)
