"""Word vectors: the three file formats, their errors, neighbours, and the named GloVe set."""
import numpy as np
import pytest

from chainrule.datasets import DataError, KeyedVectors, load_vectors, save_word2vec_binary, save_word2vec_text

WORDS = ["the", "café", "naïve", "日本", "x"]


@pytest.fixture
def matrix():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((len(WORDS), 7)) * 10).astype(np.float32)


def test_word2vec_text_round_trip_is_exact(tmp_path, matrix):
    path = tmp_path / "vec.txt"
    save_word2vec_text(path, WORDS, matrix)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "5 7"
    kv = load_vectors(path)
    assert kv.words == WORDS and kv.matrix.dtype == np.float32
    np.testing.assert_array_equal(kv.matrix, matrix)
    assert [p.name for p in tmp_path.iterdir()] == ["vec.txt"]  # written atomically, nothing left over


def test_word2vec_text_with_a_space_at_the_end_of_each_row(tmp_path, matrix):
    # The original word2vec tool and fastText's .vec files write "word v1 ... vD \n".
    path = tmp_path / "vec.vec"
    rows = [f"{w} " + " ".join(repr(float(x)) for x in row) + " " for w, row in zip(WORDS, matrix)]
    path.write_text(f"{len(WORDS)} {matrix.shape[1]}\n" + "\n".join(rows) + "\n", encoding="utf-8")
    kv = load_vectors(path)
    assert kv.words == WORDS
    np.testing.assert_array_equal(kv.matrix, matrix)


def test_word2vec_binary_round_trip(tmp_path, matrix):
    path = tmp_path / "vec.bin"
    save_word2vec_binary(path, WORDS, matrix)
    kv = load_vectors(path)
    assert kv.words == WORDS
    np.testing.assert_array_equal(kv.matrix, matrix)
    assert load_vectors(path, limit=2).words == WORDS[:2]
    # The original C tool writes no newline after each vector: read that too.
    raw = b"2 3\n" + b"a " + np.array([1, 2, 3], "<f4").tobytes() + b"b " + np.array([4, 5, 6], "<f4").tobytes()
    path.write_bytes(raw)
    kv = load_vectors(path, binary=True)
    assert kv.words == ["a", "b"] and kv.matrix.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_glove_text_without_header(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\n, -1 0 1.5e-3\nnew york 1 2 3\n", encoding="utf-8")
    kv = load_vectors(path)
    assert kv.words == ["the", ",", "new york"]  # a word may contain spaces: the numbers are the last fields
    np.testing.assert_allclose(kv.matrix, [[0.1, 0.2, 0.3], [-1, 0, 1.5e-3], [1, 2, 3]])
    assert kv.dim == 3 and len(kv) == 3 and "the" in kv
    assert load_vectors(path, limit=1).words == ["the"]


def test_inconsistent_width_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a 1 2 3\nb 4 5 6\nc 7 8\n")
    with pytest.raises(DataError, match=r"bad.txt:3: expected 3 numbers after the word \(from the first line\), "
                                        r"found 2"):
        load_vectors(path)
    path.write_text("2 3\na 1 2 3\nb 4 5 6 7\n")
    with pytest.raises(DataError, match=r"bad.txt:3: expected 3 numbers .*\(from the header\), found 4"):
        load_vectors(path)
    path.write_text("2 3\na 1 2 3\nb 4 five 6\n")
    with pytest.raises(DataError, match=r"bad.txt:3: expected 3 numbers after the word 'b'"):
        load_vectors(path)
    path.write_text("3 3\na 1 2 3\nb 4 5 6\n")
    with pytest.raises(DataError, match="header promises 3 vectors, the file has 2"):
        load_vectors(path)


def test_truncated_binary_and_other_errors(tmp_path, matrix):
    path = tmp_path / "vec.bin"
    save_word2vec_binary(path, WORDS, matrix)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="header promises 5 vectors of 7 values, but the file ends in vector 5"):
        load_vectors(path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty vectors file"):
        load_vectors(path)
    with pytest.raises(DataError, match=r"no vectors file 'nowhere.txt'.*known: glove-6b-50d"):
        load_vectors("nowhere.txt")
    with pytest.raises(ValueError, match="white space"):
        save_word2vec_text(tmp_path / "x.txt", ["new york"], np.zeros((1, 2)))
    with pytest.raises(ValueError, match="does not match"):
        save_word2vec_text(tmp_path / "x.txt", ["a", "b"], np.zeros((3, 2)))


def test_nearest_and_similarity():
    words = ["king", "queen", "man", "apple", "zero"]
    m = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)
    kv = KeyedVectors(words, m)
    near = kv.nearest("king", k=3)
    assert [w for w, _ in near] == ["queen", "man", "apple"]
    assert near[0][1] == pytest.approx(0.9 / np.sqrt(0.82))
    assert near[1][1] == pytest.approx(np.sqrt(0.5))
    assert kv.similarity("king", "apple") == pytest.approx(0.0)
    assert [w for w, _ in kv.nearest(np.array([0, 0, 2.0]), k=1)] == ["apple"]
    assert len(kv.nearest("king", k=100)) == 4  # everything but the word itself
    np.testing.assert_array_equal(kv["queen"], m[1])
    with pytest.raises(KeyError, match="'prince' is not in these 5 vectors"):
        kv.nearest("prince")


def test_duplicate_words_keep_their_first_row():
    kv = KeyedVectors(["a", "b", "a"], np.array([[1.0], [2.0], [3.0]]))
    assert kv.index["a"] == 0 and kv["a"].tolist() == [1.0]
    # The later rows are dropped, as gensim does: a word is never its own neighbour.
    assert len(kv) == 2 and kv.words == ["a", "b"] and kv.duplicates == 1


def test_a_repeated_word_in_a_file_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "d.vec"
    path.write_text("4 2\nking 1 0\nqueen 0.9 0.1\nking 1 0.001\nman 0 1\n")
    with pytest.warns(UserWarning, match="d.vec: 1 repeated word"):
        kv = load_vectors(path)
    assert kv.words == ["king", "queen", "man"]
    assert [w for w, _ in kv.nearest("king", k=2)] == ["queen", "man"]


def test_text_rows_that_disagree_with_the_header_are_not_read_as_binary(tmp_path):
    # Before, these went to the binary reader and came back as garbage words and tiny floats.
    cases = {"a.vec": ("3 3\nking 0.12345 0.67890\nqueen 0.22345 0.77890\n", "a.vec:2: expected 3 numbers"),
             "b.vec": ("2 2\n\na 0.1234567 0.7654321 0.5\n", "b.vec:3: expected 2 numbers"),
             "c.vec": ("0 50\n", "no vectors")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=message):
            load_vectors(tmp_path / name)
    # A first word holding a space ("new york") is still text.
    (tmp_path / "sp.txt").write_text("2 3\nnew york 0.1 0.2 0.3\nking 1 2 3\n")
    assert load_vectors(tmp_path / "sp.txt").words == ["new york", "king"]
    # A blank line after the header is skipped as in any text file.
    (tmp_path / "d.vec").write_text("2 2\n\na 0.1234567 0.7654321\nb 0.1111111 0.2222222\n")
    assert load_vectors(tmp_path / "d.vec").words == ["a", "b"]


def test_a_binary_word_with_a_line_break_is_refused(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"2 1\nab\ncd " + np.float32(1).tobytes() + b"\nef " + np.float32(2).tobytes())
    with pytest.raises(DataError, match="holds white space, so this is not binary word2vec"):
        load_vectors(path, binary=True)


def test_values_that_are_not_finite_are_refused_with_file_and_line(tmp_path, matrix):
    (tmp_path / "n.vec").write_text("3 2\nb 3 4\nzzz nan 2\nc 5 6\n")
    with pytest.raises(DataError, match="n.vec:3: the vector of 'zzz' holds a value that is not finite"):
        load_vectors(tmp_path / "n.vec")
    # The writer refuses infinities, so put one into a written file by hand.
    save_word2vec_binary(tmp_path / "n.bin", WORDS, matrix)
    row = matrix[1].astype("<f4").tobytes()
    data = (tmp_path / "n.bin").read_bytes().replace(row, np.array([np.inf], "<f4").tobytes() + row[4:])
    (tmp_path / "n.bin").write_bytes(data)
    with pytest.raises(DataError, match="vector 2 .* not finite"):
        load_vectors(tmp_path / "n.bin")


def test_byte_order_marks_and_utf8_errors_name_the_line(tmp_path):
    (tmp_path / "g.txt").write_text("the 1 2\nof 3 4\n", encoding="utf-8-sig")
    assert load_vectors(tmp_path / "g.txt").words == ["the", "of"]
    (tmp_path / "w.vec").write_text("2 2\nthe 1 2\nof 3 4\n", encoding="utf-8-sig")
    assert load_vectors(tmp_path / "w.vec").words == ["the", "of"]
    lines = [f"w{i} 1 2" for i in range(300)]
    (tmp_path / "u.txt").write_bytes(("\n".join(lines[:150]) + "\nbad\xff 1 2\n").encode("latin-1"))
    with pytest.raises(DataError, match="u.txt:151: invalid UTF-8"):
        load_vectors(tmp_path / "u.txt")


def test_limit_is_checked_for_named_sets_too():
    for limit in (0, -5):
        with pytest.raises(ValueError, match="limit must be positive"):
            load_vectors("glove-6b-50d", limit=limit)


@pytest.mark.slow
def test_glove_6b_50d():
    pytest.importorskip("pyarrow")
    kv = load_vectors("glove-6b-50d")
    assert kv.matrix.shape == (400000, 50) and kv.matrix.dtype == np.float32
    assert kv.words[:4] == ["the", ",", ".", "of"]
    # The first numbers of GloVe's "the" row, as in glove.6B.50d.txt.
    np.testing.assert_allclose(kv["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    assert "frog" in {w for w, _ in kv.nearest("toad", k=10)}
    assert len(load_vectors("glove-6b-50d", limit=1000)) == 1000
