from __future__ import annotations

import pytest

from faceedge.data.utkface import load_utkface
from faceedge.errors import DatasetError
from tests.conftest import MALFORMED_REAL_NAMES, tar_folder


def _add_broken_files(folder):
    good = next(iter(sorted(folder.iterdir()))).read_bytes()
    (folder / "30_1_0_20170101000000001.jpg.chip.jpg").write_bytes(good[: len(good) // 3])  # truncated
    (folder / "31_0_1_20170101000000002.jpg.chip.jpg").write_bytes(b"")  # empty
    (folder / "32_0_1_20170101000000003.jpg.chip.jpg").write_bytes(b"not a jpeg at all")
    (folder / "39_1_20170116174525125.jpg.chip.jpg").write_bytes(good)  # no race field
    (folder / "notes.txt").write_text("not an image")
    return {
        "30_1_0_20170101000000001.jpg.chip.jpg": "truncated",
        "31_0_1_20170101000000002.jpg.chip.jpg": "empty",
        "32_0_1_20170101000000003.jpg.chip.jpg": "not a JPEG",
        "39_1_20170116174525125.jpg.chip.jpg": "4",
        "notes.txt": "not a .jpg",
    }


def test_folder_and_archive_give_the_same_samples_and_skip_the_same_files(synthetic_folder, tmp_path):
    expected = _add_broken_files(synthetic_folder)
    archive = tar_folder(synthetic_folder, tmp_path / "UTKFace.tar.gz")
    from_folder = load_utkface(synthetic_folder.parent)  # the folder above UTKFace/ works too
    from_archive = load_utkface(archive)

    assert len(from_folder) == len(from_archive) == 120
    assert from_folder.names == from_archive.names
    assert [s.labels for s in from_folder.samples] == [s.labels for s in from_archive.samples]
    for dataset in (from_folder, from_archive):
        reasons = {item.name.split("/")[-1]: item.reason for item in dataset.skipped}
        assert set(reasons) == set(expected)
        for name, fragment in expected.items():
            assert fragment in reasons[name]


def test_limit_takes_a_deterministic_subset(synthetic_folder):
    first = load_utkface(synthetic_folder, limit=30, seed=1)
    again = load_utkface(synthetic_folder, limit=30, seed=1)
    other = load_utkface(synthetic_folder, limit=30, seed=2)
    assert len(first) == 30 and first.names == again.names and first.names != other.names


def test_missing_path_and_wrong_file_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="no dataset at"):
        load_utkface(tmp_path / "nowhere")
    other = tmp_path / "model.bin"
    other.write_bytes(b"x")
    with pytest.raises(DatasetError, match="neither a folder nor a tar archive"):
        load_utkface(other)


def test_a_folder_without_faces_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no usable UTKFace image"):
        load_utkface(tmp_path / "empty")


def test_a_corrupt_archive_is_an_error(tmp_path):
    archive = tmp_path / "UTKFace.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    with pytest.raises(DatasetError, match="cannot read the archive"):
        load_utkface(archive)


def test_real_archive_loads_and_reports_its_malformed_names(utkface):
    assert len(utkface) == 23705
    assert sorted(item.name.split("/")[-1] for item in utkface.skipped) == sorted(MALFORMED_REAL_NAMES)
    assert all("needs 4" in item.reason for item in utkface.skipped)
    assert set(utkface.genders.tolist()) == {0, 1} and set(utkface.races.tolist()) == {0, 1, 2, 3, 4}
