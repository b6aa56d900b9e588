from __future__ import annotations

import pytest

from faceedge.errors import OutputError
from faceedge.folders import check_folder_writable, check_output_file


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
