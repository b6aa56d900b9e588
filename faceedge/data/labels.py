"""UTKFace labels: what a file name says about its face (the age groups it falls in are defined in
:mod:`faceedge.ages`, which the runtime shares).

UTKFace names each chip ``age_gender_race_datetime.jpg.chip.jpg``: gender 0 is male and 1 female,
race 0-4 is White, Black, Asian, Indian, Others. A few real names break that pattern (a missing
field, a stray space, a missing dot); :func:`parse_file_name` accepts what is unambiguous and
explains what it rejects.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceedge.ages import MAX_AGE, age_group, life_stage

GENDERS: tuple[str, ...] = ("male", "female")
RACES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")


@dataclass(frozen=True)
class FaceLabels:
    """The labels of one UTKFace chip, read from its file name."""

    age: int
    gender: int
    race: int

    @property
    def gender_name(self) -> str:
        return GENDERS[self.gender]

    @property
    def race_name(self) -> str:
        return RACES[self.race]

    @property
    def age_group(self) -> str:
        return age_group(self.age)

    @property
    def life_stage(self) -> str:
        return life_stage(self.age)


class LabelError(ValueError):
    """A file name that does not carry valid UTKFace labels; the message says why."""


def parse_file_name(name: str) -> FaceLabels:
    """Read the labels from a UTKFace file name (a base name, not a path).

    Raises:
        LabelError: the name is not a JPEG chip name with an age, a gender and a race field, or a
            field is out of range. The message names the problem.
    """
    if not name.lower().endswith(".jpg"):
        raise LabelError("not a .jpg file")
    fields = name.split("_")
    if len(fields) < 4:
        raise LabelError(f"{len(fields)} '_'-separated fields where age_gender_race_datetime needs 4")
    values = []
    for field, what in zip(fields[:3], ("age", "gender", "race")):
        if not field.isdigit():
            raise LabelError(f"{what} field {field!r} is not a number")
        values.append(int(field))
    age, gender, race = values
    if not 0 <= age <= MAX_AGE:
        raise LabelError(f"age {age} is outside 0-{MAX_AGE}")
    if gender not in (0, 1):
        raise LabelError(f"gender {gender} is neither 0 (male) nor 1 (female)")
    if not 0 <= race < len(RACES):
        raise LabelError(f"race {race} is outside 0-{len(RACES) - 1}")
    return FaceLabels(age=age, gender=gender, race=race)
