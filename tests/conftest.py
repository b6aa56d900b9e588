"""Shared fixtures: the real UTKFace from ../shared when present, and small synthetic datasets."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# What a finished training run directory holds besides its checkpoints and TensorBoard logs: the
# files the shipped model is committed with. Spelled out here, not imported, so that a renamed file
# fails the tests.
RUN_RESULT_FILES = (
    "model.keras",
    "config.json",
    "training.json",
    "summary.txt",
    "split.csv",
    "history.csv",
    "learning_curves.png",
    "evaluation.json",
    "evaluation_confusion.png",
    "evaluation_groups.png",
)
SHARED = Path(os.environ.get("FACEEDGE_SHARED", REPO.parent / "shared"))
UTKFACE_ARCHIVE = SHARED / "data" / "utkface" / "UTKFace.tar.gz"

# The real file names of UTKFace that break its naming pattern.
MALFORMED_REAL_NAMES = (
    "39_1_20170116174525125.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_1_20170109150557335.jpg.chip.jpg",
)


@pytest.fixture(scope="session")
def utkface_archive() -> Path:
    if not UTKFACE_ARCHIVE.is_file():
        pytest.skip(f"the real UTKFace archive is not at {UTKFACE_ARCHIVE} (set FACEEDGE_SHARED)")
    return UTKFACE_ARCHIVE


@pytest.fixture(scope="session")
def utkface(utkface_archive):
    from faceedge.data.utkface import load_utkface

    return load_utkface(utkface_archive)


def synthetic_chip(gender: int, rng: np.random.Generator, size: int = 200) -> bytes:
    """A JPEG chip whose class is visible: females get a bright disc, males a dark bar."""
    image = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
    if gender:
        cv2.circle(image, (size // 2, size // 2), size // 4, (230, 230, 230), -1)
    else:
        cv2.rectangle(image, (size // 4, size // 3), (3 * size // 4, 2 * size // 3), (20, 20, 20), -1)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def synthetic_names(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """UTKFace-style names covering every gender, race and a spread of ages."""
    rng = np.random.default_rng(seed)
    ages = (1, 5, 12, 20, 25, 33, 40, 52, 65, 80)
    names = []
    for index in range(count):
        gender, race, age = index % 2, (index // 2) % 5, ages[int(rng.integers(len(ages)))]
        names.append((f"{age}_{gender}_{race}_2017011{index % 10}{index:09d}.jpg.chip.jpg", gender))
    return names


def write_synthetic_folder(root: Path, count: int = 120, seed: int = 0, size: int = 200) -> Path:
    folder = root / "UTKFace"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name, gender in synthetic_names(count, seed):
        (folder / name).write_bytes(synthetic_chip(gender, rng, size))
    return folder


@pytest.fixture
def synthetic_folder(tmp_path) -> Path:
    return write_synthetic_folder(tmp_path / "data")


def tar_folder(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{folder.name}/{path.name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """Grace Hopper's public-domain portrait (BGR), as matplotlib ships it: one frontal face."""
    pytest.importorskip("matplotlib")
    from faceedge.export.detector import probe_images

    return probe_images()[0]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The public-domain astronaut photograph (Eileen Collins, BGR) that scikit-image ships: one
    woman's face."""
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


# A small model trained and exported once for the whole session: the export and benchmark tests
# share it.
@pytest.fixture(scope="session")
def source(tmp_path_factory):
    """A trained run: a gender-only seed-architecture model for 32 px chips of a synthetic dataset,
    with its split."""
    return _trained_on_synthetic_chips(tmp_path_factory.mktemp("export"), age_head=False)


@pytest.fixture(scope="session")
def two_head_source(tmp_path_factory):
    """A trained run of model v2's kind: P(female) and age from one seed-architecture backbone, for
    32 px chips of a synthetic dataset (trained as :func:`source` is, the age head added)."""
    return _trained_on_synthetic_chips(tmp_path_factory.mktemp("two_head"), age_head=True)


def _trained_on_synthetic_chips(root: Path, age_head: bool) -> tuple[Path, Path]:
    """A seed-architecture model trained for 3 epochs on 160 synthetic 64 px faces at 32 px (the
    gender-only recipe, with or without the age head): its model file and its data folder."""
    from faceedge.train.config import GENDER_ONLY, TrainConfig
    from faceedge.train.trainer import train

    data = write_synthetic_folder(root / "data", count=160, size=64)
    recipe = {**GENDER_ONLY, "age_head": age_head}
    config = TrainConfig(
        data=str(data), out=str(root / "run"), arch="seed", img_size=32, epochs=3, batch_size=16, **recipe
    )
    return train(config, progress=False).model_path, data


@pytest.fixture(scope="session")
def exported(source, tmp_path_factory):
    from faceedge.export.gender import export_gender
    from faceedge.export.options import ExportOptions

    model, data = source
    out = tmp_path_factory.mktemp("exported")
    options = ExportOptions(formats=("fp32", "int8", "fp16"), calibration_images=48)
    artifacts = export_gender(model, out, data, options)
    return artifacts, out


def encode_image(extension: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    """``image`` encoded by OpenCV as ``extension`` (".png", ".jpg", ...)."""
    ok, data = cv2.imencode(extension, image, list(params))
    assert ok
    return data.tobytes()


def solid_image(value: tuple[int, int, int], height: int = 24, width: int = 32) -> np.ndarray:
    """A BGR image of one colour."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = value
    return image


@pytest.fixture(scope="session")
def demo_frames() -> list[np.ndarray]:
    """The first 30 frames of the demo clip that ships with faceedge (1280x720, two faces each)."""
    from faceedge.runtime.sources import SourceSpec, open_source

    with open_source(SourceSpec("demo")) as clip:
        return [frame.image for frame, _ in zip(clip, range(30))]
