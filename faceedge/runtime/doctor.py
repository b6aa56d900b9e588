"""`faceedge doctor`: what this machine can really run, found by trying, on one screen."""

from __future__ import annotations

import glob
import importlib.metadata
import json
import os
import platform
import shutil
import signal
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
    TensorFlow. The ONNX Runtime checks run side by side, each in its own child, so that all of them
    end within one :data:`TRY_BACKEND_TIMEOUT_S` however many are stuck."""
    from concurrent.futures import ThreadPoolExecutor

    from faceedge.runtime.backends import BACKENDS

    onnx = [kind.name for kind in BACKENDS.values() if kind.artifact_suffix == ".onnx"]
    with ThreadPoolExecutor(max_workers=max(len(onnx), 1)) as pool:
        tried = dict(zip(onnx, pool.map(try_backend, onnx)))
    found = []
    for kind in BACKENDS.values():
        if kind.artifact_suffix == ".onnx":
            found.append(tried[kind.name])
        elif kind.artifact_suffix == ".keras":
            found.append(_keras_found(kind.name))
        else:
            found.append(_engine_target(kind.name))
    return found


# Run in a fresh interpreter: opens the bundled classifier on one backend (which runs one image)
# and prints, as its last line, whether it did and on what.
_TRY_BACKEND = """
import json, sys
from faceedge.bundled import bundled_path
from faceedge.runtime.backends import open_backend
try:
    backend = open_backend(bundled_path("gender"), "gender", sys.argv[1])
    result = {"ok": True, "detail": "runs on " + ", ".join(backend.providers)}
    backend.close()
except Exception as exc:
    result = {"ok": False, "detail": str(exc)}
print(json.dumps(result))
"""
# The TensorRT provider builds its engine at the first run, which can take minutes on a new GPU;
# under scripts/gpu_check.sh's 300 s limit for the whole doctor step (the checks run side by side).
TRY_BACKEND_TIMEOUT_S = 240


def try_backend(name: str) -> Finding:
    """Open the bundled classifier on the ONNX Runtime backend ``name`` as `faceedge run` would in a
    fresh process, in a child interpreter: what this process has already loaded (``tensorrt``,
    imported by :func:`_packages`, loads the libraries the TensorRT provider needs) must not make a
    backend look usable, and a backend whose libraries crash the process is reported, not fatal."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TRY_BACKEND, name],
            capture_output=True,
            text=True,
            errors="replace",  # a native library may write bytes that are not UTF-8
            timeout=TRY_BACKEND_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:  # its str() would quote the whole child script
        return Finding("backend", name, False, f"the check did not finish in {TRY_BACKEND_TIMEOUT_S} s")
    except (OSError, subprocess.SubprocessError) as exc:
        return Finding("backend", name, False, f"could not be tried: {exc}")
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
        return Finding("backend", name, bool(result["ok"]), str(result["detail"]))
    except (IndexError, ValueError, KeyError, TypeError):
        said = done.stderr.strip().splitlines()
        return Finding(
            "backend",
            name,
            False,
            f"the check {_ended(done.returncode)}" + (f": {said[-1]}" if said else ""),
        )


def _ended(returncode: int) -> str:
    """How the child ended: its exit status, or the signal that killed it (a negative return code)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


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
