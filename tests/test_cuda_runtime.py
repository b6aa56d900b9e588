"""The CUDA calls the TensorRT engine runner makes, through cuda-python, on a real GPU.

The runner (faceedge.runtime.tensorrt_engine) moves frames to the GPU and back with cuda-python's
runtime API and turns every CUDA error into a GpuError naming it. TensorRT itself is not needed
for that part, so it is checked wherever cuda-python and a GPU are present; skipped elsewhere.
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
