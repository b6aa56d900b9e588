"""A TensorRT engine built by `faceedge export gender --trt-fp16`, run with the TensorRT 10 API.

Every output the manifest names (P(female), and the age of a two-head model) has its own device
buffer and comes back under its name.

An engine is not portable: it runs only with the TensorRT version and on the GPU model it was
built for. Its manifest records both, and :class:`TensorRTEngine` refuses a mismatched engine
before deserializing it, with the command that rebuilds it.

TensorRT and cuda-python are imported only here, and only when an engine is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedge.errors import BackendError, GpuError, ModelError, require
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


@dataclass(frozen=True)
class OutputBuffer:
    """How one output of an engine is held on the device: ``sample`` is its shape for one image
    (the manifest's shape without the batch), ``dtype`` the engine's type for it."""

    name: str
    sample: tuple[int, ...]
    dtype: np.dtype

    def nbytes(self, batch: int) -> int:
        return batch * int(np.prod(self.sample, dtype=np.int64)) * self.dtype.itemsize


def output_buffers(manifest: Manifest, dtypes: dict[str, np.dtype], source: str) -> tuple[OutputBuffer, ...]:
    """One buffer per output the manifest names (``p_female``, and ``age`` for a two-head model),
    in its order, typed as the engine reports (``dtypes``, by name).

    Raises:
        ModelError: an output has a dynamic size beyond the batch, or the engine does not name it.
    """
    buffers = []
    for spec in manifest.outputs:
        sample = spec.shape[1:]
        if not all(isinstance(d, int) for d in sample) or spec.name not in dtypes:
            raise ModelError(f"{source}: cannot hold the output {spec.name!r} {spec.shape} of this engine")
        buffers.append(OutputBuffer(spec.name, tuple(sample), np.dtype(dtypes[spec.name])))
    return tuple(buffers)


@dataclass(frozen=True)
class InputBuffer:
    """What the engine's one input buffer holds: ``sample`` is the shape of one image's input,
    ``dtype`` the engine's own type for it, ``min_batch``/``max_batch`` the profile's range (the
    buffer is allocated for ``max_batch``)."""

    name: str
    sample: tuple[int, ...]
    dtype: np.dtype
    min_batch: int
    max_batch: int

    def nbytes(self, batch: int) -> int:
        return batch * int(np.prod(self.sample, dtype=np.int64)) * self.dtype.itemsize

    def check(self, x: np.ndarray) -> None:
        """Refuse, before any byte is copied to the GPU, an array that is not exactly what the
        buffer holds: a copy takes ``x.nbytes`` raw bytes from ``x``'s address, so another dtype or
        a larger batch would overrun the buffer and a strided view would copy the wrong pixels.
        Never converted silently (as ONNX Runtime refuses a mistyped feed rather than casting it).

        Raises:
            BackendError: ``x`` has another dtype, another per-image shape, a batch outside the
                profile, or is not C-contiguous.
        """
        if not isinstance(x, np.ndarray):
            raise BackendError(
                f"the engine's input {self.name!r} takes a numpy array, not {type(x).__name__}"
            )
        if x.dtype != self.dtype:
            raise BackendError(f"the engine's input {self.name!r} is {self.dtype}, not {x.dtype}")
        if x.ndim != len(self.sample) + 1 or tuple(x.shape[1:]) != self.sample:
            raise BackendError(
                f"the engine's input {self.name!r} takes (batch, {', '.join(map(str, self.sample))}), "
                f"not {tuple(x.shape)}"
            )
        if not self.min_batch <= len(x) <= self.max_batch:
            raise BackendError(
                f"the engine takes batches of {self.min_batch} to {self.max_batch} images, not {len(x)}"
            )
        if not x.flags.c_contiguous:
            raise BackendError(
                f"the engine's input {self.name!r} must be C-contiguous (np.ascontiguousarray)"
            )


class TensorRTEngine:
    """Runs a gender engine on one batch of model input at a time, at most the profile's maximum
    (:class:`~faceedge.runtime.backends.tensorrt.TensorRTEngineBackend` is how callers run one),
    and gives every output its manifest names, by name. Device buffers are allocated once per
    tensor, at that maximum; :meth:`close` (or leaving a ``with`` block) frees them."""

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
        self.input = self.spec.name
        dtypes = {n: trt.nptype(self.engine.get_tensor_dtype(n)) for n in names}
        self.outputs = output_buffers(self.manifest, dtypes, str(path))
        self.input_buffer = self._input_buffer(dtypes[self.input], str(path))
        self.max_batch = self.input_buffer.max_batch
        self.context = self.engine.create_execution_context()
        self.stream = self.d_input = None
        self.d_outputs: dict[str, int] = {}
        try:
            self.stream = _cuda(self.cudart.cudaStreamCreate)
            self.d_input = _cuda(self.cudart.cudaMalloc, self.input_buffer.nbytes(self.max_batch))
            for out in self.outputs:
                self.d_outputs[out.name] = _cuda(self.cudart.cudaMalloc, out.nbytes(self.max_batch))
        except Exception:
            self.close()
            raise
        self.context.set_tensor_address(self.input, int(self.d_input))
        for name, pointer in self.d_outputs.items():
            self.context.set_tensor_address(name, int(pointer))

    def _input_buffer(self, dtype, source: str) -> InputBuffer:
        """The input's description from the engine itself (its type, its profile's batch range),
        checked against the manifest the runtime feeds by.

        Raises:
            ModelError: the engine's input type or largest batch is not its manifest's.
        """
        min_shape, _, max_shape = self.engine.get_tensor_profile_shape(self.input, 0)
        buffer = InputBuffer(
            self.input,
            tuple(int(d) for d in self.spec.shape[1:]),
            np.dtype(dtype),
            int(min_shape[0]),
            int(max_shape[0]),
        )
        recorded = self.manifest.extra.get("profile", {}).get("max")
        if recorded != buffer.max_batch:
            raise ModelError(
                f"{source}: the engine's largest batch is {buffer.max_batch}, its manifest says {recorded}"
            )
        if buffer.dtype != np.dtype(self.spec.dtype):
            raise ModelError(
                f"{source}: the engine's input {self.input!r} is {buffer.dtype}, "
                f"its manifest says {self.spec.dtype}"
            )
        return buffer

    def run_batch(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output, by name, of one batch of model input (already laid out and scaled, of the
        engine's input dtype, C-contiguous), of ``min_batch`` to ``max_batch`` images: each
        ``(n, *sample)``.

        Raises:
            BackendError: ``x`` is not what the engine's input buffer holds (see
                :meth:`InputBuffer.check`); nothing was copied.
            ModelError: the engine is closed, or its profile does not take this shape.
            GpuError: a CUDA call or the engine's run failed.
        """
        if self.d_input is None:
            raise ModelError("this TensorRT engine has been closed")
        self.input_buffer.check(x)
        cudart, kind = self.cudart, self.cudart.cudaMemcpyKind
        if not self.context.set_input_shape(self.input, x.shape):
            raise ModelError(f"the engine's profile does not accept input shape {x.shape}")
        results = {}
        for out in self.outputs:
            shape = tuple(self.context.get_tensor_shape(out.name))
            if shape != (len(x), *out.sample):
                raise ModelError(
                    f"the engine gives {out.name} {shape} for {len(x)} images, not {(len(x), *out.sample)}"
                )
            results[out.name] = np.empty(shape, dtype=out.dtype)
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
        for name, host in results.items():
            _cuda(
                cudart.cudaMemcpyAsync,
                host.ctypes.data,
                self.d_outputs[name],
                host.nbytes,
                kind.cudaMemcpyDeviceToHost,
                self.stream,
            )
        _cuda(cudart.cudaStreamSynchronize, self.stream)  # the host arrays are filled only now
        return results

    def close(self) -> None:
        """Free the device buffers and the stream, then TensorRT's objects; safe to call twice."""
        for pointer in (self.d_input, *self.d_outputs.values()):
            if pointer is not None:
                _cuda(self.cudart.cudaFree, pointer)
        if self.stream is not None:
            _cuda(self.cudart.cudaStreamDestroy, self.stream)
        self.d_input = self.stream = None
        self.d_outputs = {}
        self.context = self.engine = self.runtime = None

    def __enter__(self) -> TensorRTEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
