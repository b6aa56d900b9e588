from __future__ import annotations

import pytest

from faceedge.data.labels import FaceLabels, LabelError, age_group, parse_file_name
from tests.conftest import MALFORMED_REAL_NAMES


def test_parses_a_regular_name():
    labels = parse_file_name("26_1_2_20170116174525125.jpg.chip.jpg")
    assert labels == FaceLabels(age=26, gender=1, race=2)
    assert (labels.gender_name, labels.race_name, labels.age_group, labels.life_stage) == (
        "female",
        "Asian",
        "18-29",
        "adult",
    )


@pytest.mark.parametrize("name", MALFORMED_REAL_NAMES)
def test_real_names_without_a_race_field_are_rejected_with_the_reason(name):
    with pytest.raises(LabelError, match="3 '_'-separated fields"):
        parse_file_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Real UTKFace names with a stray space or a missing dot: every label is still unambiguous.
        ("24_0_1_20170116220224657 .jpg.chip.jpg", FaceLabels(24, 0, 1)),
        ("55_0_0_20170116232725357jpg.chip.jpg", FaceLabels(55, 0, 0)),
    ],
)
def test_real_names_with_a_damaged_date_keep_their_labels(name, expected):
    assert parse_file_name(name) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("26_2_0_20170116174525125.jpg.chip.jpg", "gender 2"),
        ("26_0_5_20170116174525125.jpg.chip.jpg", "race 5"),
        ("170_0_0_20170116174525125.jpg.chip.jpg", "age 170"),
        ("x_0_0_20170116174525125.jpg.chip.jpg", "age field 'x'"),
        ("26_0_0_20170116174525125.png", "not a .jpg"),
        ("README.txt", "not a .jpg"),
    ],
)
def test_invalid_labels_name_their_problem(name, reason):
    with pytest.raises(LabelError, match=reason):
        parse_file_name(name)


@pytest.mark.parametrize(
    ("age", "group"),
    [(0, "0-2"), (2, "0-2"), (3, "3-9"), (9, "3-9"), (17, "10-17"), (18, "18-29"), (116, "75+")],
)
def test_age_group_boundaries(age, group):
    assert age_group(age) == group
