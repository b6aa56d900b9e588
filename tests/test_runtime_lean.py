"""The runtime side stays lean: importing it, or starting `faceedge run`, never loads the training stack."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "skimage", "tensorrt")
RUNTIME_MODULES = (
    "faceedge.runtime",
    "faceedge.runtime.pipeline",
    "faceedge.runtime.run",
    "faceedge.runtime.cli",
    "faceedge.runtime.doctor",
    "faceedge.runtime.sources",
    "faceedge.runtime.outputs",
    "faceedge.runtime.yunet",
    "faceedge.runtime.blazeface",
    "faceedge.runtime.tensorrt_engine",
    "faceedge.runtime.backends.onnxruntime",
    "faceedge.runtime.backends.tensorrt",
    "faceedge.bundled",
    "faceedge.manifest",
)


RUN_ONE_FRAME = (
    "import numpy as np\n"
    "from faceedge.runtime.pipeline import FacePipeline\n"
    "with FacePipeline(backend='cpu') as p:\n"
    "    p.process(np.zeros((240, 320, 3), np.uint8))\n"
)


def _modules_after(code: str) -> list[str]:
    """Every module a fresh interpreter has loaded once it has run ``code``."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _heavy_modules_after(code: str) -> list[str]:
    return sorted({m.split(".")[0] for m in _modules_after(code)} & set(HEAVY))


def test_importing_the_runtime_loads_no_training_package():
    assert _heavy_modules_after("\n".join(f"import {m}" for m in RUNTIME_MODULES)) == []


def test_running_the_pipeline_loads_no_training_package():
    assert _heavy_modules_after(RUN_ONE_FRAME) == []


OTHER_STAGES = ("faceedge.data", "faceedge.train", "faceedge.evaluate", "faceedge.export")

# Every module of the runtime, each imported on its own, except one whose optional extra (the
# server's FastAPI, say) is not installed here.
IMPORT_EVERY_RUNTIME_MODULE = """
import importlib, pkgutil, faceedge.runtime
for found in pkgutil.walk_packages(faceedge.runtime.__path__, "faceedge.runtime."):
    try:
        importlib.import_module(found.name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("faceedge"):
            raise
"""


def _stages_after(code: str) -> list[str]:
    return [m for m in _modules_after(code) if m.startswith(OTHER_STAGES)]


def test_the_runtime_imports_no_other_stage():
    assert _stages_after(IMPORT_EVERY_RUNTIME_MODULE) == []


def test_running_the_pipeline_imports_no_other_stage():
    assert _stages_after(RUN_ONE_FRAME) == []


def test_faceedge_run_help_loads_no_training_package():
    code = (
        "from typer.testing import CliRunner\n"
        "from faceedge.cli import app\n"
        "assert CliRunner().invoke(app, ['run', '--help']).exit_code == 0\n"
    )
    assert _heavy_modules_after(code) == []
