"""The text pipeline: tokenizer, sentence splitter, vocabulary, n-gram examples and batching."""
import json
import unicodedata

import numpy as np
import pytest

from chainrule.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Vocab,
    minibatches,
    ngram_examples,
    pad_batch,
    split_sentences,
    tokenize,
)

# ---------------------------------------------------------------- tokenize


@pytest.mark.parametrize("text, expected", [
    ("apple.", ["apple", "."]),
    ("Hello, world!", ["Hello", ",", "world", "!"]),
    ("(a) [b] {c}", ["(", "a", ")", "[", "b", "]", "{", "c", "}"]),
    ("don't stop", ["don't", "stop"]),
    ("Sir Walter's pride", ["Sir", "Walter's", "pride"]),
    ("twenty-one mother-in-law", ["twenty-one", "mother-in-law"]),
    ("well--I think", ["well", "--", "I", "think"]),
    ("wait... what?!", ["wait", "...", "what", "?", "!"]),
    ("'Tis the boys' dog", ["'", "Tis", "the", "boys", "'", "dog"]),
    ("It cost $3.50, or 1,000 pence: 7%", ["It", "cost", "$", "3.50", ",", "or", "1,000", "pence", ":", "7", "%"]),
    ("in 1818.", ["in", "1818", "."]),
    ("_them_", ["_", "them", "_"]),
    ("a\tb\n\nc  d", ["a", "b", "c", "d"]),
    ("", []),
])
def test_tokenize_rules(text, expected):
    assert tokenize(text) == expected


def test_tokenize_unicode_quotes_and_dashes():
    assert tokenize("“Don’t,” she said—twice.") == ["“", "Don't", ",", "”", "she", "said", "—", "twice", "."]
    # A typographic apostrophe inside a word is the same vocabulary entry as the ASCII one...
    assert tokenize("it’s") == tokenize("it's") == ["it's"]
    # ...but single quotes around words stay punctuation.
    assert tokenize("‘yes’") == ["‘", "yes", "’"]
    assert tokenize("«Oui» — non") == ["«", "Oui", "»", "—", "non"]


def test_tokenize_accents_and_combining_marks():
    composed = "Café naïve"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert tokenize(decomposed) == tokenize(composed) == ["Café", "naïve"]
    # Devanagari vowel signs are combining marks, which \w alone would cut words at.
    assert tokenize("हिन्दी भाषा, ok") == ["हिन्दी", "भाषा", ",", "ok"]
    assert tokenize("Ελληνικά και русский.") == ["Ελληνικά", "και", "русский", "."]
    # A typographic apostrophe after a mark is still inside the word, and becomes ASCII.
    assert tokenize("हिन्दी’s x\u0301’s") == ["हिन्दी's", "x\u0301's"]
    # The emoji presentation selector (a mark) stays with its symbol rather than becoming a word.
    assert tokenize("I \u2764\ufe0f NY") == ["I", "\u2764\ufe0f", "NY"]


def test_tokenize_lower_and_determinism():
    text = "The Cat sat. THE cat!"
    assert tokenize(text, lower=True) == ["the", "cat", "sat", ".", "the", "cat", "!"]
    assert tokenize(text) == tokenize(text)
    with pytest.raises(TypeError, match="str"):
        tokenize(["not", "a", "string"])


# ---------------------------------------------------------------- split_sentences


def test_split_sentences_basic_and_end_of_text():
    assert split_sentences("One. Two! Three? Four") == ["One.", "Two!", "Three?", "Four"]
    assert split_sentences("  Lines\nwrap   here. Next one.\n") == ["Lines wrap here.", "Next one."]
    assert split_sentences("") == []


def test_split_sentences_needs_capital_or_quote_next():
    assert split_sentences("It was 3 p.m. and late. it rained.") == ["It was 3 p.m. and late. it rained."]
    assert split_sentences('He said "Go." Then he left. "Stop," she said.') == [
        'He said "Go."', "Then he left.", '"Stop," she said.']
    assert split_sentences("What? (Nothing.) Fine.") == ["What?", "(Nothing.)", "Fine."]
    assert split_sentences("Élan. Über alles.") == ["Élan.", "Über alles."]


def test_split_sentences_abbreviations_and_initials():
    text = "Mr. Smith and Mrs. Jones met Dr. Brown at St. Paul's. J. R. Tolkien wrote. It ended."
    assert split_sentences(text) == ["Mr. Smith and Mrs. Jones met Dr. Brown at St. Paul's.",
                                     "J. R. Tolkien wrote.", "It ended."]


# ---------------------------------------------------------------- Vocab

TRAIN = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]]


def test_vocab_specials_order_and_ties():
    v = Vocab.build(TRAIN)
    assert v.itos[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    # cat, sat, the occur twice (alphabetical among themselves), then a, dog, ran once.
    assert v.itos[4:] == ["cat", "sat", "the", "a", "dog", "ran"]
    assert v.counts["the"] == 2 and v.counts["a"] == 1 and v.counts["<unk>"] == 0
    assert len(v) == 10 and "cat" in v and "zebra" not in v
    # Input order does not matter.
    assert Vocab.build(TRAIN[::-1]).itos == v.itos


def test_vocab_min_count_max_size_and_unk():
    v = Vocab.build(TRAIN, min_count=2)
    assert v.itos[4:] == ["cat", "sat", "the"]
    assert v.counts["<unk>"] == 3  # a, dog, ran fell out
    assert v["dog"] == v.unk_id and v["cat"] == 4
    v = Vocab.build(TRAIN, max_size=6)
    assert len(v) == 6 and v.itos[4:] == ["cat", "sat"]
    # Tokens of other splits that training never saw map to <unk>.
    valid = [["the", "zebra", "sat"], ["unseen"]]
    assert [v.encode(s).tolist() for s in valid] == [[1, 1, 5], [1]]
    assert v.unk_rate(valid) == pytest.approx(3 / 4)
    assert Vocab.build(TRAIN).unk_rate(TRAIN) == 0.0


def test_literal_unk_is_one_token_and_counts_as_the_special():
    # Penn Treebank and WikiText write rare words as <unk>.
    assert tokenize("a <unk> barked") == ["a", "<unk>", "barked"]
    assert tokenize("<UNK> x", lower=True) == ["<unk>", "x"]
    assert tokenize("a<b> <s> <unknown>") == ["a", "<", "b", ">", "<", "s", ">", "<", "unknown", ">"]
    v = Vocab.build([tokenize("the <unk> sat on the <unk>")])
    assert v.counts["<unk>"] == 2 and "unk" not in v.stoi


def test_vocab_literal_specials_count_towards_the_special():
    v = Vocab.build([["<unk>", "a", "<unk>", "</s>"]])
    assert v.itos == ["<pad>", "<unk>", "<s>", "</s>", "a"]
    assert v.counts["<unk>"] == 2 and v.counts["</s>"] == 1
    assert v["<unk>"] == 1


def test_vocab_encode_decode():
    v = Vocab.build(TRAIN)
    ids = v.encode(["the", "cat", "???"])
    assert ids.dtype == np.int64 and ids.tolist() == [6, 4, 1]
    assert v.decode(ids) == ["the", "cat", "<unk>"]
    assert v.decode(np.array([[2, 3]])) == ["<s>", "</s>"]
    assert v.encode([]).shape == (0,)
    with pytest.raises(IndexError, match="token id 99 is outside this vocabulary of 10"):
        v.decode([99])


def test_vocab_only_specials_errors_say_why():
    with pytest.raises(ValueError, match=r"min_count=3 leaves only the special tokens.*occurs 2 times"):
        Vocab.build(TRAIN, min_count=3)
    with pytest.raises(ValueError, match="max_size=4 leaves no room"):
        Vocab.build(TRAIN, max_size=4)
    with pytest.raises(ValueError, match="empty"):
        Vocab.build([[], []])
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build(["a sentence as a string"])


def test_vocab_json_round_trip(tmp_path):
    v = Vocab.build(TRAIN, min_count=2)
    path = tmp_path / "vocab.json"
    v.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["itos"] == v.itos and data["format"] == "chainrule-vocab"
    w = Vocab.load(path)
    assert w == v and w.counts == v.counts and w["dog"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left behind
    # Non-ASCII tokens survive.
    u = Vocab.build([["café", "naïve", "日本"]])
    u.save(path)
    assert Vocab.load(path) == u


def test_vocab_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocabulary file not found"):
        Vocab.load(tmp_path / "missing.json")
    path = tmp_path / "vocab.json"
    Vocab.build(TRAIN).save(path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:len(text) // 2], encoding="utf-8")  # truncated, as by a crash during a plain write
    with pytest.raises(ValueError, match=r"vocab.json: not a chainrule vocabulary \(invalid JSON at line 1"):
        Vocab.load(path)
    path.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a chainrule vocabulary"):
        Vocab.load(path)
    path.write_text(json.dumps({"format": "chainrule-vocab", "version": 1, "itos": ["a", "b"], "counts": [1, 1]}))
    with pytest.raises(ValueError, match="damaged vocabulary.*special tokens"):
        Vocab.load(path)
    itos = ["<pad>", "<unk>", "<s>", "</s>", "x", "x"]
    path.write_text(json.dumps({"format": "chainrule-vocab", "version": 1, "itos": itos, "counts": [0] * 6}))
    with pytest.raises(ValueError, match="'x' appears twice"):
        Vocab.load(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not UTF-8"):
        Vocab.load(path)


# ---------------------------------------------------------------- ngram_examples


def test_ngram_examples_by_hand():
    # Sentences "5 6" and "7" with context 2, <s>=2, </s>=3.
    X, y = ngram_examples([[5, 6], np.array([7])], context_size=2, bos_id=2, eos_id=3)
    assert X.dtype == np.int64 and y.dtype == np.int64
    assert X.tolist() == [[2, 2], [2, 5], [5, 6],
                          [2, 2], [2, 7]]
    assert y.tolist() == [5, 6, 3,
                          7, 3]


def test_ngram_examples_context_one_and_empty_sentence():
    X, y = ngram_examples([[9, 8, 7], []], context_size=1, bos_id=2, eos_id=3)
    assert X.tolist() == [[2], [9], [8], [7], [2]]
    assert y.tolist() == [9, 8, 7, 3, 3]


def test_ngram_examples_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    sentences = [rng.integers(4, 50, size=n) for n in rng.integers(0, 12, size=40)]
    context = 4
    X, y = ngram_examples(sentences, context, bos_id=2, eos_id=3)
    want_x, want_y = [], []
    for s in sentences:
        padded = [2] * context + list(s) + [3]
        for t in range(context, len(padded)):
            want_x.append(padded[t - context:t])
            want_y.append(padded[t])
    assert len(y) == sum(len(s) for s in sentences) + len(sentences)
    np.testing.assert_array_equal(X, np.array(want_x))
    np.testing.assert_array_equal(y, np.array(want_y))


def test_ngram_examples_rejects_a_context_longer_than_every_sentence():
    with pytest.raises(ValueError, match=r"context_size=5 is longer than every sentence \(the longest has 3"):
        ngram_examples([[4, 5, 6], [4]], context_size=5, bos_id=2, eos_id=3)
    ngram_examples([[4, 5, 6], [4]], context_size=3, bos_id=2, eos_id=3)  # equal to the longest is fine
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ngram_examples([[4, 5]], context_size=bad, bos_id=2, eos_id=3)
    with pytest.raises(ValueError, match="at least one sentence"):
        ngram_examples([], context_size=2, bos_id=2, eos_id=3)


# ---------------------------------------------------------------- batching


def test_minibatches_cover_everything_once():
    batches = list(minibatches(10, 4))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b) for b in minibatches(10, 4, drop_last=True)] == [4, 4]
    shuffled = list(minibatches(10, 3, shuffle=True, rng=np.random.default_rng(1)))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(10))
    assert np.concatenate(shuffled).tolist() != list(range(10))
    again = list(minibatches(10, 3, shuffle=True, rng=np.random.default_rng(1)))
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, again))
    with pytest.raises(ValueError, match="batch_size"):
        list(minibatches(10, 0))


def test_minibatches_default_rng_follows_manual_seed():
    import chainrule as cr
    cr.manual_seed(123)
    a = np.concatenate(list(minibatches(20, 7, shuffle=True)))
    cr.manual_seed(123)
    b = np.concatenate(list(minibatches(20, 7, shuffle=True)))
    np.testing.assert_array_equal(a, b)


def test_pad_batch():
    out = pad_batch([[1, 2, 3], [4], []])
    assert out.dtype == np.int64
    assert out.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]]
    assert pad_batch([[1, 2, 3], [4]], pad_id=9, length=2).tolist() == [[1, 2], [4, 9]]


# ------------------------------------------- scripts, invisible characters, units


def test_lowercasing_a_dotted_capital_i_keeps_the_word_whole():
    # "İ".lower() is "i" + a combining dot: the pattern must be chosen after lower-casing.
    assert tokenize("İstanbul büyük", lower=True) == ["i̇stanbul", "büyük"]
    assert tokenize("İstanbul", lower=True) == [t.lower() for t in tokenize("İstanbul")]


@pytest.mark.parametrize("text, expected", [
    ("می\u200cخواهم", ["می\u200cخواهم"]),               # ZWNJ is part of Persian spelling
    ("co\u00adoperate now", ["cooperate", "now"]),     # a soft hyphen is invisible
    ("\ufeffhello \u200eworld\u200f", ["hello", "world"]),  # BOM and direction marks are dropped
    ("กิน\u200bข้าว", ["กิน", "ข้าว"]),                  # a zero-width space separates words
    ("👍🏽 ok", ["👍🏽", "ok"]),                          # a skin tone stays with its emoji
    ("👨\u200d👩\u200d👧 family", ["👨\u200d👩\u200d👧", "family"]),  # a ZWJ sequence is one emoji
])
def test_joiners_modifiers_and_invisible_characters(text, expected):
    assert tokenize(text) == expected


def test_a_joiner_at_the_edge_of_a_word_is_dropped():
    # "word\u200c" used to be a vocabulary entry of its own, beside "word".
    assert tokenize("word\u200c and hi\u200d! \u200cabc") == ["word", "and", "hi", "!", "abc"]
    assert tokenize("ന്\u200d x") == ["ന്\u200d", "x"]  # after a virama (older Malayalam chillu) it stays


def test_a_unit_written_onto_a_number_stays_with_it():
    assert tokenize("a 3.5mm jack and 1,000s of fans, 3.14 and 1,000.") == [
        "a", "3.5mm", "jack", "and", "1,000s", "of", "fans", ",", "3.14", "and", "1,000", "."]


def test_no_and_the_pronoun_i_end_sentences():
    assert split_sentences("Will you come? No. I will not.") == ["Will you come?", "No.", "I will not."]
    assert split_sentences("So am I. Are they here?") == ["So am I.", "Are they here?"]
    # ... while a number after "No." and a real initial still do not end one.
    assert split_sentences("See No. 5 by J. Smith. Then go.") == ["See No. 5 by J. Smith.", "Then go."]


def test_sentences_in_scripts_without_case_and_their_own_full_stops():
    assert split_sentences("مرحبا. كيف حالك؟ أنا بخير.") == ["مرحبا.", "كيف حالك؟", "أنا بخير."]
    assert split_sentences("यह अच्छा है। वह भी।") == ["यह अच्छा है।", "वह भी।"]
    assert split_sentences("今天很好。你呢？我很好！") == ["今天很好。", "你呢？", "我很好！"]
    assert split_sentences("Bien. ¿Qué? ¡Hola! Fin.") == ["Bien.", "¿Qué?", "¡Hola!", "Fin."]
