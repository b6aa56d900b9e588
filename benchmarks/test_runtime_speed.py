"""pytest-benchmark suites of the runtime's stages, to compare between commits:

    python -m pytest benchmarks --benchmark-only --benchmark-save=NAME
    python -m pytest_benchmark compare 0001 0002 --columns=median,iqr,ops

They are not part of the test suite (its testpaths are tests/); timings are read as ratios
between runs on the same machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceedge.bundled import bundled_path


def test_detector_prepare(benchmark, detector, demo_frames):
    benchmark(detector.prepare, demo_frames[0])


def test_detector(benchmark, detector, demo_frames):
    faces = benchmark(detector.detect, demo_frames[0])
    assert len(faces) == 2


def test_crop_two_faces(benchmark, faces, demo_frames):
    from faceedge.manifest import manifest_path, read_manifest
    from faceedge.runtime.crop import ChipTemplate, FaceCropper

    template = ChipTemplate.from_manifest(read_manifest(manifest_path(bundled_path("gender"))))
    cropper = FaceCropper(template, input_size=96)
    chips = benchmark(cropper.crops, demo_frames[0], faces)
    assert chips.shape == (2, 96, 96, 3)


@pytest.mark.parametrize("artifact", ["gender", "gender_int8"])
@pytest.mark.parametrize("batch", [1, 2, 8, 32])
def test_classifier_cpu(benchmark, artifact, batch):
    from faceedge.runtime.classifier import GenderClassifier

    classifier = GenderClassifier(bundled_path(artifact), "cpu")
    chips = np.random.default_rng(0).integers(0, 255, (batch, 96, 96, 3), dtype=np.uint8)
    try:
        assert benchmark(classifier.predict, chips).shape == (batch,)
    finally:
        classifier.close()


@pytest.mark.parametrize("backend", ["cuda", "tensorrt"])
def test_classifier_gpu(benchmark, backend):
    from faceedge.errors import BackendError
    from faceedge.runtime.classifier import GenderClassifier

    try:
        classifier = GenderClassifier(bundled_path("gender"), backend)
    except BackendError as exc:
        pytest.skip(str(exc))
    chips = np.zeros((8, 96, 96, 3), dtype=np.uint8)
    try:
        benchmark(classifier.predict, chips)
    finally:
        classifier.close()


@pytest.mark.parametrize("classify_every", [1, 3])
def test_whole_pipeline_per_frame(benchmark, demo_frames, classify_every):
    from faceedge.runtime.pipeline import FacePipeline

    state = {"frame": 0}

    def one_frame():
        # The clip played back and forth, so that the faces move on smoothly and keep their tracks.
        index = state["frame"]
        state["frame"] += 1
        lap, step = divmod(index, len(demo_frames))
        return pipeline.process(demo_frames[-1 - step if lap % 2 else step], index, "demo")

    with FacePipeline(backend="cpu", classify_every=classify_every) as pipeline:
        result = benchmark(one_frame)
    assert len(result.faces) == 2
