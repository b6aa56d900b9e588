"""Reading UTKFace from its official archive or from the extracted folder, skipping what is unusable.

Every file either becomes a :class:`Sample` or a :class:`Skipped` entry with the reason, so a broken
file name or a truncated JPEG costs one image and a line in the report, never the run.
"""

from __future__ import annotations

import logging
import os
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedge.data.labels import FaceLabels, LabelError, parse_file_name
from faceedge.errors import DatasetError, ImageDecodeError
from faceedge.imaging import check_jpeg_structure, decode_bgr

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class Sample:
    """One usable face chip: its file name (the key of split files), labels and encoded bytes."""

    name: str
    labels: FaceLabels
    data: bytes = field(repr=False, compare=False)


@dataclass(frozen=True)
class Skipped:
    """A file that was not used, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class UtkFace:
    """The usable samples of a UTKFace copy, sorted by file name, and the files skipped on the way."""

    source: Path
    samples: tuple[Sample, ...]
    skipped: tuple[Skipped, ...]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.samples]

    @property
    def genders(self) -> np.ndarray:
        return np.array([s.labels.gender for s in self.samples], dtype=np.int64)

    @property
    def races(self) -> np.ndarray:
        return np.array([s.labels.race for s in self.samples], dtype=np.int64)

    @property
    def ages(self) -> np.ndarray:
        return np.array([s.labels.age for s in self.samples], dtype=np.int64)

    def select(self, names: list[str] | set[str]) -> UtkFace:
        """The samples whose names are in ``names``, in this dataset's order."""
        wanted = set(names)
        return UtkFace(self.source, tuple(s for s in self.samples if s.name in wanted), self.skipped)

    def sample(self, count: int, seed: int = 0) -> UtkFace:
        """A deterministic random subset of ``count`` samples (all of them when ``count`` is larger)."""
        if count >= len(self.samples):
            return self
        chosen = np.sort(np.random.default_rng(seed).choice(len(self.samples), count, replace=False))
        return UtkFace(self.source, tuple(self.samples[i] for i in chosen), self.skipped)


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


# Both readers yield (name relative to the dataset root, bytes or the reason they could not be read).
def _archive_files(path: Path) -> Iterator[tuple[str, bytes | str]]:
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile():
                    handle = archive.extractfile(member)
                    yield member.name, handle.read() if handle is not None else "unreadable archive entry"
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read the archive {path}: {exc}") from exc


def _folder_files(path: Path) -> Iterator[tuple[str, bytes | str]]:
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root, name)
            try:
                data: bytes | str = full.read_bytes()
            except OSError as exc:
                data = f"unreadable ({exc.strerror or exc})"
            yield str(full.relative_to(path)), data


def _check(name: str, data: bytes | str) -> Sample:
    """The sample of a file that passes the cheap checks; raises a ValueError saying why it is unusable."""
    labels = parse_file_name(name)
    if isinstance(data, str):
        raise ImageDecodeError(data)
    check_jpeg_structure(data)
    return Sample(name, labels, data)


def load_utkface(path: str | os.PathLike, limit: int | None = None, seed: int = 0) -> UtkFace:
    """Read UTKFace from the official ``UTKFace.tar.gz`` or from a folder holding its chips.

    Each image is checked: labels from its name, a complete JPEG structure, and a decode at 1/8
    scale (which reads every compressed byte). Files that fail are skipped, logged with the reason
    and listed in :attr:`UtkFace.skipped`.

    Args:
        path: the archive, the extracted ``UTKFace`` folder, or a folder above it.
        limit: keep a deterministic random subset of this many images (for quick runs and tests).
        seed: the seed of that subset.

    Raises:
        DatasetError: the path does not exist, cannot be read, or holds no usable image.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise DatasetError(f"no dataset at {source}: give the UTKFace archive or its extracted folder")
    if source.is_dir():
        files = _folder_files(source)
    elif _is_archive(source):
        files = _archive_files(source)
    else:
        raise DatasetError(f"{source} is neither a folder nor a tar archive of UTKFace images")

    samples: dict[str, Sample] = {}
    skipped: list[Skipped] = []
    for relative, data in files:
        name = os.path.basename(relative)
        try:
            sample = _check(name, data)
        except (LabelError, ImageDecodeError) as exc:
            skipped.append(Skipped(relative, str(exc)))
            continue
        if name in samples:
            skipped.append(Skipped(relative, "duplicate file name"))
            continue
        samples[name] = sample

    dataset = UtkFace(source, tuple(samples[n] for n in sorted(samples)), ())
    if limit is not None:
        dataset = dataset.sample(limit, seed)
    usable, undecodable = _decodable(dataset.samples)
    skipped.extend(undecodable)
    for item in skipped:
        log.warning("skipped %s: %s", item.name, item.reason)
    if not usable:
        raise DatasetError(f"no usable UTKFace image in {source} ({len(skipped)} files skipped)")
    log.info("read %d faces from %s, skipped %d files", len(usable), source, len(skipped))
    return UtkFace(source, usable, tuple(skipped))


def _decodable(samples: tuple[Sample, ...]) -> tuple[tuple[Sample, ...], list[Skipped]]:
    def decodes(sample: Sample) -> str | None:
        try:
            decode_bgr(sample.data, reduced=True)
        except ImageDecodeError as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        failures = list(pool.map(decodes, samples))
    usable = tuple(s for s, f in zip(samples, failures) if f is None)
    skipped = [Skipped(s.name, f) for s, f in zip(samples, failures) if f is not None]
    return usable, skipped
