"""`faceedge doctor`: what this machine can really run, found by trying, on one screen."""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

import numpy as np

from faceedge import __version__


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was looked at, whether it works, and the detail."""

    section: str
    name: str
    ok: bool
    detail: str


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packages() -> list[Finding]:
    import cv2

    found = [
        Finding(
            "system",
            "faceedge",
            True,
            f"{__version__} on Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        ),
        Finding("system", "numpy", True, np.__version__),
        Finding("system", "opencv", True, f"{cv2.__version__}" + _opencv_cuda()),
    ]
    cpu, gpu = _version("onnxruntime"), _version("onnxruntime-gpu")
    if cpu and gpu:
        found.append(
            Finding(
                "system",
                "onnxruntime",
                False,
                f"both onnxruntime {cpu} and onnxruntime-gpu {gpu} "
                "are installed and overwrite each other: uninstall both, install one",
            )
        )
    elif cpu or gpu:
        found.append(Finding("system", "onnxruntime", True, f"{'onnxruntime-gpu ' + gpu if gpu else cpu}"))
    else:
        found.append(Finding("system", "onnxruntime", False, "not installed: pip install 'faceedge[cpu]'"))
    for name, module in (("tensorrt", "tensorrt"), ("cuda-python", "cuda.bindings")):
        try:
            mod = __import__(module, fromlist=["_"])
            found.append(
                Finding("system", name, True, getattr(mod, "__version__", "") or _version(name) or "?")
            )
        except ImportError:
            found.append(Finding("system", name, False, "not installed (extra 'gpu')"))
    return found


def _opencv_cuda() -> str:
    import cv2

    try:
        count = cv2.cuda.getCudaEnabledDeviceCount()
    except (AttributeError, cv2.error):
        count = 0
    return f", built with CUDA ({count} devices)" if count else ""


def gpu_findings() -> list[Finding]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [Finding("gpu", "nvidia", False, "no nvidia-smi on PATH: no NVIDIA driver found")]
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,compute_cap,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [Finding("gpu", "nvidia", False, f"nvidia-smi failed: {exc}")]
    rows = [line.split(", ") for line in out.strip().splitlines() if line.strip()]
    if not rows:
        return [Finding("gpu", "nvidia", False, "nvidia-smi lists no GPU")]
    return [
        Finding("gpu", f"cuda:{r[0]}", True, f"{r[1]}, compute capability {r[2]}, {r[3]}, driver {r[4]}")
        for r in rows
        if len(r) >= 5
    ]


def _backends() -> list[Finding]:
    """Open the bundled classifier on every ONNX Runtime backend and run one image through it; for
    the native engine, find TensorRT and the GPU that an engine would be built for; for Keras, find
    TensorFlow."""
    from faceedge.bundled import bundled_path
    from faceedge.runtime.backends import BACKENDS, open_backend

    found = []
    model = bundled_path("gender")
    for kind in BACKENDS.values():
        if kind.artifact_suffix != ".onnx":
            found.append(
                _keras_found(kind.name) if kind.artifact_suffix == ".keras" else _engine_target(kind.name)
            )
            continue
        backend = None
        try:
            backend = open_backend(model, "gender", kind.name)  # runs one image when it opens
            found.append(Finding("backend", kind.name, True, f"runs on {', '.join(backend.providers)}"))
        except Exception as exc:  # a diagnosis reports every failure and goes on to the next
            found.append(Finding("backend", kind.name, False, str(exc)))
        finally:
            if backend is not None:
                backend.close()
    return found


def _keras_found(name: str) -> Finding:
    import importlib.util

    # Found, not imported: importing TensorFlow takes seconds and the runtime never needs it.
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        return Finding("backend", name, False, "TensorFlow is not installed (extra 'train')")
    return Finding("backend", name, True, "TensorFlow and Keras are installed: runs trained .keras models")


def _engine_target(name: str) -> Finding:
    from faceedge.runtime.tensorrt_engine import current_target

    try:
        target = current_target()
    except Exception as exc:  # a diagnosis reports every failure and goes on to the next
        return Finding("backend", name, False, str(exc))
    return Finding(
        "backend",
        name,
        True,
        f"TensorRT {target.tensorrt} on {target.gpu} (compute capability {target.compute_capability}): "
        "runs engines built here with `faceedge export gender ... --trt-fp16`",
    )


def _models() -> list[Finding]:
    from faceedge.bundled import bundled_artifacts

    return [
        Finding(
            "model",
            a.name,
            a.intact,
            f"{a.manifest.task} {a.manifest.precision}"
            if a.intact and a.manifest
            else a.problem or "unreadable",
        )
        for a in bundled_artifacts()
    ]


def _io() -> list[Finding]:
    from faceedge.runtime.outputs import display_available

    cameras = sorted(glob.glob("/dev/video*")) if sys.platform.startswith("linux") else []
    found = [
        Finding(
            "io",
            "display",
            display_available(),
            "a window can open" if display_available() else "no display: `faceedge run` runs headless",
        )
    ]
    if sys.platform.startswith("linux"):
        found.append(Finding("io", "cameras", bool(cameras), ", ".join(cameras) or "no /dev/video* device"))
    return found


def diagnose() -> list[Finding]:
    """Everything `faceedge doctor` reports, each found by trying it."""
    return [*_packages(), *gpu_findings(), *_backends(), *_models(), *_io()]


def findings_to_dicts(findings: list[Finding]) -> list[dict]:
    return [asdict(f) for f in findings]
