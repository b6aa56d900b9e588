"""UTKFace labels: what a file name says about its face, and the groups faceedge reports on.

UTKFace names each chip ``age_gender_race_datetime.jpg.chip.jpg``: gender 0 is male and 1 female,
race 0-4 is White, Black, Asian, Indian, Others. A few real names break that pattern (a missing
field, a stray space, a missing dot); :func:`parse_file_name` accepts what is unambiguous and
explains what it rejects.
"""

from __future__ import annotations

from dataclasses import dataclass

GENDERS: tuple[str, ...] = ("male", "female")
RACES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")
MAX_AGE = 116  # the oldest face in UTKFace; anything above is a typo, not a person

# Fine age groups for evaluation and stratification. Children get their own groups because their
# gender is hard to see and would otherwise hide inside an average.
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-2", 0, 2),
    ("3-9", 3, 9),
    ("10-17", 10, 17),
    ("18-29", 18, 29),
    ("30-44", 30, 44),
    ("45-59", 45, 59),
    ("60-74", 60, 74),
    ("75+", 75, MAX_AGE),
)
# The three coarse groups of the original report, which fought the age imbalance with them.
LIFE_STAGES: tuple[tuple[str, int, int], ...] = (
    ("young", 0, 17),
    ("adult", 18, 59),
    ("senior", 60, MAX_AGE),
)
ADULT_MIN_AGE = 18  # "adults-only" accuracy covers every face aged 18 or more, seniors included


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


def _group_of(age: int, groups: tuple[tuple[str, int, int], ...]) -> str:
    for name, low, high in groups:
        if low <= age <= high:
            return name
    raise LabelError(f"age {age} is outside 0-{MAX_AGE}")


def age_group(age: int) -> str:
    """The fine age group (one of :data:`AGE_GROUPS`) of an age in years."""
    return _group_of(age, AGE_GROUPS)


def life_stage(age: int) -> str:
    """The coarse group of the original report (one of :data:`LIFE_STAGES`) of an age in years."""
    return _group_of(age, LIFE_STAGES)


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
