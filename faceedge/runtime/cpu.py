"""Whether this CPU has fast integer dot products, the instructions that make INT8 inference pay.

ONNX Runtime's INT8 kernels use x86's VNNI (``avx512_vnni``, ``avx_vnni``) or ARM's dot-product
and matrix-multiply instructions (``asimddp``, ``i8mm``) where the CPU has them. The bundled INT8
classifier was measured at 3.2x to 3.6x the FP32 one at batch 32 on AVX-512 VNNI CPUs (docs/benchmarks.md);
on AVX-VNNI and ARM it is chosen for the same instructions but not yet measured, and on a CPU
without any of them FP32 stays the default (:mod:`faceedge.runtime.precision`).
"""

from __future__ import annotations

import logging
import platform
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Feature words as Linux's /proc/cpuinfo spells them, and the family each belongs to.
FAST_INT8_FEATURES = {
    "avx512_vnni": "VNNI",
    "avx_vnni": "VNNI",
    "asimddp": "the ARM dot product",
    "i8mm": "the ARM INT8 matrix multiply",
}
# macOS reports its features through `sysctl hw.optional`: the keys that mean the same.
SYSCTL_FEATURES = {
    "hw.optional.arm.FEAT_DotProd": "asimddp",
    "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.avx512vnni": "avx512_vnni",
}


@dataclass(frozen=True)
class Int8Dot:
    """Whether this CPU has fast integer dot products, the features that say so, and why, in words
    for the log ("this CPU has VNNI")."""

    fast: bool
    features: tuple[str, ...]
    reason: str


def features_from_cpuinfo(text: str) -> frozenset[str]:
    """The feature words of a Linux ``/proc/cpuinfo``: x86's ``flags`` lines, ARM's ``Features``."""
    found: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            found.update(value.split())
    return frozenset(found)


def features_from_sysctl(text: str) -> frozenset[str]:
    """The features of :data:`SYSCTL_FEATURES` that macOS's ``sysctl hw.optional`` output sets to 1,
    in /proc/cpuinfo's words."""
    found = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in SYSCTL_FEATURES and value.strip() == "1":
            found.add(SYSCTL_FEATURES[key.strip()])
    return frozenset(found)


def cpu_features(system: str | None = None) -> frozenset[str] | None:
    """This CPU's feature words (Linux's /proc/cpuinfo, macOS's sysctl), or None where they cannot
    be read here (another system, or the file or command failing): unknown, never guessed."""
    system = system or platform.system()
    try:
        if system == "Linux":
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
                return features_from_cpuinfo(cpuinfo.read())
        if system == "Darwin":
            done = subprocess.run(
                ["sysctl", "hw.optional"], capture_output=True, text=True, timeout=5, check=False
            )
            return features_from_sysctl(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("CPU features unreadable: %s", exc)
    return None


def int8_dot(features: frozenset[str] | None) -> Int8Dot:
    """Whether ``features`` (from :func:`cpu_features`; None: unknown) include fast integer dot
    products, and the reason in words."""
    if features is None:
        return Int8Dot(False, (), "this CPU's features could not be read here")
    found = tuple(name for name in FAST_INT8_FEATURES if name in features)
    if not found:
        return Int8Dot(False, (), "this CPU has no fast INT8 dot products (VNNI, ARM dot product)")
    families = list(dict.fromkeys(FAST_INT8_FEATURES[name] for name in found))
    return Int8Dot(True, found, f"this CPU has {' and '.join(families)}")


def int8_dot_here() -> Int8Dot:
    """:func:`int8_dot` of this machine's CPU."""
    return int8_dot(cpu_features())
