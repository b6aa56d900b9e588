"""The CUDA calls the TensorRT engine runner makes, through cuda-python, on a real GPU.

The runner (faceedge.runtime.tensorrt_engine) moves frames to the GPU and back with cuda-python's
runtime API and turns every CUDA error into a GpuError naming it. TensorRT itself is not needed
for that part, so it is checked wherever cuda-python and a GPU are present; skipped elsewhere.

ONNX Runtime's CUDA and TensorRT providers are checked against its CPU on the bundled model,
within the export gate's FP16 limits, wherever onnxruntime-gpu and a GPU are; skipped elsewhere.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from faceedge.errors import GpuError


def _cudart():
    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        pytest.skip("cuda-python is not installed (extra 'gpu')")
    from cuda.bindings import runtime as cudart

    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count == 0:
        pytest.skip("no CUDA GPU on this machine")
    return cudart


def test_frames_go_to_the_gpu_and_back_as_the_engine_runner_moves_them():
    from faceedge.runtime.tensorrt_engine import _cuda

    cudart = _cudart()
    kind = cudart.cudaMemcpyKind
    batch = np.random.default_rng(0).uniform(0, 255, (8, 96, 96, 3)).astype(np.float32)
    back = np.empty_like(batch)
    stream = _cuda(cudart.cudaStreamCreate)
    device = _cuda(cudart.cudaMalloc, batch.nbytes)
    try:
        _cuda(
            cudart.cudaMemcpyAsync,
            device,
            batch.ctypes.data,
            batch.nbytes,
            kind.cudaMemcpyHostToDevice,
            stream,
        )
        _cuda(
            cudart.cudaMemcpyAsync, back.ctypes.data, device, back.nbytes, kind.cudaMemcpyDeviceToHost, stream
        )
        _cuda(cudart.cudaStreamSynchronize, stream)
    finally:
        _cuda(cudart.cudaFree, device)
        _cuda(cudart.cudaStreamDestroy, stream)
    np.testing.assert_array_equal(back, batch)


def test_a_failing_cuda_call_raises_gpu_error_with_the_cuda_error_name():
    from faceedge.runtime.tensorrt_engine import _cuda

    cudart = _cudart()
    with pytest.raises(GpuError, match="cudaSetDevice failed: cudaErrorInvalidDevice"):
        _cuda(cudart.cudaSetDevice, 1_000)


def _gpu_providers_or_skip(backend: str) -> None:
    """Skip, with the reason, where ONNX Runtime's ``backend`` provider cannot be tried: an
    onnxruntime without it, or no CUDA GPU. Where both are here the provider must really run: a
    GPU box on which it does not load fails the test rather than skipping it."""
    import shutil
    import subprocess

    from faceedge.runtime.backends.onnxruntime import PROVIDER

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    if PROVIDER[backend] not in ort.get_available_providers():
        pytest.skip(f"this onnxruntime ({ort.__version__}) has no {PROVIDER[backend]} (extra 'gpu', GPU box)")
    smi = shutil.which("nvidia-smi")
    listed = smi and subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30).stdout
    if not listed or "GPU" not in listed:
        pytest.skip("no CUDA GPU on this machine (nvidia-smi lists none)")


def _demo_chips(frames: list[np.ndarray], size: int, count: int = 64) -> np.ndarray:
    """``count`` RGB chips of natural images (square crops of the demo clip at four places and
    scales), so the comparison spans real activations rather than noise."""
    import cv2

    chips = []
    for frame in frames:
        height, width = frame.shape[:2]
        for side, (top, left) in (
            (height, (0, 0)),
            (height // 2, (height // 4, width // 3)),
            (height // 3, (0, width // 2)),
            (height // 4, (height // 2, width // 4)),
        ):
            crop = frame[top : top + side, left : left + side]
            chips.append(
                cv2.cvtColor(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            )
            if len(chips) == count:
                return np.stack(chips)
    return np.stack(chips)


@pytest.mark.parametrize("backend", ["cuda", "tensorrt"])
def test_the_gpu_providers_answer_like_the_cpu_within_the_fp16_gate(backend, demo_frames, tmp_path):
    """The bundled model on ONNX Runtime's CUDA and TensorRT providers against the CPU: both heads
    within the export gate's FP16 limits on the probe images (the TensorRT provider computes in
    FP16; CUDA in FP32, possibly TF32, which the same limits cover)."""
    from faceedge.bundled import bundled_path
    from faceedge.export.gate import (
        MAX_FP16_ABS_DIFF,
        MAX_FP16_AGE_ABS_DIFF,
        PROBE_IMAGES,
        age_parity_checks,
        parity_checks,
    )
    from faceedge.runtime.classifier import GenderClassifier

    _gpu_providers_or_skip(backend)
    model = bundled_path("gender")
    with GenderClassifier(model, backend="cpu") as cpu:
        chips = _demo_chips(demo_frames, cpu.input_size, PROBE_IMAGES)
        cpu_p, cpu_age = cpu.predict_heads(chips)
    with GenderClassifier(model, backend=backend, cache_dir=tmp_path) as gpu:
        assert (
            gpu.backend.providers[0]
            == {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[backend]
        )
        gpu_p, gpu_age = gpu.predict_heads(chips)
    # One decision may flip, and only for an image within MAX_FP16_ABS_DIFF of the threshold.
    checks = parity_checks(cpu_p, gpu_p, PROBE_IMAGES, MAX_FP16_ABS_DIFF, max_disagreement=1 / len(chips))
    if cpu_age is not None:
        checks += age_parity_checks(cpu_age, gpu_age, PROBE_IMAGES, MAX_FP16_AGE_ABS_DIFF)
    failed = [check.describe() for check in checks if not check.passed]
    assert not failed, f"{backend} against cpu: {failed}"
