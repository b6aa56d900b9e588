"""The age bands faceedge reports in: one definition for the dataset's labels, evaluation and the
runtime's answers. Standard library only: the runtime imports it.
"""

from __future__ import annotations

import math

MAX_AGE = 116  # the oldest face in UTKFace; anything above is a typo, not a person

# Fine age groups for evaluation, stratification and the runtime's answers. Children get their own
# groups because their gender is hard to see and would otherwise hide inside an average.
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


def _group_of(age: int, groups: tuple[tuple[str, int, int], ...]) -> str:
    for name, low, high in groups:
        if low <= age <= high:
            return name
    raise ValueError(f"age {age} is outside 0-{MAX_AGE}")


def age_group(age: int) -> str:
    """The fine age group (one of :data:`AGE_GROUPS`) of an age in whole years.

    Raises:
        ValueError: the age is outside 0 to :data:`MAX_AGE`.
    """
    return _group_of(age, AGE_GROUPS)


def life_stage(age: int) -> str:
    """The coarse group of the original report (one of :data:`LIFE_STAGES`) of an age in whole years.

    Raises:
        ValueError: the age is outside 0 to :data:`MAX_AGE`.
    """
    return _group_of(age, LIFE_STAGES)


def whole_years(age: float) -> int:
    """A predicted age as a person says it: rounded to whole years (halves up), held to 0 to
    :data:`MAX_AGE` (a model's estimate may stray a little outside)."""
    return min(max(math.floor(age + 0.5), 0), MAX_AGE)


def predicted_age_group(age: float) -> str:
    """The fine age group of a predicted age, read from its :func:`whole_years`."""
    return age_group(whole_years(age))
