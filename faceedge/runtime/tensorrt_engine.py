"""A TensorRT engine built by `faceedge export gender --trt-fp16`, run with the TensorRT 10 API.

An engine is not portable: it runs only with the TensorRT version and on the GPU model it was
built for. Its manifest records both, and :class:`TensorRTEngine` refuses a mismatched engine
before deserializing it, with the command that rebuilds it.

TensorRT and cuda-python are imported only here, and only when an engine is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import GpuError, ModelError, require
from faceedge.manifest import Manifest, check_io, load_artifact


@dataclass(frozen=True)
class GpuTarget:
    """What an engine is bound to: the TensorRT version and the GPU model."""

    tensorrt: str
    gpu: str
    compute_capability: str  # "9.0"

    def to_dict(self) -> dict:
        return {"tensorrt": self.tensorrt, "gpu": self.gpu, "compute_capability": self.compute_capability}


def _cuda(call, *args):
    """Run a cuda-python runtime call; raise with the CUDA error's name instead of returning it."""
    cudart = require("cuda.bindings.runtime", "gpu")
    err, *results = call(*args)
    if err != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(err)
        raise GpuError(f"{call.__name__} failed: {name.decode() if isinstance(name, bytes) else name}")
    return results[0] if len(results) == 1 else tuple(results)


def current_target(device: int = 0) -> GpuTarget:
    """The TensorRT version and GPU of this machine.

    Raises:
        MissingExtraError: TensorRT or cuda-python is not installed.
        GpuError: no CUDA device.
    """
    trt = require("tensorrt", "gpu")
    cudart = require("cuda.bindings.runtime", "gpu")
    props = _cuda(cudart.cudaGetDeviceProperties, device)
    name = props.name.split(b"\0")[0].decode() if isinstance(props.name, bytes) else str(props.name)
    return GpuTarget(trt.__version__, name, f"{props.major}.{props.minor}")


def check_engine_target(manifest: Manifest, here: GpuTarget, source: str) -> None:
    """Refuse an engine built for another TensorRT version or GPU model, saying how to rebuild it.

    Raises:
        ModelError: the engine's recorded target differs from ``here``.
    """
    built = manifest.extra.get("target", {})
    wanted = {key: built.get(key) for key in ("tensorrt", "gpu", "compute_capability")}
    differences = [
        f"{key} {wanted[key]} (here: {value})"
        for key, value in here.to_dict().items()
        if wanted[key] != value
    ]
    if differences:
        # The command the export stage rendered from its record of how this engine was made.
        rebuild = manifest.extra.get("rebuild")
        how = f"rebuild it here with: {rebuild}" if rebuild else "rebuild it on this machine"
        raise ModelError(
            f"{source} was built for another machine: {', '.join(differences)}. TensorRT engines do not "
            f"move between TensorRT versions or GPU models; {how}"
        )


class TensorRTEngine:
    """Runs a gender engine on one batch of model input at a time, at most the profile's maximum
    (:class:`~faceedge.runtime.backends.tensorrt.TensorRTEngineBackend` is how callers run one).
    Device buffers are allocated once, at that maximum; :meth:`close` (or leaving a ``with`` block)
    frees them."""

    def __init__(self, path: str | Path, device: int = 0) -> None:
        trt = require("tensorrt", "gpu")
        self.cudart = require("cuda.bindings.runtime", "gpu")
        self.manifest, engine_file = load_artifact(path)
        check_engine_target(self.manifest, current_target(device), str(path))
        _cuda(self.cudart.cudaSetDevice, device)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_file.read_bytes())
        if self.engine is None:
            raise ModelError(f"TensorRT cannot deserialize {engine_file}; rebuild it on this machine")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        for kind, tensors in (("inputs", inputs), ("outputs", outputs)):
            shapes = [(n, tuple(self.engine.get_tensor_shape(n))) for n in tensors]
            check_io(self.manifest, kind, shapes, str(path))
        self.spec = self.manifest.inputs[0]
        self.input, self.output = self.spec.name, self.manifest.outputs[0].name
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input, 0)[2][0])
        recorded = self.manifest.extra.get("profile", {}).get("max")
        if recorded != self.max_batch:
            raise ModelError(
                f"{path}: the engine's largest batch is {self.max_batch}, its manifest says {recorded}"
            )
        sample = tuple(int(d) for d in self.spec.shape[1:])
        self.context = self.engine.create_execution_context()
        self.stream = self.d_input = self.d_output = None
        try:
            self.stream = _cuda(self.cudart.cudaStreamCreate)
            self.d_input = _cuda(self.cudart.cudaMalloc, self.max_batch * int(np.prod(sample)) * 4)
            self.d_output = _cuda(self.cudart.cudaMalloc, self.max_batch * 4)  # one float32 per image
        except Exception:
            self.close()
            raise
        self.context.set_tensor_address(self.input, int(self.d_input))
        self.context.set_tensor_address(self.output, int(self.d_output))

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """P(female) of one batch of model input (already laid out and scaled), at most ``max_batch``.

        Raises:
            ModelError: the engine is closed, or its profile does not take this shape.
            GpuError: a CUDA call or the engine's run failed.
        """
        if self.d_input is None:
            raise ModelError("this TensorRT engine has been closed")
        cudart, kind = self.cudart, self.cudart.cudaMemcpyKind
        if not self.context.set_input_shape(self.input, x.shape):
            raise ModelError(f"the engine's profile does not accept input shape {x.shape}")
        out = np.empty(tuple(self.context.get_tensor_shape(self.output)), dtype=np.float32)
        if out.size != len(x):
            raise ModelError(f"the engine gives {out.shape} for {len(x)} images, not one P(female) each")
        _cuda(
            cudart.cudaMemcpyAsync,
            self.d_input,
            x.ctypes.data,
            x.nbytes,
            kind.cudaMemcpyHostToDevice,
            self.stream,
        )
        if not self.context.execute_async_v3(int(self.stream)):
            raise GpuError("TensorRT failed to run the engine")
        _cuda(
            cudart.cudaMemcpyAsync,
            out.ctypes.data,
            self.d_output,
            out.nbytes,
            kind.cudaMemcpyDeviceToHost,
            self.stream,
        )
        _cuda(cudart.cudaStreamSynchronize, self.stream)
        return out.reshape(-1)

    def close(self) -> None:
        """Free the device buffers and the stream, then TensorRT's objects; safe to call twice."""
        for pointer in (self.d_input, self.d_output):
            if pointer is not None:
                _cuda(self.cudart.cudaFree, pointer)
        if self.stream is not None:
            _cuda(self.cudart.cudaStreamDestroy, self.stream)
        self.d_input = self.d_output = self.stream = None
        self.context = self.engine = self.runtime = None

    def __enter__(self) -> TensorRTEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
