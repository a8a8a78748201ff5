"""Generation: seeded sampling, temperature, top-k, greedy decoding, prompts, and the tokens never produced."""
import numpy as np
import pytest
from test_lm_train import SUBJECTS, VERBS, tiny_config, write_corpus

from chainrule.lm.generate import generate, generate_ids, join_tokens
from chainrule.lm.run import load_run
from chainrule.lm.trainer import train_lm

PAD, UNK, BOS, EOS = 0, 1, 2, 3
PROBS = np.array([0.05, 0.05, 0.05, 0.05, 0.4, 0.25, 0.15])  # ids 4, 5, 6 are words


def fixed_model(probs=PROBS):
    """A 'model' giving the same next-word distribution after any context."""
    logp = np.log(probs)
    return lambda contexts: np.tile(logp, (len(contexts), 1))


def test_seeded_sampling_is_reproducible_and_never_emits_specials():
    kwargs = {"context_size": 2, "bos_id": BOS, "eos_id": EOS, "n": 50, "max_len": 20, "banned_ids": [PAD, BOS, UNK]}
    a = generate_ids(fixed_model(), seed=1, **kwargs)
    b = generate_ids(fixed_model(), seed=1, **kwargs)
    c = generate_ids(fixed_model(), seed=2, **kwargs)
    assert a == b and a != c
    emitted = {w for row in a for w in row}
    assert emitted <= {4, 5, 6}
    assert all(len(row) <= 20 for row in a)
    # </s> has p = 0.05 / 0.85 per step once specials are banned: most of 50 sentences end before 20 words.
    assert sum(len(row) < 20 for row in a) > 25


def test_sampling_follows_the_distribution_with_temperature_and_top_k():
    kwargs = {"context_size": 1, "bos_id": BOS, "eos_id": EOS, "n": 6000, "max_len": 1,
              "banned_ids": [PAD, BOS, UNK, EOS]}
    first = lambda rows: np.array([r[0] for r in rows])
    words = first(generate_ids(fixed_model(), seed=0, **kwargs))
    p = PROBS[4:] / PROBS[4:].sum()
    freq = np.bincount(words, minlength=7)[4:] / len(words)
    np.testing.assert_allclose(freq, p, atol=0.03)
    # Temperature 0.5 squares the probabilities (then renormalises).
    words = first(generate_ids(fixed_model(), seed=0, temperature=0.5, **kwargs))
    q = p ** 2 / (p ** 2).sum()
    np.testing.assert_allclose(np.bincount(words, minlength=7)[4:] / len(words), q, atol=0.03)
    # top_k=2 keeps the two most likely words only, in their relative proportions.
    words = first(generate_ids(fixed_model(), seed=0, top_k=2, **kwargs))
    counts = np.bincount(words, minlength=7)
    assert counts[6] == 0
    assert counts[4] / (counts[4] + counts[5]) == pytest.approx(0.4 / 0.65, abs=0.03)


def test_greedy_and_top_k_one_take_the_most_likely_word():
    kwargs = {"context_size": 2, "bos_id": BOS, "eos_id": EOS, "n": 3, "max_len": 5, "banned_ids": [PAD, BOS]}
    assert generate_ids(fixed_model(), greedy=True, **kwargs) == [[4] * 5] * 3
    assert generate_ids(fixed_model(), top_k=1, seed=3, **kwargs) == [[4] * 5] * 3


def test_the_prompt_is_the_context_and_eos_stops():
    # The next word is the last context word + 1, and </s> after word 8.
    def counting(contexts):
        last = contexts[:, -1]
        nxt = np.where(last == BOS, 4, np.where(last >= 8, EOS, last + 1))
        out = np.full((len(contexts), 10), -50.0)
        out[np.arange(len(contexts)), nxt] = 0.0
        return out

    kwargs = {"context_size": 3, "bos_id": BOS, "eos_id": EOS, "max_len": 50, "greedy": True}
    assert generate_ids(counting, **kwargs) == [[4, 5, 6, 7, 8]]
    assert generate_ids(counting, prompt_ids=[6], **kwargs) == [[7, 8]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        generate_ids(fixed_model(), 2, BOS, EOS, temperature=0)
    with pytest.raises(ValueError, match="positive and finite"):  # inf would turn the banned -inf into NaN
        generate_ids(fixed_model(), 2, BOS, EOS, temperature=float("inf"))
    with pytest.raises(ValueError, match="top_k"):
        generate_ids(fixed_model(), 2, BOS, EOS, top_k=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    corpus = write_corpus(root / "corpus", n_train=300)
    train_lm(tiny_config(corpus, epochs=3, dropout=0.0), root / "run", verbose=False)
    return load_run(root / "run")


def test_a_trained_model_generates_its_grammar(trained):
    model, vocab = trained.model, trained.vocab
    sentences = generate(model, vocab, n=20, seed=0, temperature=0.5, allow_unk=False)
    assert len(sentences) == 20
    for tokens in sentences:
        assert not {"<pad>", "<s>", "<unk>"} & set(tokens)
    # Sharpened sampling from a model of this grammar mostly starts like the grammar's sentences.
    starts = [" ".join(t[:2]) for t in sentences]
    assert sum(s in SUBJECTS for s in starts) >= 15
    greedy = generate(model, vocab, greedy=True, prompt="the cat")
    assert greedy[0][:2] == ["the", "cat"] and greedy[0][2] in {v for v in VERBS}
    # An unknown prompt word is kept as written; the model saw <unk> in its place.
    out = generate(model, vocab, prompt="the zebra", seed=1)
    assert out[0][:2] == ["the", "zebra"]


def test_join_tokens():
    assert join_tokens(["In", "the", "beginning", ",", "God", "(", "he", ")", "."]) == "In the beginning, God (he)."


def test_a_tiny_temperature_is_greedy_and_never_produces_a_banned_word():
    kwargs = {"context_size": 2, "bos_id": BOS, "eos_id": EOS, "n": 4, "max_len": 5, "banned_ids": [PAD, BOS]}
    for temperature in (1e-3, 1e-310, 5e-324):
        assert generate_ids(fixed_model(), temperature=temperature, seed=0, **kwargs) == [[4] * 5] * 4


def test_top_k_keeps_exactly_k_words_even_when_they_tie():
    # Words 4 and 5 tie for the most likely: top_k=1 keeps only the first, as greedy decoding does.
    tied = fixed_model(np.array([0.01, 0.01, 0.01, 0.01, 0.4, 0.4, 0.16]))
    kwargs = {"context_size": 1, "bos_id": BOS, "eos_id": EOS, "n": 200, "max_len": 3, "banned_ids": [PAD, BOS]}
    assert generate_ids(tied, top_k=1, seed=0, **kwargs) == generate_ids(tied, greedy=True, **kwargs)
    words = {w for row in generate_ids(tied, top_k=2, seed=0, **kwargs) for w in row}
    assert words == {4, 5}
