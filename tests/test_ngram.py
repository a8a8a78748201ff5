"""Interpolated modified Kneser-Ney: exact normalisation, hand-computed values, and a slow dict-based oracle."""
import math
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest

from chainrule.models.ngram import DiscountWarning, KneserNeyLM
from chainrule.models.perplexity import Score, perplexity

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


# ------------------------------------------------------------------ the oracle
class ReferenceKN:
    """Interpolated modified Kneser-Ney straight from the formulas, with dicts and recursion.

    Same conventions as the model (and KenLM): one <s>, highest order raw
    counts, lower orders continuation counts except n-grams starting with <s>,
    the uniform distribution over V = every word but <s>.
    """

    def __init__(self, sentences, order, discounts, vocab):
        self.order, self.discounts = order, discounts
        self.vocab = list(vocab)  # V
        raw = [Counter() for _ in range(order + 1)]
        for s in sentences:
            padded = [BOS] + [w if w in self.vocab else UNK for w in s] + [EOS]
            for k in range(1, order + 1):
                for i in range(len(padded) - k + 1):
                    raw[k][tuple(padded[i:i + k])] += 1
        self.adjusted = [None] * (order + 1)
        self.adjusted[order] = {g: c for g, c in raw[order].items() if g != (BOS,)}
        for k in range(1, order):
            left = defaultdict(set)
            for gram in raw[k + 1]:
                left[gram[1:]].add(gram[0])
            self.adjusted[k] = {g: (c if g[0] == BOS and k > 1 else len(left[g]))
                                for g, c in raw[k].items() if g != (BOS,)}
        self.successors = [None] + [defaultdict(dict) for _ in range(order)]
        for k in range(1, order + 1):
            for gram, a in self.adjusted[k].items():
                self.successors[k][gram[:-1]][gram[-1]] = a

    def discount(self, k, a):
        d = self.discounts[k - 1]
        return 0.0 if a == 0 else d[min(a, 3) - 1]

    def prob(self, word, context):
        context = tuple(context)[len(context) - min(len(context), self.order - 1):]
        k = len(context) + 1
        if word == BOS:
            return 0.0
        lower = (1.0 / len(self.vocab)) if k == 1 else self.prob(word, context[1:])
        following = self.successors[k].get(context, {})
        total = sum(following.values())
        if total == 0:
            return lower
        a = following.get(word, 0)
        gamma = sum(self.discount(k, c) for c in following.values()) / total
        return max(a - self.discount(k, a), 0.0) / total + gamma * lower


def count_of_counts(ref, k):
    values = Counter(ref.adjusted[k].values())
    return [values[j] for j in range(1, 5)]


def random_corpus(rng, n_sentences, words, max_len=9):
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    return [[words[i] for i in rng.choice(len(words), size=rng.integers(0, max_len + 1), p=p)]
            for _ in range(n_sentences)]


def fit_quietly(order, sentences, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        vocab = kwargs.pop("vocab", None)
        return KneserNeyLM(order, **kwargs).fit(sentences, vocab=vocab)


TOY = [["a", "b"], ["a", "b"], ["c", "b"]]
D = [(0.5, 0.75, 1.0)] * 5  # fixed discounts for the hand computations


# ---------------------------------------------------------- hand-computed values
def test_bigram_probabilities_by_hand():
    # V = {<unk>, </s>, a, b, c}. Unigram continuation counts (distinct left
    # neighbours): a {<s>} 1, b {a, c} 2, c {<s>} 1, </s> {b} 1; total 5.
    # Discounts .5 (count 1), .75 (count 2): held out 2.25, gamma0 = .45, and
    # gamma0 / |V| = .09: p1(a) = .5/5 + .09 = .19, p1(b) = 1.25/5 + .09 = .34,
    # p1(c) = p1(</s>) = .19, p1(<unk>) = .09.
    # Bigrams, raw counts at the highest order: <s> a 2, <s> c 1, a b 2, c b 1, b </s> 3.
    lm = KneserNeyLM(2, discounts=D[:2]).fit(TOY)
    p = lambda w, ctx: math.exp(lm.logprob(w, ctx))
    assert p("a", []) == pytest.approx(0.19, abs=1e-12)
    assert p("b", []) == pytest.approx(0.34, abs=1e-12)
    assert p(UNK, []) == pytest.approx(0.09, abs=1e-12)
    # a: one successor b with count 2 -> (2 - .75)/2 + (.75/2) * .34
    assert p("b", ["a"]) == pytest.approx(0.625 + 0.375 * 0.34, abs=1e-12)
    # b: </s> with count 3 -> (3 - 1)/3 + (1/3) * .19
    assert p(EOS, ["b"]) == pytest.approx(2 / 3 + 0.19 / 3, abs=1e-12)
    # <s>: a (2) and c (1): held out .75 + .5 = 1.25 of 3
    assert p("a", [BOS]) == pytest.approx(1.25 / 3 + 1.25 / 3 * 0.19, abs=1e-12)
    assert p("b", [BOS]) == pytest.approx(1.25 / 3 * 0.34, abs=1e-12)
    # A context never seen (an unknown word is <unk>) leaves the unigram distribution.
    assert p("b", ["zebra"]) == pytest.approx(0.34, abs=1e-12)
    nll, n = lm.score([["a", "b"]])
    assert n == 3
    assert nll == pytest.approx(-math.log((1.25 / 3 * 1.19) * (0.625 + 0.375 * 0.34) * (2 / 3 + 0.19 / 3)), abs=1e-12)


def test_trigram_probabilities_by_hand():
    # Lower orders now use continuation counts, except n-grams starting with <s>:
    # a b -> 1 (only <s> precedes it; its raw count is 2), b </s> -> 2 ({a, c}),
    # <s> a -> raw 2, <s> c -> raw 1. Unigrams as in the bigram test.
    lm = KneserNeyLM(3, discounts=D[:3]).fit(TOY)
    p = lambda w, ctx: math.exp(lm.logprob(w, ctx))
    p2_b_a = 0.5 / 1 + 0.5 * 0.34  # a: b with count 1: (1 - .5)/1 + .5 * p1(b) = .67
    p2_end_b = 1.25 / 2 + 0.375 * 0.19  # b: </s> with count 2 = .69625
    assert p("b", ["a"]) == pytest.approx(p2_b_a, abs=1e-12)
    assert p(EOS, ["b"]) == pytest.approx(p2_end_b, abs=1e-12)
    # Trigrams (raw): <s> a b 2, a b </s> 2, <s> c b 1, c b </s> 1.
    assert p("b", [BOS, "a"]) == pytest.approx(1.25 / 2 + 0.375 * p2_b_a, abs=1e-12)  # .87625
    assert p(EOS, ["a", "b"]) == pytest.approx(1.25 / 2 + 0.375 * p2_end_b, abs=1e-12)  # .88609375
    # Unseen after "a b": gamma(a b) * p2(a | b) = .375 * (.375 * p1(a))
    assert p("a", ["a", "b"]) == pytest.approx(0.375 * 0.375 * 0.19, abs=1e-12)
    # Only the last two context words matter.
    assert p("a", ["c", "c", "a", "b"]) == p("a", ["a", "b"])
    p2_a_s = 1.25 / 3 * 1.19
    assert lm.score([["a", "b"]]).total_nll == pytest.approx(
        -math.log(p2_a_s * (0.625 + 0.375 * p2_b_a) * (0.625 + 0.375 * p2_end_b)), abs=1e-12)


# ------------------------------------------------------------ the oracle, widely
@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_matches_reference_implementation(order):
    rng = np.random.default_rng(order)
    words = [f"w{i}" for i in range(12)] + [UNK]
    corpus = random_corpus(rng, 60, words)
    lm = fit_quietly(order, corpus)
    ref = ReferenceKN(corpus, order, lm.discounts, lm.vocab)
    assert lm.count_of_counts == [count_of_counts(ref, k) for k in range(1, order + 1)]
    contexts = [[], [BOS], ["w0"], [BOS, "w1", "w0"], ["w3", "w2", "w1", "w0"], ["nope", "w1"], ["w5"] * 4]
    contexts += [list(rng.choice(words + [BOS, "unseen"], size=rng.integers(1, 6))) for _ in range(25)]
    for context in contexts:
        expected = np.log([ref.prob(w, [c if c in ref.vocab or c == BOS else UNK for c in context])
                           for w in lm.vocab])
        np.testing.assert_allclose(lm.logprobs(context), expected, rtol=0, atol=1e-12)
    # Whole sentences, through the vectorised scorer.
    test = random_corpus(rng, 30, words + ["unseen"])
    known = [[w if w in ref.vocab else UNK for w in s] for s in test]
    expected = [math.log(ref.prob(w, ([BOS] + s)[:i + 1])) for s in known for i, w in enumerate(s + [EOS])]
    np.testing.assert_allclose(lm.token_logprobs(test), expected, rtol=0, atol=1e-12)


def test_estimated_discounts_follow_chen_goodman():
    rng = np.random.default_rng(7)
    corpus = random_corpus(rng, 3000, [f"w{i}" for i in range(400)], max_len=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiscountWarning)  # this corpus is big enough for every order
        lm = KneserNeyLM(3).fit(corpus)
    for (n1, n2, n3, n4), d in zip(lm.count_of_counts, lm.discounts):
        y = n1 / (n1 + 2 * n2)
        assert d == pytest.approx((1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3), rel=1e-12)


# ------------------------------------------------------------- normalisation
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distribution_sums_to_one_for_any_context(order):
    rng = np.random.default_rng(10 + order)
    words = [f"w{i}" for i in range(30)] + [UNK]
    corpus = random_corpus(rng, 200, words)
    for vocab in (None, ["<pad>", UNK, BOS, EOS] + words + ["never_seen", "also_unseen"]):
        lm = fit_quietly(order, corpus, vocab=vocab)
        contexts = [[], [BOS], [BOS, "w0"], ["w1", "w0", "w2", "w0"], ["never_seen"] * 3, ["zzz", "qqq"]]
        contexts += [list(rng.choice(words + [BOS, "never_seen", "oov"], size=rng.integers(1, 7)))
                     for _ in range(40)]
        for context in contexts:
            logp = lm.logprobs(context)
            assert abs(math.fsum(np.exp(logp)) - 1.0) < 1e-9, context
            assert np.all(np.isfinite(logp))  # every word of V has some probability
        # logprob and logprobs agree, word by word.
        context = ["w2", "w1"]
        np.testing.assert_allclose([lm.logprob(w, context) for w in lm.vocab], lm.logprobs(context), atol=1e-12)


def test_vocabulary_given_by_the_caller():
    vocab = ["<pad>", UNK, BOS, EOS, "a", "b", "zz"]
    lm = KneserNeyLM(2, discounts=0.5).fit([["a", "b", "rare"], ["b"]], vocab=vocab)
    # Exactly the caller's words, in order, less <s> and <pad>.
    assert lm.vocab == [UNK, EOS, "a", "b", "zz"]
    # "rare" was counted as <unk> in training and is scored as <unk>.
    assert lm.logprob("rare", ["b"]) == lm.logprob(UNK, ["b"])
    assert lm.logprob("zz", []) > -math.inf
    assert abs(np.exp(lm.logprobs(["a"])).sum() - 1) < 1e-12
    # A chainrule.text.Vocab, or anything with its list of words in .itos, works too.
    class Vocab:
        itos = vocab
    assert KneserNeyLM(2, discounts=0.5).fit([["a"]], vocab=Vocab()).vocab == lm.vocab
    # A vocabulary without </s> gets it appended.
    assert KneserNeyLM(2, discounts=0.5).fit([["a"]], vocab=[UNK, "a"]).vocab == [UNK, "a", EOS]
    with pytest.raises(ValueError, match="<unk>"):
        KneserNeyLM(2).fit([["a"]], vocab=["a", "b"])


# ---------------------------------------------------------------- tiny corpora
def test_tiny_corpus_falls_back_with_a_warning():
    with pytest.warns(DiscountWarning) as caught:
        lm = KneserNeyLM(3).fit([["a", "b", "c"]])
    messages = [str(w.message) for w in caught]
    assert any("order 3: no 3-grams have adjusted count 2, 3 (n2, n3 = 0)" in m for m in messages), messages
    assert lm.discounts[2] == (0.5, 1.0, 1.5)  # KenLM's fallback, as n2 = 0
    assert abs(np.exp(lm.logprobs(["a", "b"])).sum() - 1) < 1e-12
    assert np.isfinite(lm.perplexity([["c", "b", "a", "d"]]))


def test_fallback_to_the_single_discount_when_n1_and_n2_exist():
    # Bigrams <s> a 2, a b 1, b </s> 1, a c 1, c </s> 1: n1 = 4, n2 = 1, n3 = 0,
    # so Ney's D = n1 / (n1 + 2 n2) = 4/6.
    corpus = [["a", "b"], ["a", "c"]]
    with pytest.warns(DiscountWarning) as caught:
        lm = KneserNeyLM(2).fit(corpus)
    messages = [str(w.message) for w in caught]
    assert any("order 2: no 2-grams have adjusted count 3 (n3 = 0)" in m and "n1/(n1+2 n2) = 0.6667" in m
               for m in messages), messages
    assert lm.count_of_counts[1][:3] == [4, 1, 0]
    assert lm.discounts[1] == pytest.approx((4 / 6,) * 3)


@pytest.mark.parametrize("corpus", [[[]], [["x"]], [[], []], [["x", "x", "x", "x", "x", "x"]]])
def test_degenerate_corpora_do_not_crash(corpus):
    for order in (2, 5):
        lm = fit_quietly(order, corpus)
        assert abs(np.exp(lm.logprobs([BOS])).sum() - 1) < 1e-12
        assert np.isfinite(lm.score(corpus + [["y"]]).total_nll)


# ----------------------------------------------------------------- scoring API
def test_score_counts_every_word_and_one_end_per_sentence():
    corpus = [["a", "b", "c"], ["b"], [], ["c", "a"]]
    lm = fit_quietly(3, corpus)
    test = [["a", "zzz", "b"], [], ["c"]]
    score = lm.score(test)
    assert isinstance(score, Score)
    assert score.n_tokens == 3 + 1 + 0 + 1 + 1 + 1
    logp = lm.token_logprobs(test)
    assert len(logp) == score.n_tokens
    assert score.total_nll == pytest.approx(-logp.sum())
    assert lm.perplexity(test) == pytest.approx(math.exp(score.total_nll / score.n_tokens))
    assert score.ppl == lm.perplexity(test)
    # Sentences score independently: the batch is the sum of its parts.
    parts = sum((lm.score([s]) for s in test), Score.zero())
    assert parts.n_tokens == score.n_tokens
    assert parts.total_nll == pytest.approx(score.total_nll, abs=1e-12)


def test_perplexity_helpers():
    assert perplexity(math.log(7) * 5, 5) == pytest.approx(7.0)
    nll, n = Score(10.0, 4)
    assert (nll, n) == (10.0, 4)
    assert Score(10.0, 4).ppl == pytest.approx(math.exp(2.5))
    assert Score(1.0, 1) + Score(2.0, 3) == Score(3.0, 4)
    with pytest.raises(ValueError, match="no tokens"):
        perplexity(1.0, 0)
    # A diverged model: exp would overflow past a mean of 709.8 nats.
    assert perplexity(800.0 * 3, 3) == math.inf and Score(1e6, 1).ppl == math.inf
    assert perplexity(709.0, 1) == pytest.approx(math.exp(709.0))
    assert math.isnan(perplexity(math.nan, 2))


def test_no_sentences_score_no_tokens():
    lm = fit_quietly(2, [["a", "b"], ["b", "a"]])
    assert lm.score([]) == Score(0.0, 0) and lm.token_logprobs([]).size == 0


def test_bad_input_is_reported():
    lm = fit_quietly(2, [["a", "b"]])
    with pytest.raises(ValueError, match=r"sentence 1 contains '<s>'"):
        lm.score([["a"], ["b", "<s>", "a"]])
    with pytest.raises(ValueError, match=r"sentence 0 contains '</s>'"):
        KneserNeyLM(2).fit([["a", "</s>", "b"]])
    with pytest.raises(TypeError, match="list of tokens"):
        lm.score(["a b"])
    with pytest.raises(TypeError, match="list of tokens"):
        KneserNeyLM(2).fit(["a b", "c"])
    with pytest.raises(RuntimeError, match="fit"):
        KneserNeyLM(2).score([["a"]])
    failed = KneserNeyLM(2)
    with pytest.raises(ValueError, match="sentence 0 contains '<s>'"):
        failed.fit([["a", "<s>"]])
    with pytest.raises(RuntimeError, match="fit"):  # a failed fit leaves no half-made model
        failed.logprob("a")
    with pytest.raises(ValueError, match="in \\(0, 2\\]"):
        KneserNeyLM(2, discounts=[(0.5, 2.5, 1.0), 0.5])
    with pytest.raises(ValueError, match="one entry per order"):
        KneserNeyLM(3, discounts=[0.5, 0.5])


def test_discount_estimates_outside_their_range_fall_back():
    # Counts of counts n1..n4 = 1, 1, 5, 0 give D2 and D3 outside (0, 2] and (0, 3]: Chen & Goodman's
    # estimates cannot be used, so the model must warn and use its fallback discounts.
    from chainrule.models.ngram.kneser_ney import _estimate_discounts
    with pytest.warns(DiscountWarning, match="outside"):
        discounts = _estimate_discounts(2, [1, 1, 5, 0])
    assert discounts == pytest.approx((1 / 3,) * 3)
