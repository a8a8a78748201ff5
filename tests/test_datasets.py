"""Corpora: user files and folders with their errors, the download cache, and the named corpora."""
import io
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from chainrule.datasets import (
    DataError,
    FetchError,
    cache_dir,
    extract_member,
    fetch,
    kjv,
    load_corpus,
    pip_download,
    rlazyload,
)
from chainrule.datasets import corpus as corpus_mod
from chainrule.text import tokenize


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A fresh, empty chainrule cache for the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "chainrule"


def numbered(n, start=0):
    return " ".join(f"Sentence number {i}." for i in range(start, start + n))


# ---------------------------------------------------------------- user files


def test_single_file_is_split_80_10_10_in_order(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(numbered(20) + "\n", encoding="utf-8")
    c = load_corpus(path)
    assert c.name == "story"
    assert c.train == [f"Sentence number {i}." for i in range(16)]
    assert c.valid == ["Sentence number 16.", "Sentence number 17."]
    assert c.test == ["Sentence number 18.", "Sentence number 19."]
    assert c.info["sentences"] == {"train": 16, "valid": 2, "test": 2}
    assert c.info["words"]["train"] == 48 and "80%" in c.info["split"]
    assert c.tokenized("valid", lower=True)[0] == ["sentence", "number", "16", "."]
    assert load_corpus(str(path)).train == c.train  # a str path works too


def test_layouts_paragraphs_and_lines(tmp_path):
    prose = tmp_path / "prose.txt"
    # Blank lines: lines of a paragraph are joined before splitting.
    prose.write_text("The cat\nsat on the mat. It\npurred.\n\nA new\nparagraph here\n\nEnd one. End two.\n")
    c = load_corpus(prose)
    assert c.train + c.valid + c.test == ["The cat sat on the mat.", "It purred.", "A new paragraph here",
                                          "End one.", "End two."]
    ptb = tmp_path / "ptb.txt"
    # No blank line at all: one sentence per line, even without final punctuation.
    ptb.write_text("the cat sat\nthe dog ran\na <unk> barked\nno end mark here\n")
    c = load_corpus(ptb)
    assert c.train + c.valid + c.test == ["the cat sat", "the dog ran", "a <unk> barked", "no end mark here"]
    # Forced to paragraphs, the unpunctuated lines run together into one sentence.
    with pytest.raises(DataError, match="only 1 sentence"):
        load_corpus(ptb, layout="paragraphs")
    # Blank lines before the first or after the last line of text separate nothing: still lines.
    padded = tmp_path / "padded.txt"
    padded.write_text("\n\nthe cat sat\nthe dog ran\na <unk> barked\nno end mark here\n\n\n")
    c = load_corpus(padded)
    assert c.train + c.valid + c.test == ["the cat sat", "the dog ran", "a <unk> barked", "no end mark here"]


def test_a_few_stray_blank_lines_do_not_glue_one_sentence_per_line_into_paragraphs(tmp_path):
    # Sentences of varying length, as in the Penn Treebank's files.
    lines = [" ".join(["the company said it would buy shares"] + ["more"] * (i * 7 % 23)) for i in range(1000)]
    for k in (250, 500, 750):
        lines[k] = ""
    path = tmp_path / "ptb.txt"
    path.write_text("\n".join(lines) + "\n")
    c = load_corpus(path)
    assert len(c.train) + len(c.valid) + len(c.test) == 997
    assert (len(c.train), len(c.valid), len(c.test)) == (799, 99, 99)
    # Split files follow the training file's layout: a test file with blank lines is read as lines too.
    folder = tmp_path / "splits"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(lines[:200]) + "\n")
    (folder / "valid.txt").write_text("one line\nanother line\n")
    (folder / "test.txt").write_text("first line\n\nsecond line\nthird line\n")
    assert load_corpus(folder).test == ["first line", "second line", "third line"]


def test_prose_wrapped_into_lines_is_read_as_paragraphs_even_without_blank_lines(tmp_path):
    import textwrap
    sentences = [f"Sentence number {i} runs on for quite a few words before it finally ends here." for i in range(300)]
    paragraphs = [textwrap.wrap(" ".join(sentences[i:i + 6]), 70) for i in range(0, 300, 6)]
    for lines in paragraphs:
        lines[0] = "    " + lines[0]  # paragraphs marked by indentation, not by blank lines
    path = tmp_path / "book.txt"
    path.write_text("CHAPTER 1\n\n" + "\n".join(line for p in paragraphs for line in p) + "\n")
    c = load_corpus(path)
    assert len(c.train) + len(c.valid) + len(c.test) == 301  # the heading and the 300 sentences, whole


def test_crlf_and_byte_order_mark(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst one.\r\nSecond one.\r\nThird one.\r\n")
    c = load_corpus(path)
    assert c.train + c.valid + c.test == ["First one.", "Second one.", "Third one."]


def test_folder_with_split_files(tmp_path):
    for split, n in (("train", 5), ("valid", 2), ("test", 3)):
        (tmp_path / f"{split}.txt").write_text(numbered(n) + "\n")
    c = load_corpus(tmp_path)
    assert (len(c.train), len(c.valid), len(c.test)) == (5, 2, 3)
    assert "given by the files" in c.info["split"]


def test_folder_with_ptb_style_names(tmp_path):
    (tmp_path / "ptb.train.txt").write_text("a b c\nd e f\n")
    (tmp_path / "ptb.valid.txt").write_text("g h\n")
    (tmp_path / "ptb.test.txt").write_text("i j\n")
    (tmp_path / "README").write_text("not a split\n")
    c = load_corpus(tmp_path)
    assert c.train == ["a b c", "d e f"] and c.valid == ["g h"] and c.test == ["i j"]


def test_folder_missing_a_split_file(tmp_path):
    (tmp_path / "train.txt").write_text("a b c\n")
    (tmp_path / "test.txt").write_text("d e\n")
    with pytest.raises(DataError, match="no file for the valid split"):
        load_corpus(tmp_path)


def test_folder_of_text_files_is_concatenated_then_split(tmp_path):
    (tmp_path / "b.txt").write_text(numbered(10, start=10))
    (tmp_path / "a.txt").write_text(numbered(10))
    c = load_corpus(tmp_path)
    assert c.train[0] == "Sentence number 0." and c.test[-1] == "Sentence number 19."
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(DataError, match="no .txt files"):
        load_corpus(empty)


# ---------------------------------------------------------------- bad input


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.txt: empty corpus"):
        load_corpus(path)
    path.write_text("  \n\n\t\n")
    with pytest.raises(DataError, match="empty corpus"):
        load_corpus(path)


def test_binary_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"line one\nline two\nab\x00\x01\x02")
    with pytest.raises(DataError, match=r"model.bin: binary file, not text \(NUL byte at offset 20, line 3\)"):
        load_corpus(path)


def test_invalid_utf8_reports_byte_line_and_column(tmp_path):
    path = tmp_path / "latin1.txt"
    data = b"First line.\nSecond line.\nCaf" + b"\xe9 au lait. More text. And more.\n"
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(DataError, match=rf"latin1.txt: invalid UTF-8 at byte offset {offset} \(line 3, column 4"
                                        r".*errors='replace'"):
        load_corpus(path)
    c = load_corpus(path, errors="replace")
    assert "Caf\ufffd au lait." in c.train + c.valid + c.test


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match=r"unknown corpus 'shakespeare'.*known: austen, kjv"):
        load_corpus("shakespeare")


def test_too_small_and_bad_options(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("Just one. And two.")
    with pytest.raises(DataError, match="only 2 sentence"):
        load_corpus(path)
    path.write_text(numbered(5))
    with pytest.raises(ValueError, match="errors must be"):
        load_corpus(path, errors="ignore")
    with pytest.raises(ValueError, match="layout must be"):
        load_corpus(path, layout="words")


# ---------------------------------------------------------------- fetching and caching


def test_cache_dir_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "chainrule"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "chainrule"


def test_extract_member_from_zip_and_tar(tmp_path, tmp_cache):
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("pkg/data/words.txt", "hello\n")
    out = extract_member(whl, "pkg/data/words.txt")
    assert out.read_text() == "hello\n" and str(out).startswith(str(tmp_cache))
    assert extract_member(whl, "pkg/data/words.txt") == out  # second time: from the cache
    out.write_text("hel")  # cut short (a partial copy of the cache): unpacked again
    assert extract_member(whl, "pkg/data/words.txt").read_text() == "hello\n"
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        data = b"from a tarball\n"
        info = tarfile.TarInfo("pkg-1.0/data.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    assert extract_member(sdist, "pkg-1.0/data.txt").read_bytes() == b"from a tarball\n"
    with pytest.raises(FetchError, match="has no file pkg/missing"):
        extract_member(whl, "pkg/missing")
    with pytest.raises(FetchError, match="unknown archive type"):
        extract_member(tmp_path / "thing.rar", "x")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_extract_member_from_deb(tmp_path, tmp_cache):
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: chainrule-test\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: nobody <n@example.org>\nDescription: test\n")
    (root / "usr" / "share" / "x").mkdir(parents=True)
    (root / "usr" / "share" / "x" / "data.txt").write_text("inside a deb\n")
    deb = tmp_path / "chainrule-test_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    assert extract_member(deb, "./usr/share/x/data.txt").read_text() == "inside a deb\n"
    with pytest.raises(FetchError, match="has no file usr/share/nothing"):
        extract_member(deb, "usr/share/nothing")


def fake_pip(payload, calls):
    """A stand-in for subprocess.run that 'downloads' payload as pip would."""
    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = cmd[cmd.index("-d") + 1]
        os.makedirs(dest, exist_ok=True)
        with open(f"{dest}/fake-1.0-py3-none-any.whl", "wb") as f:
            f.write(payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


PAYLOAD = b"pretend wheel"


def fetched_once(monkeypatch):
    """A fake wheel "downloaded" into the cache: (its cached path, its hash, the pip calls made)."""
    import hashlib
    good = hashlib.sha256(PAYLOAD).hexdigest()
    calls = []
    monkeypatch.setattr(fetch.subprocess, "run", fake_pip(PAYLOAD, calls))
    return pip_download("fake==1.0", sha256=good), good, calls


def test_pip_download_verifies_and_caches(tmp_cache, monkeypatch):
    path, good, calls = fetched_once(monkeypatch)
    payload = PAYLOAD
    assert path.read_bytes() == payload and path.parent.parent == tmp_cache / "downloads"
    # With a pin, pip itself checks the hash (before an sdist's build code can run).
    requirement = Path(calls[0][calls[0].index("-r") + 1])
    assert "--no-deps" in calls[0] and requirement.name == "requirement.txt"
    assert pip_download("fake==1.0", sha256=good) == path and len(calls) == 1  # offline once cached
    pip_download("fake==1.0", no_binary=True, sha256=None)
    assert "--no-binary" in calls[-1] and calls[-1][-1] == "fake==1.0"
    # A cached copy cut short is noticed and fetched again.
    path.write_bytes(payload[:5])
    with pytest.warns(UserWarning, match="damaged"):
        again = pip_download("fake==1.0", sha256=good)
    assert again.read_bytes() == payload and len(calls) == 3


def test_a_stray_file_in_the_cache_is_left_alone_and_the_good_download_found(tmp_cache, monkeypatch):
    path, good, _ = fetched_once(monkeypatch)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by all, as a shared cache needs
    stray = path.parent / "README"  # sorts before the wheel's name
    stray.write_text("notes")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    assert pip_download("fake==1.0", sha256=good) == path
    assert stray.read_text() == "notes"


def test_pip_asks_for_the_pinned_hash(tmp_cache, monkeypatch):
    seen = []

    def run(cmd, **kwargs):
        seen.append(Path(cmd[cmd.index("-r") + 1]).read_text())
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES ...\n")
    monkeypatch.setattr(fetch.subprocess, "run", run)
    monkeypatch.delenv(fetch.ALLOW_UNPINNED_ENV, raising=False)
    with pytest.raises(FetchError, match="pip refused it before unpacking"):
        pip_download("fake==1.0", no_binary=True, sha256="3" * 64)
    assert seen == [f"fake==1.0 --hash=sha256:{'3' * 64}\n"]


def test_pip_download_refuses_a_different_file(tmp_cache, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "run", fake_pip(b"tampered", []))
    monkeypatch.delenv(fetch.ALLOW_UNPINNED_ENV, raising=False)
    with pytest.raises(FetchError, match=f"pins {'0' * 64}.*{fetch.ALLOW_UNPINNED_ENV}=1"):
        pip_download("fake==1.0", sha256="0" * 64)
    assert not (tmp_cache / "downloads").exists() or not any((tmp_cache / "downloads").rglob("*.whl"))
    monkeypatch.setenv(fetch.ALLOW_UNPINNED_ENV, "1")
    with pytest.warns(UserWarning, match="differs|pins"):
        assert pip_download("fake==1.0", sha256="0" * 64).read_bytes() == b"tampered"
    # The file the user allowed is found again next time, without the network.
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    assert pip_download("fake==1.0", sha256="0" * 64).read_bytes() == b"tampered"


def test_pip_download_failure_says_what_was_tried(tmp_cache, monkeypatch):
    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for nothing==9\n")
    monkeypatch.setattr(fetch.subprocess, "run", run)
    with pytest.raises(FetchError, match=r"could not download nothing==9 from PyPI \(tried: pip download"
                                         r"(.|\n)*No matching distribution"):
        pip_download("nothing==9", sha256="1" * 64)


def test_apt_download_failure_is_clear(tmp_cache, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(FetchError, match="apt-get is not available"):
        fetch.apt_download("r-cran-nothing", sha256="2" * 64)


# ---------------------------------------------------------------- R lazy-load databases


def test_rlazyload_reads_a_synthetic_database(tmp_path):
    rdata = pytest.importorskip("rdata")
    pytest.importorskip("pandas")  # rdata's writer needs it
    blobs = {}
    for name, value in {"first": np.array(["Line one", "", "Line two"]), "second": np.array(["Other"])}.items():
        rdata.write_rds(tmp_path / "obj.rds", value, compression=None)
        raw = (tmp_path / "obj.rds").read_bytes()
        blobs[name] = len(raw).to_bytes(4, "big") + zlib.compress(raw)
    offsets, pos = {}, 0
    with open(tmp_path / "Rdata.rdb", "wb") as f:
        for name, blob in blobs.items():
            f.write(blob)
            offsets[name] = np.array([pos, len(blob)], dtype=np.int32)
            pos += len(blob)
    rdata.write_rds(tmp_path / "Rdata.rdx", {"variables": offsets, "references": {},
                                              "compressed": np.array([True])})
    objs = rlazyload.read_objects(tmp_path / "Rdata.rdx")
    assert list(objs["first"]) == ["Line one", "", "Line two"] and list(objs["second"]) == ["Other"]
    with pytest.raises(DataError, match="no object named third"):
        rlazyload.read_objects(tmp_path / "Rdata.rdx", ["third"])


# ---------------------------------------------------------------- named corpora (downloads)


def test_sqlite_read_only_with_uri_characters_in_the_path(tmp_path):
    import sqlite3

    from chainrule.datasets.kjv import open_read_only
    folder = tmp_path / "c#hash?q%41"
    folder.mkdir()
    db = folder / "Bible.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE Books (x)")
    con.commit()
    con.close()
    con = open_read_only(db)
    try:
        assert con.execute("SELECT count(*) FROM Books").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute("INSERT INTO Books VALUES (1)")
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c#hash?q%41"]  # nothing created beside it


@pytest.mark.slow
def test_kjv(tmp_cache):
    c = load_corpus("kjv")
    assert (len(c.train), len(c.valid), len(c.test)) == (21971, 3844, 2852)
    assert c.train[0] == "In the beginning God created the heavens and the earth."
    assert c.valid[0].startswith("Now there was a certain man of Ramathaimzophim")   # 1 Samuel 1:1
    assert c.test[0].startswith("Now it came to pass after the death of Saul")        # 2 Samuel 1:1
    assert c.test[-1] == "Amen."                                                       # 1 Peter ends
    # Verse numbers ("1:1", also inside joined passages) are gone: the text has no digit left.
    assert not any(re.search(r"\d", s) for s in c.train + c.valid + c.test)
    assert "Psalms" in c.info["split"] and "Matthew" in c.info["split"]
    # Cached: a second load needs neither pip nor sqlite, and gives the same corpus.
    again = corpus_mod.cached_corpus("kjv", kjv._VERSION, build=lambda: pytest.fail("rebuilt instead of cached"))
    assert again.train == c.train and again.info == c.info


@pytest.mark.slow
def test_austen():
    pytest.importorskip("rdata")
    c = load_corpus("austen")
    assert (len(c.train), len(c.valid), len(c.test)) == (24335, 3538, 3559)
    assert c.train[0] == "The family of Dashwood had long been settled in Sussex."
    assert c.valid[0].startswith("No one who had ever seen Catherine Morland in her infancy")
    assert c.test[0].startswith("Sir Walter Elliot, of Kellynch Hall, in Somersetshire")
    assert c.test[-1].endswith("more distinguished in its domestic virtues than in its national importance.")
    everything = c.train + c.valid + c.test
    assert not any(re.search(r"CHAPTER|Chapter \d|VOLUME|FINIS|THE END|_", s) for s in everything)
    assert not any("NOTE ON THE TEXT" in s or "Signet Classic" in s for s in everything)
    n_tokens = sum(len(tokenize(s)) for s in c.test)
    assert 90_000 < n_tokens < 105_000
