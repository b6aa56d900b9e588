"""Make the demo clip that `faceedge run --source demo` plays: faceedge/runtime/media/demo.mp4.

Two public-domain portraits that PyPI packages carry, Eileen Collins (NASA, from scikit-image) and
Grace Hopper (US Navy, from matplotlib), drift and zoom slowly over a neutral background: 3 s of
1280x720 at 30 fps, faces about 170 to 220 pixels wide, every frame different so that the tracker
has something to follow. See faceedge/runtime/media/DEMO_NOTICE.md for the sources.

Regenerate it (scikit-image and matplotlib are needed here only, never by the runtime):

    pip install scikit-image matplotlib
    python scripts/make_demo_clip.py

The script reads the file back with OpenCV and fails unless it has every frame at the right size.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("make_demo_clip")

OUTPUT = Path(__file__).resolve().parents[1] / "faceedge" / "runtime" / "media" / "demo.mp4"
WIDTH, HEIGHT, FPS, FRAMES = 1280, 720, 30, 90
CAPTION = "Eileen Collins (NASA) and Grace Hopper (US Navy), public-domain photographs"


@dataclass(frozen=True)
class Drift:
    """A photo crop moving on the canvas: its top-left corner and scale go linearly from start to end."""

    crop: tuple[int, int, int, int]  # top, bottom, left, right in the photo
    start: tuple[float, float, float]  # x, y, scale
    end: tuple[float, float, float]

    def matrix(self, t: float) -> np.ndarray:
        """The affine map from the crop to the canvas at time ``t`` in [0, 1]."""
        x, y, scale = (a + (b - a) * t for a, b in zip(self.start, self.end))
        return np.array([[scale, 0.0, x], [0.0, scale, y]], dtype=np.float64)


# Eileen Collins' face is about 100 px wide in the 512x512 photo, Grace Hopper's about 190 px in hers.
ASTRONAUT = Drift(crop=(10, 330, 100, 400), start=(60.0, 70.0, 1.70), end=(120.0, 85.0, 1.80))
HOPPER = Drift(crop=(0, 470, 70, 470), start=(790.0, 120.0, 1.12), end=(745.0, 105.0, 1.04))


def photos() -> tuple[np.ndarray, np.ndarray]:
    """The two portraits as BGR uint8: the astronaut and Grace Hopper."""
    import matplotlib.cbook
    import matplotlib.image
    import skimage.data

    astronaut = skimage.data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        hopper = matplotlib.image.imread(file)
    return np.ascontiguousarray(astronaut[:, :, ::-1]), np.ascontiguousarray(hopper[:, :, ::-1])


def background() -> np.ndarray:
    """A neutral grey, slightly lighter at the top."""
    column = np.linspace(150, 110, HEIGHT, dtype=np.float32)[:, None, None]
    return np.repeat(np.repeat(column, WIDTH, axis=1), 3, axis=2).astype(np.uint8)


def render(t: float, pictures: list[tuple[np.ndarray, Drift]], canvas: np.ndarray) -> np.ndarray:
    """One frame at time ``t`` in [0, 1]."""
    frame = canvas.copy()
    for photo, drift in pictures:
        top, bottom, left, right = drift.crop
        cv2.warpAffine(
            photo[top:bottom, left:right],
            drift.matrix(t),
            (WIDTH, HEIGHT),
            dst=frame,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_TRANSPARENT,
        )
    cv2.putText(
        frame, CAPTION, (20, HEIGHT - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA
    )
    return frame


def write(path: Path) -> None:
    """Write the clip to ``path`` and check that OpenCV reads it back whole."""
    astronaut, hopper = photos()
    pictures = [(astronaut, ASTRONAUT), (hopper, HOPPER)]
    canvas = background()
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write mp4v video to {path}")
    try:
        for index in range(FRAMES):
            writer.write(render(index / (FRAMES - 1), pictures, canvas))
    finally:
        writer.release()
    check(path)
    log.info("wrote %s: %d frames, %dx%d, %.2f MB", path, FRAMES, WIDTH, HEIGHT, path.stat().st_size / 1e6)


def check(path: Path) -> None:
    """Fail unless ``path`` reads back as FRAMES frames of HEIGHT x WIDTH at FPS."""
    capture = cv2.VideoCapture(str(path))
    frames = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if image.shape != (HEIGHT, WIDTH, 3):
                raise SystemExit(f"{path}: frame {frames} is {image.shape}, not {(HEIGHT, WIDTH, 3)}")
            frames += 1
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    if frames != FRAMES or round(fps) != FPS:
        raise SystemExit(f"{path}: read back {frames} frames at {fps} fps, not {FRAMES} at {FPS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="Where to write the clip.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write(args.output)


if __name__ == "__main__":
    main()
