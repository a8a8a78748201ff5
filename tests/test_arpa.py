"""ARPA files: round trips, standard backoff scoring, clear errors, and agreement with KenLM."""
import math
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from chainrule.models.ngram import ArpaFormatError, BackoffLM, DiscountWarning, KneserNeyLM

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LN10 = math.log(10)

HAND = """
\\data\\
ngram 1=5
ngram 2=3
ngram 3=1

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.5\t</s>
-0.7\ta\t-0.3
-0.6\tb\t-0.2

\\2-grams:
-0.2\t<s> a\t-0.1
-0.4\ta b
-0.3\tb </s>

\\3-grams:
-0.05\t<s> a b

\\end\\
"""


def zipf_corpus(seed, n_sentences, n_words, max_len=12, unk=True):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_words + 1)
    p /= p.sum()
    words = [UNK if unk and i == 5 else f"w{i}" for i in range(n_words)]
    return [[words[i] for i in rng.choice(n_words, size=rng.integers(0, max_len + 1), p=p)]
            for _ in range(n_sentences)]


def fit_quietly(order, sentences, vocab=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        return KneserNeyLM(order).fit(sentences, vocab=vocab)


def write(tmp_path, text, name="m.arpa"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_round_trip_gives_the_same_log_probs(tmp_path, order):
    train = zipf_corpus(order, 300, 60)
    vocab = [UNK, EOS] + [f"w{i}" for i in range(60)] + ["never_in_training"]
    lm = fit_quietly(order, train, vocab=vocab)
    name = "model.arpa.gz" if order == 3 else "model.arpa"  # one compressed
    lm.to_arpa(tmp_path / name)
    assert os.listdir(tmp_path) == [name]  # the temporary file is gone
    loaded = KneserNeyLM.from_arpa(tmp_path / name)
    assert loaded.order == order
    assert loaded.vocab == lm.vocab
    assert loaded.ngram_counts() == lm.ngram_counts()
    test = zipf_corpus(100 + order, 100, 70) + [["oov", "w1", "w0"]]
    np.testing.assert_allclose(loaded.token_logprobs(test), lm.token_logprobs(test), rtol=1e-14, atol=1e-13)
    for context in ([], [BOS], ["w1", "w0"], ["w3", "w2", "w1", "w0"], ["oov"]):
        np.testing.assert_allclose(loaded.logprobs(context), lm.logprobs(context), rtol=1e-14, atol=1e-13)
    assert loaded.score(test) == pytest.approx(lm.score(test))


def test_written_file_follows_the_format(tmp_path):
    lm = fit_quietly(3, zipf_corpus(0, 50, 20))
    path = tmp_path / "m.arpa"
    lm.to_arpa(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[1] == "\\data\\"
    counts = [int(line.split("=")[1]) for line in lines if line.startswith("ngram ")]
    assert counts == lm.ngram_counts()
    for k, count in enumerate(counts, start=1):
        start = lines.index(f"\\{k}-grams:") + 1
        entries = lines[start:start + count]
        assert all(len(e.split("\t")[1].split(" ")) == k for e in entries)
        assert lines[start + count] == ""
        if k == 3:  # no backoff weights at the highest order
            assert all(len(e.split("\t")) == 2 for e in entries)
    assert lines[-2] == "\\end\\"
    bos = next(line for line in lines if line.split("\t")[1:2] == [BOS])
    assert bos.startswith("-99.0\t")


def test_write_is_atomic(tmp_path):
    lm = fit_quietly(2, [["a", "b"]])
    target = tmp_path / "m.arpa"
    target.write_text("old contents")
    with pytest.raises(FileNotFoundError):
        lm.to_arpa(tmp_path / "missing_folder" / "m.arpa")
    lm.to_arpa(target)
    assert target.read_text().startswith("\n\\data\\")
    assert sorted(os.listdir(tmp_path)) == ["m.arpa"]


@pytest.mark.parametrize("word", ["New York", "", "tab\there"])
def test_words_arpa_cannot_hold_are_refused_before_writing(tmp_path, word):
    lm = fit_quietly(2, [[word, "is", "big"], ["is"]])
    with pytest.raises(ValueError, match="free of ASCII whitespace") as info:
        lm.to_arpa(tmp_path / "m.arpa")
    assert f"has the word {word!r}" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_words_with_other_unicode_spaces_round_trip(tmp_path):
    lm = fit_quietly(2, [["10\u00a0000", "is", "big"], ["is"]])  # a no-break space: the reader does not split on it
    lm.to_arpa(tmp_path / "m.arpa")
    back = BackoffLM.from_arpa(tmp_path / "m.arpa")
    assert back.score([["10\u00a0000", "is"]]).total_nll == pytest.approx(lm.score([["10\u00a0000", "is"]]).total_nll)


# ------------------------------------------------------------ standard backoff
def test_hand_written_file_scores_with_standard_backoff(tmp_path):
    lm = BackoffLM.from_arpa(write(tmp_path, HAND))
    log10 = lambda w, ctx: lm.logprob(w, ctx) / LN10
    assert log10("a", [BOS]) == pytest.approx(-0.2)
    assert log10("b", [BOS, "a"]) == pytest.approx(-0.05)  # the trigram
    assert log10(EOS, ["a", "b"]) == pytest.approx(-0.3)  # "a b" has no backoff weight: p(</s> | b)
    assert log10("b", [BOS]) == pytest.approx(-0.5 - 0.6)  # bow(<s>) p(b)
    assert log10("a", [BOS, "a"]) == pytest.approx(-0.1 - 0.3 - 0.7)  # bow(<s> a) bow(a) p(a)
    assert log10("zebra", ["b"]) == pytest.approx(-0.2 - 1.0)  # unknown -> <unk>
    assert lm.logprob(BOS, []) == -math.inf  # -99 is zero
    assert lm.score([["a", "b"]]).total_nll == pytest.approx((0.2 + 0.05 + 0.3) * LN10)
    assert lm.vocab == [UNK, EOS, "a", "b"]


def test_missing_context_is_added_as_kenlm_does(tmp_path):
    # SRILM's pruning can drop "<s> b" while keeping "<s> b a".
    text = HAND.replace("ngram 3=1", "ngram 3=2").replace("-0.05\t<s> a b\n", "-0.05\t<s> a b\n-0.01\t<s> b a\n")
    lm = BackoffLM.from_arpa(write(tmp_path, text))
    assert lm.logprob("a", [BOS, "b"]) / LN10 == pytest.approx(-0.01)
    assert lm.logprob("b", [BOS]) / LN10 == pytest.approx(-1.1)  # the added context is not an n-gram
    assert lm.logprob(EOS, [BOS, "b"]) / LN10 == pytest.approx(-0.3)  # ... and its backoff weight is 1
    assert lm.ngram_counts() == [5, 3, 2]
    lm.to_arpa(tmp_path / "again.arpa")
    assert BackoffLM.from_arpa(tmp_path / "again.arpa").logprob("a", [BOS, "b"]) == lm.logprob("a", [BOS, "b"])


# -------------------------------------------------------------------- bad files
def line_of(text, fragment):
    return next(i for i, line in enumerate(text.split("\n"), start=1) if fragment in line)


@pytest.mark.parametrize("change, message, at", [
    (("ngram 2=3", "ngram 2=4"), r"header says 'ngram 2=4' but the \\2-grams: section \(from line 15\) has 3 entries",
     "-0.3\tb </s>"),
    (("-0.4\ta b", "-0.4\ta"), r"expected 'log10prob w1 ... w2 \[backoff\]' .* got 2 fields", "-0.4\ta"),
    (("-0.4\ta b", "x.4\ta b"), r"'x.4' is not a log10 probability", "x.4\ta b"),
    (("-0.4\ta b", "nan\ta b"), r"'nan' is not a log10 probability", "nan\ta b"),
    (("-0.4\ta b", "-0.4\ta c"), r"the word 'c' of this 2-gram is not among the unigrams", "-0.4\ta c"),
    (("-0.05\t<s> a b", "-0.05\t<s> a b\t-0.1"), "highest order has a backoff weight", "-0.05\t<s> a b"),
    (("-0.6\tb\t-0.2", "-0.6\ta\t-0.2"), r"the unigram 'a' appears twice \(first on line 11\)", "-0.6\ta\t-0.2"),
    (("\\3-grams:", "\\4-grams:"), r"expected the section header \\3-grams:", "\\4-grams:"),
    (("ngram 2=3", "ngram 2 3"), "malformed count line", "ngram 2 3"),
])
def test_bad_files_name_the_file_and_line(tmp_path, change, message, at):
    text = HAND.replace(*change)
    path = write(tmp_path, text)
    with pytest.raises(ArpaFormatError, match=message) as e:
        BackoffLM.from_arpa(path)
    lineno = line_of(text, at) if at != "-0.3\tb </s>" else line_of(text, at) + 1
    assert str(e.value).startswith(f"{path}:{lineno}: ")


def test_more_bad_files(tmp_path):
    with pytest.raises(ArpaFormatError, match="no \\\\data\\\\ line"):
        BackoffLM.from_arpa(write(tmp_path, "just some text\n"))
    with pytest.raises(ArpaFormatError, match="expected \\\\end\\\\"):
        BackoffLM.from_arpa(write(tmp_path, HAND.replace("\\end\\", "")))
    duplicate = HAND.replace("ngram 2=3", "ngram 2=4").replace("-0.3\tb </s>", "-0.3\tb </s>\n-0.4\ta b")
    with pytest.raises(ArpaFormatError, match=r":18: this 2-gram already appeared on line 16"):
        BackoffLM.from_arpa(write(tmp_path, duplicate))
    with pytest.raises(ArpaFormatError, match="no <s>"):
        BackoffLM.from_arpa(write(tmp_path, HAND.replace("<s>", "<S>")))
    with pytest.raises(ArpaFormatError, match="not UTF-8"):
        (tmp_path / "bin.arpa").write_bytes(HAND.replace("\ta\t", "\ta\xff\t").encode("latin-1"))
        BackoffLM.from_arpa(tmp_path / "bin.arpa")
    with pytest.raises(FileNotFoundError):
        BackoffLM.from_arpa(tmp_path / "absent.arpa")
    with pytest.warns(UserWarning, match="no <unk>"):
        lm = BackoffLM.from_arpa(write(tmp_path, HAND.replace("-1.0\t<unk>\n", "").replace("ngram 1=5", "ngram 1=4")))
    assert lm.logprob("zebra", []) == -math.inf


# ----------------------------------------------------------------------- KenLM
@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_kenlm_reads_our_file_and_agrees(tmp_path, order):
    kenlm = pytest.importorskip("kenlm")
    train = zipf_corpus(order, 400, 80)  # with <unk> among the training words
    lm = fit_quietly(order, train)
    path = str(tmp_path / "model.arpa")
    lm.to_arpa(path)
    model = kenlm.Model(path)
    assert model.order == order
    test = zipf_corpus(50 + order, 80, 100) + [["w1", "never_seen", "w0", UNK]]
    theirs = [score for s in test for score, _, _ in model.full_scores(" ".join(s), bos=True, eos=True)]
    ours = lm.token_logprobs(test) / LN10
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=2e-6)  # KenLM stores float32


@pytest.mark.skipif(shutil.which("lmplz") is None, reason="KenLM's lmplz is not on PATH")
@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_same_model_as_kenlm_lmplz(tmp_path, order):
    # lmplz does not accept <unk> in its input. Repeating some sentences gives
    # 5-grams seen 3 and 4 times, so that every discount is estimable.
    train = zipf_corpus(1, 1500, 2000, unk=False)
    train = train + train[:200] + train[:60] + train[:20]
    (tmp_path / "train.txt").write_text("\n".join(" ".join(s) for s in train) + "\n")
    with open(tmp_path / "train.txt") as source, open(tmp_path / "kenlm.arpa", "w") as out:
        subprocess.run(["lmplz", "-o", str(order), "-S", "64M", "-T", str(tmp_path)], stdin=source, stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    theirs = BackoffLM.from_arpa(tmp_path / "kenlm.arpa")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiscountWarning)
        ours = KneserNeyLM(order).fit(train)
    assert theirs.ngram_counts()[1:] == ours.ngram_counts()[1:]
    test = zipf_corpus(2, 200, 2100, unk=False)
    np.testing.assert_allclose(ours.token_logprobs(test) / LN10, theirs.token_logprobs(test) / LN10,
                               rtol=2e-6, atol=2e-6)
