from __future__ import annotations

import os

import pytest

from faceedge.errors import OutputError
from faceedge.paths import check_folder_writable, check_output_file, check_writable, refuse_overwriting


def test_a_new_file_that_can_be_written_passes_and_is_not_left_behind(tmp_path):
    assert check_writable(tmp_path / "report.json", "report") == tmp_path / "report.json"
    assert not (tmp_path / "report.json").exists()


def test_an_existing_file_is_checked_without_touching_its_bytes(tmp_path):
    existing = tmp_path / "report.json"
    existing.write_text("kept")
    check_writable(existing, "report")
    assert existing.read_text() == "kept"


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (lambda tmp: tmp, "it is a folder"),
        (lambda tmp: tmp / "missing" / "report.json", "no folder"),
        (lambda tmp: "/proc/faceedge-report.json", "cannot write the report"),
    ],
    ids=["folder", "missing-folder", "proc"],
)
def test_an_output_that_cannot_be_written_is_refused(tmp_path, where, reason):
    with pytest.raises(OutputError, match=reason):
        check_writable(where(tmp_path), "report")


def test_an_output_that_is_an_input_is_refused_however_it_is_spelled(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"a video")
    os.symlink(video, tmp_path / "link.mp4")
    os.link(video, tmp_path / "hard.mp4")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for spelling in (
        "../clip.mp4",
        tmp_path / "link.mp4",
        tmp_path / "hard.mp4",
        tmp_path / "sub" / ".." / "clip.mp4",
    ):
        with pytest.raises(OutputError, match="would destroy the input"):
            refuse_overwriting(spelling, [video], "JSON output")
    refuse_overwriting(tmp_path / "clip.json", [video], "JSON output")  # another file: fine
    assert video.read_bytes() == b"a video"


def test_a_folder_that_can_be_created_or_written_passes_and_nothing_is_left_behind(tmp_path):
    (tmp_path / "existing").mkdir()
    for folder in (tmp_path / "existing", tmp_path / "new" / "nested"):
        assert check_folder_writable(folder, "artifacts") == folder
    assert check_output_file(tmp_path / "new" / "report.json", "report") == tmp_path / "new" / "report.json"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["existing"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (lambda tmp: tmp / "blocker", "blocker is a file, not a folder"),
        (lambda tmp: tmp / "blocker" / "a" / "b", "blocker is a file, not a folder"),
        (
            lambda tmp: "/proc/faceedge-artifacts/a",
            "cannot write the artifacts to /proc/faceedge-artifacts/a",
        ),
    ],
    ids=["file", "file-on-the-way", "proc"],
)
def test_a_folder_that_cannot_be_written_is_refused(tmp_path, where, reason):
    (tmp_path / "blocker").write_text("kept")
    with pytest.raises(OutputError, match=reason):
        check_folder_writable(where(tmp_path), "artifacts")
    with pytest.raises(OutputError, match="cannot write the report to .*report.json: "):
        check_output_file(f"{where(tmp_path)}/report.json", "report")
    assert (tmp_path / "blocker").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
