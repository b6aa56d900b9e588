"""The train / validation / test split: deterministic, stratified, and written down as a CSV.

Every stratum (gender × race × age group) is shuffled with the recorded seed and cut 80 / 10 / 10,
so each group that evaluation reports on is represented in the test split in its true proportion.
The CSV (``file,split`` plus a comment line with the seed) lets anyone re-evaluate on exactly the
same test images.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.data.utkface import UtkFace
from faceedge.errors import SplitError

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLIT_FILE_NAME = "split.csv"  # the split's name beside a model, where evaluation looks for it
DEFAULT_SEED = 20170117  # the newest date stamp in UTKFace's file names; any fixed number would do


@dataclass(frozen=True)
class Split:
    """Which split each file name belongs to, and the seed that produced it (None if unknown)."""

    assignment: dict[str, str]
    seed: int | None = None

    def names(self, split: str) -> list[str]:
        """The file names of one split, sorted."""
        if split not in SPLITS:
            raise SplitError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return sorted(name for name, s in self.assignment.items() if s == split)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for v in self.assignment.values() if v == s) for s in SPLITS}

    def apply(self, dataset: UtkFace, split: str) -> UtkFace:
        """The samples of ``dataset`` in ``split``.

        Raises:
            SplitError: the split names files that the dataset does not have (another dataset, or a
                subset of it), which would silently change what is measured.
        """
        wanted = self.names(split)
        missing = set(wanted) - set(dataset.names)
        if missing:
            example = sorted(missing)[0]
            raise SplitError(
                f"the {split} split names {len(missing)} files that are not in {dataset.source} "
                f"(for example {example}); is it the split of another dataset?"
            )
        return dataset.select(wanted)


def stratum(dataset: UtkFace) -> list[tuple[int, int, str]]:
    """The stratum (gender, race, age group) of every sample."""
    return [(s.labels.gender, s.labels.race, s.labels.age_group) for s in dataset.samples]


def make_split(
    dataset: UtkFace, seed: int = DEFAULT_SEED, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> Split:
    """Split ``dataset`` into train / val / test, stratified by gender × race × age group.

    The files are ordered stratum by stratum, shuffled within each stratum with ``seed``, and dealt
    out along that order so that every split's count stays as close to its fraction as possible at
    every step. Each stratum is therefore cut in the right proportions, the totals are exact to one
    file, and strata too small to cut on their own still spread over the splits (cutting each
    stratum separately would send every stratum of one or two files to train).

    The result depends only on the file names, their labels and ``seed``: the same dataset gives the
    same split on any machine, whatever order its files were read in.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise SplitError(f"split fractions must be three non-negative numbers adding to 1, not {fractions}")
    groups: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    for name, key in zip(dataset.names, stratum(dataset)):
        groups[key].append(name)
    rng = np.random.default_rng(seed)
    order = []
    for key in sorted(groups):
        names = sorted(groups[key])
        order.extend(names[i] for i in rng.permutation(len(names)))
    targets = np.asarray(fractions, dtype=np.float64)
    counts = np.zeros(len(SPLITS))
    assignment: dict[str, str] = {}
    for dealt, name in enumerate(order, start=1):
        chosen = int(np.argmax(targets * dealt - counts))  # the split furthest behind its share
        counts[chosen] += 1
        assignment[name] = SPLITS[chosen]
    return Split(assignment, seed)


def write_split(split: Split, path: str | Path) -> Path:
    """Write ``split`` as a CSV: a comment line with the seed, a ``file,split`` header, one row per file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    buffer.write(f"# faceedge split: seed={split.seed}, stratified by gender x race x age group\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "split"])
    for name in sorted(split.assignment):
        writer.writerow([name, split.assignment[name]])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def read_split(path: str | Path) -> Split:
    """Read a split CSV written by :func:`write_split` (or any CSV with ``file`` and ``split`` columns).

    Raises:
        SplitError: the file is missing, is not UTF-8 text (a binary file, a UTF-16 export), lacks
            the columns, names a file twice or an unknown split.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SplitError(f"cannot read the split file {path}: {exc.strerror or exc}") from exc
    text = _split_text(data, path)
    seed = None
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            for part in line.replace(",", " ").split():
                if part.startswith("seed=") and part[5:].isdigit():
                    seed = int(part[5:])
        elif line.strip():
            lines.append(line)
    try:
        assignment = _assignment(csv.DictReader(lines), path)
    except csv.Error as exc:  # a field over the csv module's size limit, say: not a split file either
        raise SplitError(f"{path} is not a split file: {exc}") from exc
    if not assignment:
        raise SplitError(f"{path} names no file")
    return Split(assignment, seed)


def _split_text(data: bytes, path: Path) -> str:
    """The text of a split file, which is UTF-8 (with or without the byte-order mark a spreadsheet
    may add).

    Raises:
        SplitError: the bytes are not UTF-8 text: a UTF-16 export, or a binary file.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SplitError(f"{path} is UTF-16 text; a split file is UTF-8: save it again as UTF-8 CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SplitError(
            f"{path} is not a split file: it is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from exc
    # NUL is valid UTF-8 but never in a CSV of file names: a binary file (or UTF-16 without its mark).
    if "\x00" in text:
        raise SplitError(f"{path} is not a split file: it holds NUL bytes, so it is binary or not UTF-8")
    return text


def _assignment(rows: csv.DictReader, path: Path) -> dict[str, str]:
    """File name to split, from the rows of a split file.

    Raises:
        SplitError: the columns are missing, a row names an unknown split or a file seen before.
    """
    if rows.fieldnames is None or not {"file", "split"} <= set(rows.fieldnames):
        raise SplitError(f"{path} is not a split file: it needs the columns 'file' and 'split'")
    assignment: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        name, split = row["file"], row["split"]
        if split not in SPLITS:
            raise SplitError(f"{path}, row {number}: unknown split {split!r} (expected {', '.join(SPLITS)})")
        if name in assignment:
            raise SplitError(f"{path}, row {number}: {name} appears twice")
        assignment[name] = split
    return assignment


def resolve_split(
    model: Path | None, dataset: UtkFace, split_file: str | Path | None, seed: int = DEFAULT_SEED
) -> tuple[Split, str]:
    """The split a model is evaluated or trained further with: the given file, else the one beside
    the model, else a fresh split of ``dataset`` with ``seed``.

    Returns the split and a description of where it came from, for the report.

    Raises:
        SplitError: the chosen split file cannot be read.
    """
    if split_file is not None:
        return read_split(split_file), str(split_file)
    beside = model.parent / SPLIT_FILE_NAME if model is not None else None
    if beside is not None and beside.is_file():
        return read_split(beside), str(beside)
    split = make_split(dataset, seed)
    return split, f"default split (seed {split.seed})"
