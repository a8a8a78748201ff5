"""Reading and writing files: defects found in a review of vectors, save/load, atomic writes, ARPA and CV runs."""
import io
import json
import math
import os
import stat
import sys
import zipfile

import numpy as np
import pytest

from chainrule.cnn.crossval import cross_validate
from chainrule.datasets import DataError, load_vectors, save_word2vec_binary, save_word2vec_text
from chainrule.datasets.labelled import LabelledData, LabelledSplit
from chainrule.models.ngram import ArpaFormatError, BackoffLM, KneserNeyLM, arpa
from chainrule.serialization import load, save
from chainrule.train.checkpoint import CheckpointError

ARPA = """
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-0.8\t</s>
-99\t<s>\t-0.3
-0.9\t<unk>
-0.5\ta\t-0.2
-0.6\tb\t-0.1

\\2-grams:
-0.4\t<s> a
-0.3\ta b
-0.2\tb </s>

\\end\\
"""


def write_arpa(tmp_path, text, name="m.arpa"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# ------------------------------------------------------------------------------------------------ vectors
def test_a_text_row_longer_than_the_first_read_is_still_text(tmp_path):
    # The first row runs past 64 KiB and the first 64 KiB end on the '-' of a number.
    values = " ".join(["-0.1234567"] * 8000)
    for pad in range(12):
        data = f"2 8000\nw{'x' * pad} {values}\nv {values}\n".encode()
        if data[65535:65536] == b"-":
            break
    path = tmp_path / "long.txt"
    path.write_bytes(data)
    kv = load_vectors(path)
    assert len(kv) == 2 and kv.dim == 8000 and kv.words[1] == "v"
    np.testing.assert_array_equal(kv.matrix, np.float32(-0.1234567))


def test_binary_vectors_must_end_after_the_promised_vectors(tmp_path):
    path = tmp_path / "b.bin"
    save_word2vec_binary(path, ["a", "b", "c"], np.arange(6, dtype=np.float32).reshape(3, 2))
    good = path.read_bytes()
    path.write_bytes(good + b"junk")
    with pytest.raises(DataError, match=r"b\.bin: the header promises 3 vectors of 2 values, but 4 more bytes"):
        load_vectors(path)
    path.write_bytes(good.replace(b"3 2\n", b"2 2\n", 1))  # a header that undercounts
    with pytest.raises(DataError, match=r"b\.bin: .* more bytes follow the last of them"):
        load_vectors(path)
    path.write_bytes(good[:-3])
    with pytest.raises(DataError, match="the file ends in vector 3"):
        load_vectors(path)
    path.write_bytes(good + b"\r\n\n")  # trailing line breaks are fine, and limit= may stop early
    assert load_vectors(path).words == ["a", "b", "c"]
    path.write_bytes(good + b"junk")
    assert load_vectors(path, limit=2).words == ["a", "b"]


@pytest.mark.parametrize("row", [b"the  0.1 0.2 0.3", b" the 0.1 0.2 0.3", b"the 0.1  0.2 0.3", b" 0.1 0.2 0.3",
                                 b"the 0.1 0.2  0.3", b"new  york 0.1 0.2 0.3"])
def test_text_fields_must_be_separated_by_single_spaces(tmp_path, row):
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 3\nof 0.4 0.5 0.6\n" + row + b"\n")
    with pytest.raises(DataError, match=r"v\.txt:3: two spaces in a row or a space at the start of the line"):
        load_vectors(path)
    path.write_bytes(row + b"\nof 0.4 0.5 0.6\n")  # GloVe, no header
    with pytest.raises(DataError, match=r"v\.txt:1: two spaces"):
        load_vectors(path)


def test_words_with_single_spaces_still_load(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 3\nnew york 0.1 0.2 0.3\nof 0.4 0.5 0.6  \n")
    assert load_vectors(path).words == ["new york", "of"]


def test_a_tab_separated_row_says_it_has_tabs(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"2 3\nthe\t0.1\t0.2\t0.3\nof\t0.4\t0.5\t0.6\n")
    with pytest.raises(DataError, match=r"t\.txt:2: expected 3 numbers .*found 0 \(the line holds tabs"):
        load_vectors(path)
    path.write_bytes(b"the\t0.1\t0.2\t0.3\n")
    with pytest.raises(DataError, match=r"t\.txt:1: .*the line holds tabs"):
        load_vectors(path)


@pytest.mark.parametrize("data", [b"100000000000 300\n", b"1000000 1000000\nab"])
def test_a_binary_header_promising_more_than_the_file_holds_is_a_clear_error(tmp_path, data):
    path = tmp_path / "h.bin"
    path.write_bytes(data)
    with pytest.raises(DataError, match=r"h\.bin: the header promises .* but the file has \d+"):
        load_vectors(path, binary=True)


def test_vector_writers_refuse_what_the_readers_refuse(tmp_path):
    words = ["a", "b", "c"]
    bad = np.ones((3, 2))
    bad[1, 1] = np.nan
    for saver in (save_word2vec_text, save_word2vec_binary):
        with pytest.raises(ValueError, match=r"the vector of 'b' \(row 1\) holds a value that is not finite"):
            saver(tmp_path / "v", words, bad)
        with pytest.raises(ValueError, match=r"'c' \(row 2\) .*not finite as float32"):
            saver(tmp_path / "v", words, np.array([[1, 2], [3, 4], [1e39, 0]]))  # inf once float32
        with pytest.raises(ValueError, match="at least one vector of at least one value"):
            saver(tmp_path / "v", [], np.zeros((0, 3)))
        with pytest.raises(ValueError, match="at least one vector of at least one value"):
            saver(tmp_path / "v", words, np.zeros((3, 0)))
    for word in ("a\x00b", "del\x7f", "tab\tbed", "nbsp\xa0"):
        with pytest.raises(ValueError, match="cannot be written in word2vec format"):
            save_word2vec_binary(tmp_path / "v", [word], np.ones((1, 2)))
    assert not os.path.exists(tmp_path / "v")


# ------------------------------------------------------------------------------------------------ save / load
def test_load_refuses_a_zip_bomb(tmp_path):
    header = json.dumps({"format": "chainrule", "version": 1, "root": {"array": "a0"}}).encode()
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in (("__chainrule__", np.frombuffer(header, np.uint8)), ("a0", np.zeros(32 << 20, np.uint8))):
            buf = io.BytesIO()
            np.save(buf, arr)
            z.writestr(name + ".npy", buf.getvalue())
    with pytest.raises(ValueError, match=r"load: .*bomb\.npz has an entry 'a0\.npy' that claims to inflate"):
        load(path)
    # A save compressed afterwards, at a modest ratio, still loads.
    save({"w": np.arange(1000.0)}, tmp_path / "s.npz")
    with zipfile.ZipFile(tmp_path / "s.npz") as src, \
            zipfile.ZipFile(tmp_path / "c.npz", "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    np.testing.assert_array_equal(load(tmp_path / "c.npz")["w"], np.arange(1000.0))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits and symlinks")
def test_atomic_write_keeps_permissions_and_symlinks(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.ones(3)}, path)
    os.chmod(path, 0o600)
    save({"w": np.zeros(3)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o640)
    save({"w": np.zeros(3)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    (tmp_path / "sub").mkdir()
    link = tmp_path / "sub" / "link.npz"
    os.symlink(path, link)
    save({"w": np.full(3, 5.0)}, link)
    assert os.path.islink(link)
    np.testing.assert_array_equal(load(path)["w"], 5.0)
    assert sorted(os.listdir(tmp_path / "sub")) == ["link.npz"]


def test_a_failed_replace_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(OSError) as info:
        save({"w": np.ones(2)}, target)
    assert isinstance(info.value, IsADirectoryError) or sys.platform == "win32"
    assert info.value.filename == str(target) and str(target) in str(info.value)
    assert ".tmp" not in str(info.value) and "->" not in str(info.value)
    assert os.listdir(tmp_path) == ["adir"]


# ------------------------------------------------------------------------------------------------ ARPA
def test_arpa_refuses_a_positive_log_probability(tmp_path):
    path = write_arpa(tmp_path, ARPA.replace("-0.3\ta b", "0.5\ta b"))
    with pytest.raises(ArpaFormatError, match=r"m\.arpa:15: positive log10 probability 0\.5"):
        BackoffLM.from_arpa(path)
    # A probability of 1 (log10 0) and positive backoff weights are fine.
    BackoffLM.from_arpa(write_arpa(tmp_path, ARPA.replace("-0.3\ta b", "0\ta b").replace("-0.2\n", "0.2\n")))


def test_arpa_refuses_text_after_the_end(tmp_path):
    with pytest.raises(ArpaFormatError, match=r"m\.arpa:20: unexpected text after \\end\\: 'junk'"):
        BackoffLM.from_arpa(write_arpa(tmp_path, ARPA + "\njunk\n"))
    BackoffLM.from_arpa(write_arpa(tmp_path, ARPA + "\n \n\n"))


def test_arpa_accepts_a_byte_order_mark_right_before_data(tmp_path):
    model = BackoffLM.from_arpa(write_arpa(tmp_path, "\ufeff" + ARPA.lstrip("\n")))
    assert model.ngram_counts() == [5, 3]


def test_arpa_utf8_errors_count_bytes_from_the_start_of_the_line(tmp_path):
    text = ARPA.replace("-0.6\tb", "-0.6\tb\xe9").replace("a b\n", "a b\xe9\n").replace("b </s>", "b\xe9 </s>")
    path = write_arpa(tmp_path, text.encode("latin-1"))
    with pytest.raises(ArpaFormatError, match=r"m\.arpa:11: not UTF-8 text \(.* at byte 6 of the line\)"):
        BackoffLM.from_arpa(path)


@pytest.mark.parametrize("blank", ["\n", ""])
def test_arpa_an_indented_section_header_is_called_indented(tmp_path, blank):
    text = ARPA.replace("-0.1\n\n\\2-grams:", f"-0.1\n{blank}  \\2-grams:")
    with pytest.raises(ArpaFormatError, match=r"the section header \\2-grams: is indented"):
        BackoffLM.from_arpa(write_arpa(tmp_path, text))
    with pytest.raises(ArpaFormatError, match=r"m\.arpa:18: the section header \\end\\ is indented"):
        BackoffLM.from_arpa(write_arpa(tmp_path, ARPA.replace("\n\\end\\", "\n  \\end\\")))


@pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # a tiny corpus
def test_arpa_round_trip_is_close_and_documented_as_not_exact(tmp_path):
    g = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    sents = [list(g.choice(words, size=g.integers(2, 9))) for _ in range(300)]
    lm = KneserNeyLM(3).fit(sents)
    lm.to_arpa(tmp_path / "k.arpa")
    back = BackoffLM.from_arpa(tmp_path / "k.arpa")
    a, b = lm.token_logprobs(sents[:50]), back.token_logprobs(sents[:50])
    np.testing.assert_allclose(b, a, rtol=1e-15, atol=0)
    assert "scores exactly" not in arpa.__doc__ and "1e-15" in arpa.__doc__
    assert math.isfinite(float(np.sum(a)))


# ------------------------------------------------------------------------------------------------ CV runs
def toy_data(n=40):
    g = np.random.default_rng(0)
    texts = [" ".join(g.choice(["the", "film", "was"], size=4)) + (" good" if i % 2 else " bad") for i in range(n)]
    labels = ["pos" if i % 2 else "neg" for i in range(n)]
    return LabelledData("toy", LabelledSplit(texts, labels))


def tiny_config():
    from chainrule.cnn import CNNConfig
    return CNNConfig(maps=2, embed_dim=4, filters=(2,), epochs=1, optimizer="adam", lr=0.02)


def test_a_damaged_fold_result_names_the_file_on_resume(tmp_path):
    data = toy_data()
    quiet = {"show_progress": False, "log": lambda s: None}
    cross_validate(data, tiny_config(), k=2, run_dir=tmp_path, **quiet)
    damaged = tmp_path / "fold-02" / "result.json"
    damaged.write_text('{"accuracy": 0.5, ')
    with pytest.raises(CheckpointError, match=r"fold-02.result\.json is damaged .*delete it to train that fold"):
        cross_validate(data, tiny_config(), k=2, run_dir=tmp_path, resume=True, **quiet)
    damaged.unlink()
    again = cross_validate(data, tiny_config(), k=2, run_dir=tmp_path, resume=True, **quiet)
    assert len(again.folds) == 2


def test_a_fold_keeps_its_checkpoints_until_its_result_is_written(tmp_path, monkeypatch):
    from chainrule.train import atomic
    real = atomic.atomic_write_json

    class Killed(BaseException):
        pass

    def killed_at_result(path, obj, **kw):
        if os.path.basename(path) == "result.json":
            raise Killed
        real(path, obj, **kw)

    monkeypatch.setattr(atomic, "atomic_write_json", killed_at_result)
    with pytest.raises(Killed):
        cross_validate(toy_data(), tiny_config(), k=2, run_dir=tmp_path, show_progress=False, log=lambda s: None)
    assert (tmp_path / "fold-01" / "last.ckpt.npz").is_file()
