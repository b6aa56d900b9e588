"""The runtime side stays lean: importing it never loads the training stack."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx")


def test_importing_the_runtime_loads_no_training_package():
    code = (
        "import sys\n"
        "import faceedge.runtime, faceedge.runtime.blazeface, faceedge.runtime.tensorrt_engine\n"
        "import faceedge.runtime.inputs, faceedge.bundled, faceedge.manifest\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
