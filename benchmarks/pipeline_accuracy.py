"""Train/serve skew: the whole runtime (detect, crop, classify) against the model alone.

The model alone sees each test chip exactly as training saw chips. The runtime sees the same
200x200 image as a camera frame: it must find the face, crop it as the chips were cropped, and
classify that. The gap between the two accuracies is what the runtime's cropping costs. For a
two-head model the same is measured of the age: its mean absolute error in years, for the model
alone and in the pipeline (over the images where the pipeline found a face, and over the same images
for the model alone, so that the two compare).

    python benchmarks/pipeline_accuracy.py --data ../shared/data/utkface/UTKFace.tar.gz \
        --split models/gender_age/split.csv --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np


def measure(
    data: str,
    split_file: str,
    model: str | None,
    detector: str,
    detector_model: str | None,
    limit: int | None,
    precision: str = "fp32",
) -> dict:
    from faceedge.bundled import bundled_path
    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.imaging import chip_to_input, decode_bgr
    from faceedge.runtime.pipeline import FacePipeline

    tests = read_split(split_file).apply(load_utkface(data), "test")
    samples = tests.samples[:limit] if limit else tests.samples
    # The bundled classifier at the precision asked for (FP32 by default, whatever this CPU would pick).
    pipeline = FacePipeline(
        model=model,
        backend="cpu",
        detector=detector,
        detector_model=detector_model,
        track=False,
        precision=precision if model is None else "auto",
    )
    size = pipeline.classifier.input_size
    labels, alone, served, found, several = [], [], [], [], 0
    ages, age_alone, age_served = [], [], []
    for sample in samples:
        image = decode_bgr(sample.data)
        p, age = pipeline.classifier.predict_heads(chip_to_input(image, size)[None])
        p_alone = float(p[0])
        faces = pipeline.process(image).faces
        if len(faces) > 1:
            several += 1
        # The face the chip was made of is the one nearest its centre.
        centre = np.array(image.shape[1::-1]) / 2
        face = min(
            faces,
            key=lambda f: np.hypot(*(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - centre)),
            default=None,
        )
        labels.append(sample.labels.gender)
        alone.append(p_alone)
        served.append(face.p_female if face else np.nan)
        found.append(face is not None)
        ages.append(sample.labels.age)
        age_alone.append(np.nan if age is None else float(age[0]))
        age_served.append(face.age if face and face.age is not None else np.nan)
    labels, alone, served, found = map(np.asarray, (labels, alone, served, found))
    threshold = pipeline.classifier.threshold
    correct_alone = (alone >= threshold) == (labels == 1)
    # A chip in which no face is found counts as wrong in the pipeline's accuracy.
    correct_served = found & ((np.nan_to_num(served) >= threshold) == (labels == 1))
    result = {
        "images": len(labels),
        "model": Path(model or bundled_path("gender")).name,
        "precision": pipeline.classifier.manifest.precision,
        "detector": pipeline.detector.name,
        "faces_found": round(float(found.mean()), 4),
        "images_with_several_faces": several,
        "model_only_accuracy": round(float(correct_alone.mean()), 4),
        "pipeline_accuracy": round(float(correct_served.mean()), 4),
        "pipeline_accuracy_where_found": round(float(correct_served[found].mean()), 4),
        "gap_points": round(100 * float(correct_alone.mean() - correct_served.mean()), 2),
        "decisions_agree": round(float(((served >= threshold) == (alone >= threshold))[found].mean()), 4),
        "mean_abs_p_difference": round(float(np.abs(served - alone)[found].mean()), 4),
    }
    if pipeline.classifier.has_age:
        result.update(
            _age_errors(np.asarray(ages, float), np.asarray(age_alone), np.asarray(age_served), found)
        )
    return result


def _age_errors(true: np.ndarray, alone: np.ndarray, served: np.ndarray, found: np.ndarray) -> dict:
    """Age MAE in years of the model alone (on every image, and on those where the pipeline found a
    face) and of the pipeline (where it found one: a face it missed has no age to be wrong by)."""

    def mean_abs(values: np.ndarray) -> float:
        return round(float(np.abs(values).mean()), 3)

    alone_found, served_found = mean_abs((alone - true)[found]), mean_abs((served - true)[found])
    return {
        "model_only_age_mae": mean_abs(alone - true),
        "model_only_age_mae_where_found": alone_found,
        "pipeline_age_mae_where_found": served_found,
        "age_gap_years": round(served_found - alone_found, 3),
        "mean_abs_age_difference": mean_abs((served - alone)[found]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="models/gender_age/split.csv")
    parser.add_argument("--model", default=None, help="a gender artifact; the bundled one by default")
    parser.add_argument("--detector", default="short", choices=["short", "full", "yunet"])
    parser.add_argument("--detector-model", default=None, help="the detector's file (YuNet's ONNX)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--precision", default="fp32", choices=["fp32", "int8", "auto"], help="for the bundled classifier"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    result = measure(
        args.data, args.split, args.model, args.detector, args.detector_model, args.limit, args.precision
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "pipeline_accuracy" if args.detector == "short" else f"pipeline_accuracy_{args.detector}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items())
    (args.out / f"{stem}.md").write_text(f"| measure | value |\n| --- | --- |\n{rows}\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
