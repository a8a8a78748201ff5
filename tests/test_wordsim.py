"""Word-similarity evaluation: our Spearman correlation, pair files, OOV handling, and GloVe's known scores."""
import math

import numpy as np
import pytest

from chainrule.datasets import (
    DataError,
    KeyedVectors,
    evaluate_similarity,
    load_simlex999,
    load_vectors,
    load_word_pairs,
    load_wordsim353,
    rankdata,
    spearman,
)
from chainrule.datasets.wordsim import pearson


def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert rankdata([3, 1, 2]).tolist() == [3, 1, 2]
    assert rankdata([5, 5, 5]).tolist() == [2, 2, 2]
    assert rankdata([]).tolist() == []


def test_spearman_by_hand():
    # y's ranks are 1, 2, 3.5, 5, 3.5. Deviations from the mean rank 3:
    # x: -2 -1 0 1 2, y: -2 -1 .5 2 .5, so rho = 8 / sqrt(10 * 9.5).
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman([1, 2, 3], [10, 200, 3000]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
    assert math.isnan(spearman([1], [2]))
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(0.9933992677987828)


def test_spearman_agrees_with_scipy_on_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, size=200)
    y = x + rng.integers(0, 5, size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def toy_vectors():
    words = ["Cat", "cat", "dog", "car", "truck", "apple"]
    m = np.array([[0, 0, 1], [1, 0.1, 0], [0.9, 0.2, 0], [0, 1, 0.1], [0.1, 0.9, 0.1], [0.3, 0.3, 0.3]])
    return KeyedVectors(words, m)


def test_evaluate_similarity_skips_oov_and_ignores_case():
    kv = toy_vectors()
    pairs = [("cat", "dog", 9.0), ("car", "truck", 8.0), ("cat", "car", 1.0), ("dog", "unicorn", 5.0)]
    res = evaluate_similarity(kv, pairs, lower=True)
    assert res["pairs_used"] == 3 and res["oov_rate"] == pytest.approx(0.25)
    # Case-insensitive: "cat" matches the first case variant, "Cat", whose vector points elsewhere.
    cos = [kv.similarity("Cat", "dog"), kv.similarity("car", "truck"), kv.similarity("Cat", "car")]
    assert res["spearman"] == pytest.approx(spearman(cos, [9.0, 8.0, 1.0]))
    exact = evaluate_similarity(kv, pairs, lower=False)
    cos = [kv.similarity("cat", "dog"), kv.similarity("car", "truck"), kv.similarity("cat", "car")]
    assert exact["spearman"] == pytest.approx(spearman(cos, [9.0, 8.0, 1.0])) == pytest.approx(0.5)
    # Only the first 3 words known: car-truck and cat-car lose a word.
    assert evaluate_similarity(kv, pairs, lower=False, restrict_vocab=3)["pairs_used"] == 1


def test_load_word_pairs_and_errors(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\nWord 1\tWord 2\tHuman (mean)\n".replace("Word 1\tWord 2\tHuman (mean)\n", "")
                    + "tiger\tcat\t7.35\n\nbook\tpaper\t7.46\n", encoding="utf-8")
    assert load_word_pairs(path) == [("tiger", "cat", 7.35), ("book", "paper", 7.46)]
    path.write_text("tiger\tcat\t7.35\nbook paper 7.46\n")
    with pytest.raises(DataError, match=r"pairs.tsv:2: expected 3 fields \(word, word, score\), found 1"):
        load_word_pairs(path)
    path.write_text("tiger\tcat\thigh\n")
    with pytest.raises(DataError, match=r"pairs.tsv:1: score 'high' is not a number"):
        load_word_pairs(path)
    with pytest.raises(DataError, match="unknown word-pair set 'men'"):
        evaluate_similarity(toy_vectors(), "men")


def test_spearman_is_nan_when_a_similarity_is_nan():
    # Ranking would put the NaN last and give 1.0 here (scipy gives NaN too).
    assert math.isnan(spearman([1, 2, np.nan], [1, 2, 3]))
    vectors = toy_vectors()
    vectors.matrix[0] = np.nan
    vectors._unit = None
    pairs = [(a, b, float(i)) for i, (a, b) in enumerate(zip(vectors.words, vectors.words[1:]))]
    assert math.isnan(evaluate_similarity(vectors, pairs)["spearman"])


def test_word_pairs_with_a_byte_order_mark_or_bad_utf8(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("cup\tmug\t9\n", encoding="utf-8-sig")
    assert load_word_pairs(path) == [("cup", "mug", 9.0)]
    path.write_bytes("cup\tmug\t9\ncaf\xe9\tbar\t2\n".encode("latin-1"))
    with pytest.raises(DataError, match="pairs.tsv:2: invalid UTF-8"):
        load_word_pairs(path)


@pytest.mark.slow
def test_glove_reproduces_published_scores():
    pytest.importorskip("pyarrow")
    ws, sl = load_wordsim353(), load_simlex999()
    assert len(ws) == 353 and len(sl) == 999
    assert ws[0] == ("love", "sex", 6.77)
    glove = load_vectors("glove-6b-50d")
    ws_res = evaluate_similarity(glove, ws)
    sl_res = evaluate_similarity(glove, sl)
    assert ws_res["spearman"] == pytest.approx(0.503, abs=0.01)
    assert sl_res["spearman"] == pytest.approx(0.265, abs=0.01)
    assert ws_res["oov_rate"] == 0.0 and sl_res["pairs_used"] == 999
    # gensim's default vocabulary cut (the first 300,000 words) drops one SimLex pair.
    assert evaluate_similarity(glove, "simlex999", restrict_vocab=300000)["pairs_used"] == 998
