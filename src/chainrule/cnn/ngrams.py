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

    An n-gram is its window of token ids and feature values (what the filter
    sees; unknown words are all ``<unk>``), scored by its strongest
    occurrence. Each batch's
    windows are grouped by n-gram first, so a frequent n-gram takes one
    place however often it occurs.
    """
    if not len(texts):
        raise ValueError("cnn ngrams: no sentences to look for n-grams in")
    model, encoder = classifier.model, classifier.encoder
    tokens = [toks[:encoder.max_len] for toks in encoder.tokenize(texts)]
    ids, feats = classifier.encode(texts, user_features, source="ngrams")
    keys = [{} for _ in model.filter_sizes]       # per width: window bytes -> n-gram number
    where = [[] for _ in model.filter_sizes]      # per width: n-gram number -> (sentence, position) of one
    best = [None] * len(model.filter_sizes)       # per width: (values (M, K), n-gram numbers (M, K))
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
                unique, first, group = _ngram_groups(ids[part], model.filter_sizes[w], length, model.stride,
                                                     model.padding, None if feats is None else feats[part])
                # Each n-gram's strongest activation in this batch, per filter: (M, n-grams of the batch).
                order = np.argsort(group, kind="stable")
                bounds = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
                values = np.maximum.reduceat(flat[:, order], bounds, axis=1)
                local = np.broadcast_to(np.arange(values.shape[1]), values.shape)
                if values.shape[1] > top:  # distinct n-grams: the batch's own top ones are all that can count
                    sel = np.argpartition(-values, top - 1, axis=1)[:, :top]
                    values, local = np.take_along_axis(values, sel, axis=1), np.take_along_axis(local, sel, axis=1)
                # Number the n-grams that made it, the same across batches.
                chosen, inverse = np.unique(local, return_inverse=True)
                mapped = np.empty(len(chosen), dtype=np.int64)
                for i, u in enumerate(chosen):
                    mapped[i] = keys[w].setdefault(unique[u].tobytes(), len(keys[w]))
                    if mapped[i] == len(where[w]):  # a new n-gram: remember where one occurrence is
                        occurrence = int(first[u])
                        where[w].append((start + occurrence // length, occurrence % length))
                numbers = mapped[inverse.reshape(local.shape)]
                best[w] = _keep_top(values, numbers, best[w], top)

    report, index = [], 0
    for w, width in enumerate(model.filter_sizes):
        values, numbers = best[w]
        for j in range(values.shape[0]):
            found = []
            for value, number in zip(values[j], numbers[j]):
                if not np.isfinite(value):
                    continue
                i, t = where[w][number]
                begin = _window_start(t, width, model.stride, model.padding)
                words = [tokens[i][p] if 0 <= p < len(tokens[i]) else PAD for p in range(begin, begin + width)]
                found.append((" ".join(words), float(value)))
            report.append({"filter": index, "width": width, "map": j, "ngrams": found})
            index += 1
    return report


def _ngram_groups(ids, width, out_len, stride, padding, feats=None):
    """The distinct windows of ``ids`` (B, L) a filter of ``width`` reads, as in ``np.unique``.

    With feature channels ``feats`` (B, L, F), a window is its ids and its
    features: "Good film" and "good film" share ids but not the shape
    feature, and so not their activation.

    Returns the distinct windows (as bytes-like keys), the first (sentence *
    out_len + position) of each, and each window's index into them, in row order.
    """
    left = (width - 1) // 2 if padding == "same" else int(padding)
    b, n = ids.shape
    right = max(0, (out_len - 1) * stride + width - left - n)
    per_token = np.asarray(ids, dtype=np.int64)[:, :, None]
    if feats is not None:  # the features' bits, exactly, next to the id
        bits = np.ascontiguousarray(feats, dtype=np.float32).view(np.int32).astype(np.int64)
        per_token = np.concatenate([per_token, bits], axis=2)
    # id 0 is <pad>, as the report shows; padding has no features (zeros), as in the convolution.
    padded = np.pad(per_token, ((0, 0), (left, right), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)[:, ::stride][:, :out_len]
    size = windows.shape[2] * width
    rows = np.ascontiguousarray(windows.reshape(b * out_len, size))
    raw = rows.view(np.dtype((np.void, rows.dtype.itemsize * size))).ravel()
    unique, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    return unique, first, inverse.ravel()


def _keep_top(values, numbers, best, top):
    """Per filter (row), the ``top`` strongest distinct n-grams of this batch and of ``best`` together."""
    if best is not None:
        values = np.concatenate([best[0], values], axis=1)
        numbers = np.concatenate([best[1], numbers], axis=1)
    m = values.shape[0]
    out_values = np.full((m, top), -np.inf, dtype=values.dtype)
    out_numbers = np.zeros((m, top), dtype=np.int64)
    for j in range(m):
        order = np.argsort(-values[j], kind="stable")
        seen, kept = set(), 0
        for o in order:  # an n-gram can be in both: keep its stronger value only
            number = int(numbers[j, o])
            if number in seen:
                continue
            seen.add(number)
            out_values[j, kept], out_numbers[j, kept] = values[j, o], number
            kept += 1
            if kept == top:
                break
    return out_values, out_numbers


def format_ngrams(report):
    """The report as text: one block per filter."""
    lines = []
    for f in report:
        lines.append(f"filter {f['filter']} (width {f['width']}, map {f['map']}):")
        for text, value in f["ngrams"]:
            lines.append(f"  {value:8.4f}  {text}")
    return "\n".join(lines)
