"""A TensorRT FP16 engine built from the exported ONNX with the TensorRT 10 Python API.

Written against NVIDIA's TensorRT 10 documentation: one optimization profile over the batch
dimension, a workspace limit, a timing cache read before and written after the build, and every
parser error gathered into one exception. FP16 is never dropped silently: an engine in
which no layer computes in FP16 fails the export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from faceedge.errors import EngineBuildError, require

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_MIB = 1024


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine accepts (``min`` to ``max``) and the one it is tuned for (``opt``)."""

    min: int = 1
    opt: int = 8
    max: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise EngineBuildError(
                f"a batch profile needs 1 <= min <= opt <= max, not {self.min} / {self.opt} / {self.max}"
            )

    def to_dict(self) -> dict:
        return {"min": self.min, "opt": self.opt, "max": self.max}


def _parse(trt, network, logger, onnx_bytes: bytes, source: str):
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT cannot parse {source}:\n" + "\n".join(errors))
    return parser


def _fp16_layers(trt, engine, input_name: str, shape: tuple[int, ...]) -> int:
    """How many of the engine's compute layers emit FP16 at input ``shape``.

    Needs detailed profiling verbosity, and an execution context with the input shape set: with a
    dynamic batch, the inspector reports no tensor formats without one. Reformat layers (layout and
    precision conversions) are not counted.
    """
    context = engine.create_execution_context()
    context.set_input_shape(input_name, shape)
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    count = 0
    for layer in info.get("Layers", []):
        if not isinstance(layer, dict) or layer.get("LayerType") == "Reformat":
            continue
        formats = " ".join(str(o.get("Format/Datatype", "")) for o in layer.get("Outputs", []))
        count += "FP16" in formats or "Half" in formats
    return count


def _attach_timing_cache(config, timing_cache: Path | None):
    """Give ``config`` the timing cache read from ``timing_cache`` where TensorRT can use it here,
    else a new, empty one (a cache made on another GPU or TensorRT, or that TensorRT cannot read,
    is replaced, with a warning). Returns the cache (which must outlive the build) and whether the
    file's was reused.

    Raises:
        EngineBuildError: TensorRT cannot create or attach even an empty timing cache.
    """
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    if cache_bytes:
        # create_timing_cache gives None for bytes it cannot read; set_timing_cache False for a
        # cache made by another TensorRT version or on another GPU.
        cache = config.create_timing_cache(cache_bytes)
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return cache, True
        why = "cannot be read by this TensorRT" if cache is None else "was made on another GPU or TensorRT"
        log.warning("the timing cache %s %s: starting a new one", timing_cache, why)
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        raise EngineBuildError(
            "TensorRT could not create an empty timing cache (see its log above); nothing was built"
        )
    return cache, False


def build_fp16_engine(
    onnx_path: Path,
    profile: BatchProfile,
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: Path | None = None,
) -> tuple[bytes, bytes | None, dict]:
    """Build an FP16 engine for the ONNX at ``onnx_path``, starting from the timing cache at
    ``timing_cache`` when it is usable on this GPU.

    Returns the serialized engine, the updated timing cache (for the caller to save once the engine
    is accepted), and what the manifest records about the engine (target, profile, FP16 layers,
    build settings).

    Raises:
        MissingExtraError: TensorRT or cuda-python is missing.
        EngineBuildError: parsing or building fails, or no layer runs in FP16.
    """
    from faceedge.runtime.tensorrt_engine import current_target

    trt = require("tensorrt", "gpu")
    target = current_target()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
    _parse(trt, network, logger, onnx_path.read_bytes(), str(onnx_path))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    config.set_flag(trt.BuilderFlag.FP16)  # deprecated since 10.12 in favour of strong typing; 10.x keeps it
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    tensor = network.get_input(0)
    sample = tuple(tensor.shape)[1:]
    optimization = builder.create_optimization_profile()
    optimization.set_shape(
        tensor.name, (profile.min, *sample), (profile.opt, *sample), (profile.max, *sample)
    )
    config.add_optimization_profile(optimization)
    # The cache object must outlive the build, hence a name for it.
    cache, reused = _attach_timing_cache(config, timing_cache)

    log.info("building a TensorRT %s FP16 engine for %s (batch %s)", trt.__version__, target.gpu, profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    updated_cache = config.get_timing_cache()
    cache_out = bytes(updated_cache.serialize()) if updated_cache is not None else None
    engine_bytes = bytes(plan)

    engine = trt.Runtime(logger).deserialize_cuda_engine(engine_bytes)
    if engine is None:
        raise EngineBuildError(f"TensorRT cannot load the engine it just built from {onnx_path}")
    fp16_layers = _fp16_layers(trt, engine, tensor.name, (profile.opt, *sample))
    if fp16_layers == 0:
        raise EngineBuildError(f"TensorRT built {onnx_path} with no FP16 layer on {target.gpu}: refusing it")
    return (
        engine_bytes,
        cache_out,
        {
            "target": target.to_dict(),
            "profile": profile.to_dict(),
            "fp16_layers": fp16_layers,
            "workspace_mib": workspace_mib,
            "timing_cache": str(timing_cache) if timing_cache else None,
            "timing_cache_reused": reused,
        },
    )
