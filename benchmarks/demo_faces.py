"""What trained Keras models say about each face of the demo clip, cropped exactly as the runtime crops.

`faceedge run --source demo` shows two public-domain portraits, Eileen Collins and Grace Hopper,
for 90 frames. This runs the runtime's own detector and cropper (with the bundled model's chip
framing) on every frame, then gives the chips of every face to each model, one pass, no flip
averaging, and prints per face (left to right, as placed in the clip) how many frames each model
calls female, its mean P(female) and, for a two-head model, its median age.

    python benchmarks/demo_faces.py models/gender/model.keras models/gender_age/model.keras
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

# Left to right in every frame of the clip (scripts/make_demo_clip.py places them so).
PEOPLE = ("Eileen Collins", "Grace Hopper")


def demo_chips() -> list[np.ndarray]:
    """The chips of each person (left to right) over every frame where both faces were found."""
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.sources import SourceSpec, open_source

    chips: list[list[np.ndarray]] = [[] for _ in PEOPLE]
    with FacePipeline(backend="cpu", track=False) as pipeline, open_source(SourceSpec("demo")) as source:
        for frame in source:
            faces = pipeline.detector.detect(frame.image)
            faces = [faces[i] for i in pipeline.cropper.large_enough(faces)]
            if len(faces) != len(PEOPLE):
                continue
            faces.sort(key=lambda face: face.box[0])
            for person, face in enumerate(faces):
                chips[person].append(pipeline.cropper.crop(frame.image, face))
    return [np.stack(person) for person in chips]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained .keras models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from faceedge.evaluate.predictors import open_classifier

    chips = demo_chips()
    print(f"{len(chips[0])} frames with both faces found")
    for path in args.models:
        predictor = open_classifier(path)
        for name, faces in zip(PEOPLE, chips):
            p_female, ages = predictor.predict_heads(faces)
            age = f", median age {np.median(ages):.1f}" if ages is not None else ""
            print(
                f"{path}: {name}: female on {int((p_female >= 0.5).sum())} of {len(faces)} frames, "
                f"mean P(female) {p_female.mean():.2f}{age}"
            )


if __name__ == "__main__":
    main()
