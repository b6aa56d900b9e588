from __future__ import annotations

import collections
from dataclasses import replace

import pytest

from faceedge.data.split import (
    SPLIT_FILE_NAME,
    SPLITS,
    make_split,
    read_split,
    resolve_split,
    stratum,
    write_split,
)
from faceedge.data.utkface import load_utkface
from faceedge.errors import SplitError
from tests.conftest import write_synthetic_folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_utkface(write_synthetic_folder(tmp_path_factory.mktemp("split"), count=400))


def test_split_is_deterministic_and_independent_of_reading_order(dataset):
    first = make_split(dataset, seed=7)
    reordered = replace(dataset, samples=tuple(reversed(dataset.samples)))
    assert make_split(reordered, seed=7).assignment == first.assignment
    assert make_split(dataset, seed=8).assignment != first.assignment


def test_splits_are_disjoint_cover_everything_and_hit_their_fractions(dataset):
    split = make_split(dataset)
    names = {s: set(split.names(s)) for s in SPLITS}
    assert not names["train"] & names["val"] and not names["train"] & names["test"]
    assert not names["val"] & names["test"]
    assert set().union(*names.values()) == set(dataset.names)
    assert split.counts() == {"train": 320, "val": 40, "test": 40}


def test_every_stratum_is_cut_in_proportion(dataset):
    split = make_split(dataset)
    per_stratum = collections.defaultdict(collections.Counter)
    for name, key in zip(dataset.names, stratum(dataset)):
        per_stratum[key][split.assignment[name]] += 1
    for counts in per_stratum.values():
        total = sum(counts.values())
        # The deal keeps each split within one file of its share of every stratum, up to the
        # carry-over from the strata before it.
        assert abs(counts["train"] - 0.8 * total) <= 2
        assert abs(counts["test"] - 0.1 * total) <= 2


def test_real_split_is_stratified_by_gender_race_and_age_group(utkface):
    split = make_split(utkface)
    assert split.counts() == {"train": 18964, "val": 2371, "test": 2370}
    test = set(split.names("test"))
    per_stratum = collections.defaultdict(collections.Counter)
    for name, key in zip(utkface.names, stratum(utkface)):
        per_stratum[key]["test" if name in test else "other"] += 1
    for key, counts in per_stratum.items():
        total = counts["test"] + counts["other"]
        assert abs(counts["test"] - total / 10) <= 2, key


def test_csv_round_trip_keeps_assignment_and_seed(dataset, tmp_path):
    split = make_split(dataset, seed=123)
    path = write_split(split, tmp_path / "split.csv")
    assert path.read_text().splitlines()[1] == "file,split"
    again = read_split(path)
    assert again.assignment == split.assignment and again.seed == 123


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("name,part\na.jpg,train\n", "needs the columns"),
        ("file,split\na.jpg,holdout\n", "unknown split 'holdout'"),
        ("file,split\na.jpg,train\na.jpg,test\n", "appears twice"),
        ("file,split\n", "names no file"),
    ],
)
def test_malformed_split_files_are_refused(tmp_path, content, reason):
    path = tmp_path / "split.csv"
    path.write_text(content)
    with pytest.raises(SplitError, match=reason):
        read_split(path)


def test_a_split_of_other_files_is_refused(dataset, tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("file,split\n99_0_0_20990101.jpg.chip.jpg,test\n")
    with pytest.raises(SplitError, match="not in"):
        read_split(path).apply(dataset, "test")


def test_missing_split_file_is_a_clear_error(tmp_path):
    with pytest.raises(SplitError, match="cannot read the split file"):
        read_split(tmp_path / "absent.csv")


def test_a_model_is_measured_on_the_given_split_else_the_one_beside_it_else_a_fresh_one(dataset, tmp_path):
    given = write_split(make_split(dataset, seed=1), tmp_path / "given.csv")
    model = tmp_path / "run" / "model.keras"
    beside = write_split(make_split(dataset, seed=2), model.parent / SPLIT_FILE_NAME)
    assert resolve_split(model, dataset, given) == (read_split(given), str(given))
    assert resolve_split(model, dataset, None) == (read_split(beside), str(beside))
    assert resolve_split(None, dataset, None, seed=3) == (make_split(dataset, 3), "default split (seed 3)")


SPLIT_TEXT = "file,split\na.jpg,train\nb.jpg,test\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (SPLIT_TEXT.encode("utf-16"), "is UTF-16 text"),
        (SPLIT_TEXT.encode("utf-16-le"), "NUL bytes"),  # no byte-order mark to tell it by
        (b"\x1f\x8b\x08\x00" + bytes(range(256)), "not UTF-8 text"),  # a gzip archive, say
        (b"file,split\n\x00\x00\x00\x00,train\n", "NUL bytes"),  # valid UTF-8, still binary
        (b"file,split\n" + b"x" * 200_000 + b",train\n", "not a split file"),  # over csv's field limit
    ],
    ids=["utf16", "utf16-no-bom", "binary", "nul", "huge-field"],
)
def test_a_split_file_that_is_not_utf8_text_is_a_split_error(tmp_path, content, reason):
    path = tmp_path / "split.csv"
    path.write_bytes(content)
    with pytest.raises(SplitError, match=reason):
        read_split(path)


def test_a_utf8_split_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "split.csv"
    path.write_bytes(SPLIT_TEXT.encode("utf-8-sig"))  # what a spreadsheet's "CSV UTF-8" writes
    assert read_split(path).assignment == {"a.jpg": "train", "b.jpg": "test"}
