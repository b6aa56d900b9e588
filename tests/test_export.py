"""The export stage on a small model trained in the test: round trips, gates, manifests, INT8."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceedge.bundled import bundled_path
from faceedge.errors import ExportGateError, ModelError
from faceedge.manifest import manifest_path, read_manifest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _test_chips(model, data):
    from faceedge.data.split import read_split
    from faceedge.data.utkface import load_utkface
    from faceedge.imaging import decode_chips

    test = read_split(model.parent / "split.csv").apply(load_utkface(data), "test")
    return decode_chips([s.data for s in test.samples], 32), test


def test_fp32_onnx_reloads_and_matches_keras(source, exported):
    from faceedge.evaluate.predictors import open_classifier

    model, data = source
    (fp32, *_), out = exported
    assert fp32.path == out / "gender.onnx" and (out / "gender.manifest.json").is_file()
    chips, _ = _test_chips(model, data)
    onnx_p = open_classifier(fp32.path).predict(chips)
    keras_p = open_classifier(model).predict(chips)
    assert np.max(np.abs(onnx_p - keras_p)) <= 1e-4
    # The gate's figures are the ones measured here.
    assert fp32.manifest.accuracy["n"] == len(chips)
    recorded = fp32.manifest.accuracy["max_abs_diff_vs_keras"]
    assert recorded == pytest.approx(float(np.max(np.abs(onnx_p[:64] - keras_p[:64]))), abs=1e-7)


def test_the_onnx_graph_has_the_stable_names_a_named_batch_and_its_manifest_in_metadata(exported):
    (fp32, *_), _ = exported
    proto = onnx.load(str(fp32.path))
    (image,) = proto.graph.input
    (output,) = proto.graph.output
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert (image.name, dims) == ("image", ["batch", 32, 32, 3])
    assert output.name == "p_female"
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == ["batch", 1]
    assert proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["faceedge.model_id"] == fp32.manifest.model_id
    assert json.loads(meta["faceedge.labels"]) == ["male", "female"]
    assert json.loads(meta["faceedge.inputs"])[0]["layout"] == "NHWC"


def test_the_manifest_records_hashes_io_tools_and_accuracy(exported):
    from faceedge.manifest import read_manifest, sha256_file

    (fp32, int8, fp16), out = exported
    for artifact in (fp32, int8, fp16):
        manifest = read_manifest(out / artifact.path.name.replace(".onnx", ".manifest.json"))
        assert manifest == artifact.manifest
        assert manifest.files == {artifact.path.name: sha256_file(artifact.path)}
        assert manifest.inputs[0].shape == ("batch", 32, 32, 3) and manifest.inputs[0].color == "RGB"
        assert manifest.decision["threshold"] == 0.5 and manifest.decision["positive"] == "female"
        assert set(manifest.tools) >= {"tensorflow", "tf2onnx", "onnx", "onnxruntime", "faceedge"}
        assert 0 <= manifest.accuracy["accuracy"] <= 1
        assert manifest.source["file"] == "model.keras" and len(manifest.source["sha256"]) == 64
    assert int8.manifest.precision == "int8" and int8.manifest.extra["calibration"]["images"] == 48
    # Each manifest records how the export was asked for.
    from faceedge.export.options import RECORD_KEY, ExportRecord

    for artifact in (fp32, int8, fp16):
        record = ExportRecord.from_dict(artifact.manifest.extra[RECORD_KEY])
        assert record.options.formats == ("fp32", "int8", "fp16") and record.options.calibration_images == 48
        assert record.model.name == "model.keras" and record.out == out
    # Synthetic chips hold no face: the manifest says their framing could not be measured.
    assert "found no face" in fp32.manifest.preprocessing["crop"]["unmeasured"]


def test_int8_is_quantized_smaller_and_within_half_a_point(exported):
    (fp32, int8, _), _ = exported
    proto = onnx.load(str(int8.path))
    ops = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # Unsigned activations, signed weights: the pairing ONNX Runtime's x86 kernels run fastest.
    initializers = {i.name: i for i in proto.graph.initializer}
    quantize_zero_points = {
        initializers[node.input[2]].data_type for node in proto.graph.node if node.op_type == "QuantizeLinear"
    }
    assert quantize_zero_points == {onnx.TensorProto.UINT8}
    weight_zero_points = {
        initializers[node.input[2]].data_type
        for node in proto.graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in initializers
    }
    assert onnx.TensorProto.INT8 in weight_zero_points
    assert int8.size_bytes < fp32.size_bytes
    assert fp32.manifest.accuracy["accuracy"] - int8.manifest.accuracy["accuracy"] <= 0.005


def test_fp16_computes_in_half_precision_behind_float32_inputs_and_outputs(source, exported):
    from faceedge.evaluate.predictors import open_classifier

    model, data = source
    (fp32, _, fp16), _ = exported
    proto = onnx.load(str(fp16.path))
    float16 = onnx.TensorProto.FLOAT16
    assert all(
        v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        for v in (*proto.graph.input, *proto.graph.output)
    )
    assert sum(t.data_type == float16 for t in proto.graph.initializer) > len(proto.graph.initializer) // 2
    assert fp16.manifest.precision == "fp16" and fp16.size_bytes < 0.6 * fp32.size_bytes
    chips, _ = _test_chips(model, data)
    difference = open_classifier(fp16.path).predict(chips) - open_classifier(model).predict(chips)
    assert 0 < np.max(np.abs(difference)) <= 5e-3  # not FP32 in disguise, and within the gate


def test_a_changed_byte_or_a_foreign_manifest_is_refused_when_the_model_is_loaded(exported, tmp_path):
    import shutil

    from faceedge.evaluate.predictors import open_classifier

    (fp32, *_), out = exported
    copy = tmp_path / "gender.onnx"
    shutil.copy(fp32.path, copy)
    shutil.copy(out / "gender.manifest.json", tmp_path / "gender.manifest.json")
    open_classifier(copy)  # intact: opens

    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="not the file that was exported"):
        open_classifier(copy)

    shutil.copy(fp32.path, copy)
    manifest = json.loads((tmp_path / "gender.manifest.json").read_text())
    manifest["inputs"][0]["name"] = "pixels"
    (tmp_path / "gender.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="do not belong together"):
        open_classifier(copy)

    manifest["schema_version"] = 99
    (tmp_path / "gender.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="manifest version 99"):
        open_classifier(copy)

    (tmp_path / "gender.manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest"):
        open_classifier(copy)


def test_nchw_input_drops_the_input_transpose_and_still_matches_keras(source, exported, tmp_path):
    from faceedge.evaluate.predictors import open_classifier
    from faceedge.export.gender import export_gender
    from faceedge.export.options import ExportOptions

    model, data = source
    (fp32, *_), _ = exported
    (nchw,) = export_gender(model, tmp_path, data, ExportOptions(nchw=True))
    assert nchw.manifest.inputs[0].shape == ("batch", 3, 32, 32) and nchw.manifest.inputs[0].layout == "NCHW"
    assert nchw.manifest.extra["transposes"] < fp32.manifest.extra["transposes"]
    chips, _ = _test_chips(model, data)
    difference = open_classifier(nchw.path).predict(chips) - open_classifier(model).predict(chips)
    assert np.max(np.abs(difference)) <= 1e-4


def test_a_broken_artifact_is_refused_and_nothing_is_written(source, tmp_path, monkeypatch):
    from faceedge.export import gender

    model, data = source
    convert = gender.keras_to_onnx

    def broken(*args, **kwargs):
        proto = convert(*args, **kwargs)
        # Negate the largest 2-D weight (the first dense layer): the artifact runs, but answers wrongly.
        weights = max(proto.graph.initializer, key=lambda t: t.dims[0] if len(t.dims) == 2 else -1)
        array = -onnx.numpy_helper.to_array(weights)
        weights.CopyFrom(onnx.numpy_helper.from_array(array, weights.name))
        return proto

    monkeypatch.setattr(gender, "keras_to_onnx", broken)
    out = tmp_path / "out"
    with pytest.raises(ExportGateError, match="gender.onnx refused, nothing written"):
        gender.export_gender(model, out, data)
    assert list(out.iterdir()) == []  # no artifact, no manifest, no staging folder

    # An artifact exported before stays as it was.
    (out / "gender.onnx").write_bytes(b"the previous export")
    (out / "gender.manifest.json").write_text("{}")
    with pytest.raises(ExportGateError):
        gender.export_gender(model, out, data)
    assert (out / "gender.onnx").read_bytes() == b"the previous export"
    assert sorted(p.name for p in out.iterdir()) == ["gender.manifest.json", "gender.onnx"]


def test_export_command_prints_the_report_and_evaluate_accepts_the_artifact(source, exported, tmp_path):
    from typer.testing import CliRunner

    from faceedge.cli import app

    model, data = source
    runner = CliRunner()
    shipped = bundled_path("gender")
    result = runner.invoke(
        app,
        ["export", "gender", str(model), "--data", str(data), "--out", str(tmp_path)]
        + ["--framing-from", str(shipped)],
    )
    assert result.exit_code == 0, result.output
    assert "gender.onnx" in result.output and "gate gender.onnx" in result.output
    crop = json.loads((tmp_path / "gender.manifest.json").read_text())["preprocessing"]["crop"]
    shipped_manifest = read_manifest(manifest_path(shipped))
    assert crop == {**shipped_manifest.preprocessing["crop"], "taken_from": shipped_manifest.model_id}
    result = runner.invoke(
        app,
        ["export", "gender", str(model), "--data", str(data), "--out", str(tmp_path / "no")]
        + ["--framing-from", str(bundled_path("blazeface_short"))],
    )
    assert result.exit_code != 0 and "records no measured chip framing" in result.output
    assert not (tmp_path / "no").exists()

    (fp32, *_), _ = exported
    split = model.parent / "split.csv"
    result = runner.invoke(app, ["evaluate", str(fp32.path), "--data", str(data), "--split-file", str(split)])
    assert result.exit_code == 0, result.output
    assert f"{100 * fp32.manifest.accuracy['accuracy']:.2f}" in result.output


def test_check_io_names_what_differs():
    from faceedge.manifest import Manifest, TensorSpec, check_io

    manifest = Manifest(
        model_id="m",
        task="gender",
        format="onnx",
        precision="fp32",
        files={"m.onnx": "0" * 64},
        inputs=(TensorSpec("image", ("batch", 32, 32, 3)),),
        outputs=(TensorSpec("p_female", ("batch", 1)),),
    )
    check_io(manifest, "inputs", [("image", ("N", 32, 32, 3))], "m.onnx")  # a dynamic batch by any name
    with pytest.raises(ModelError, match="has shape"):
        check_io(manifest, "inputs", [("image", (None, 64, 64, 3))], "m.onnx")
    with pytest.raises(ModelError, match="do not belong together"):
        check_io(manifest, "outputs", [("logits", (None, 1))], "m.onnx")


def test_the_format_table_orders_the_artifacts_and_refuses_what_it_does_not_know():
    from faceedge.export.formats import FORMATS, formats_of

    assert [row.file_name("gender") for row in FORMATS] == [
        "gender.onnx",
        "gender_int8.onnx",
        "gender_fp16.onnx",
        "gender_trt_fp16.engine",
    ]
    assert [row.name for row in formats_of(["trt_fp16", "fp32", "int8"])] == ["fp32", "int8", "trt_fp16"]
    with pytest.raises(ValueError, match="no artifact format bf16"):
        formats_of(["fp32", "bf16"])
    with pytest.raises(ValueError, match="FP32 ONNX is always exported"):
        formats_of(["int8"])


def _engine_record(timing_cache=None):
    from pathlib import Path

    from faceedge.export.options import ExportOptions, ExportRecord
    from faceedge.export.tensorrt import BatchProfile

    options = ExportOptions(
        formats=("fp32", "int8", "trt_fp16"),
        split_file=Path("runs/a/split.csv"),
        nchw=True,
        profile=BatchProfile(1, 4, 16),
        workspace_mib=512,
        timing_cache=timing_cache,
        framing_from=Path("shipped/gender.manifest.json"),
    )
    return ExportRecord(Path("runs/a/model.keras"), Path("utkface.tar.gz"), Path("exported"), options)


def test_the_export_record_survives_json_and_refuses_another_version():
    from faceedge.export.options import ExportRecord

    record = _engine_record()
    assert ExportRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    with pytest.raises(ModelError, match="version 2"):
        ExportRecord.from_dict({**record.to_dict(), "version": 2})


def test_the_rebuild_command_is_rendered_from_the_record_and_parses_back_to_it(monkeypatch):
    import dataclasses
    import shlex
    from pathlib import Path

    from typer.testing import CliRunner

    from faceedge.cli import app
    from faceedge.export import gender
    from faceedge.export.options import ExportOptions, rebuild_command

    # The engine's command: only what shapes the engine and the FP32 ONNX it is built from.
    assert rebuild_command(_engine_record(), "trt_fp16") == (
        "faceedge export gender runs/a/model.keras --data utkface.tar.gz --out exported --opset 17 "
        "--split-file runs/a/split.csv --framing-from shipped/gender.manifest.json --inputs-as-nchw "
        "--trt-fp16 --min-batch 1 --opt-batch 4 --max-batch 16 --workspace-mib 512 "
        "--timing-cache exported/timing.cache"
    )
    asked = []
    monkeypatch.setattr(gender, "export_gender", lambda *args: asked.append(args) or [])
    record = _engine_record(timing_cache=Path("caches/h200.cache"))
    defaults = ExportOptions()
    engine_settings = {
        "profile": defaults.profile,
        "workspace_mib": defaults.workspace_mib,
        "timing_cache": None,
    }
    # What shapes each artifact comes back; the engine's settings do not shape an INT8 ONNX.
    for artifact_format, unshaped in (("trt_fp16", {}), ("int8", engine_settings)):
        command = shlex.split(rebuild_command(record, artifact_format))
        assert command[:3] == ["faceedge", "export", "gender"]
        result = CliRunner().invoke(app, command[1:])
        assert result.exit_code == 0, result.output
        model, out, data, options = asked.pop()
        assert (model, out, data) == (record.model, record.out, record.data)
        formats = ("fp32", artifact_format)
        assert options == dataclasses.replace(record.options, formats=formats, **unshaped)


def test_the_engine_row_records_its_build_and_rebuild_command_and_keeps_the_timing_cache(
    source, tmp_path, monkeypatch
):
    """The TensorRT row on a CPU: the engine's build and its measurement stand in, the rest is real."""
    import dataclasses

    from faceedge.export import formats, gender, tensorrt
    from faceedge.export.gate import Heads
    from faceedge.export.options import RECORD_KEY, ExportOptions, ExportRecord
    from faceedge.manifest import sha256_file

    model, data = source
    target = {"tensorrt": "10.0.0", "gpu": "Stand-in GPU", "compute_capability": "9.0"}

    def build(onnx_path, profile, workspace_mib, timing_cache):
        built = {
            "target": target,
            "profile": profile.to_dict(),
            "fp16_layers": 3,
            "workspace_mib": workspace_mib,
        }
        return onnx_path.read_bytes(), b"timings", built

    monkeypatch.setattr(tensorrt, "build_fp16_engine", build)
    rows = tuple(dataclasses.replace(row, check_first=None) for row in formats.FORMATS)
    monkeypatch.setattr(formats, "FORMATS", rows)
    measure = gender._measure  # the FP32 artifact is measured for real, the engine stands in

    def stand_in(staged, tests, manifest):
        if manifest.format == "tensorrt":
            return Heads(tests.keras, tests.keras_age), "stand-in"
        return measure(staged, tests, manifest)

    monkeypatch.setattr(gender, "_measure", stand_in)

    out = tmp_path / "out"
    options = ExportOptions(formats=("fp32", "trt_fp16"), workspace_mib=256)
    fp32, engine = gender.export_gender(model, out, data, options)
    manifest = engine.manifest
    assert engine.path == out / "gender_trt_fp16.engine"
    assert (manifest.format, manifest.precision) == ("tensorrt", "fp16")
    assert manifest.model_id == fp32.manifest.model_id + "-trt-fp16"
    assert manifest.source["onnx"] == "gender.onnx" and manifest.source["onnx_sha256"] == sha256_file(
        fp32.path
    )
    assert manifest.tools["tensorrt"] == "10.0.0" and manifest.extra["target"] == target
    assert manifest.extra["workspace_mib"] == 256 and manifest.accuracy["measured_with"] == "stand-in"
    record = ExportRecord.from_dict(manifest.extra[RECORD_KEY])
    assert record.options == options
    engine_flags = "--trt-fp16 --min-batch 1 --opt-batch 8 --max-batch 64 --workspace-mib 256"
    assert manifest.extra["rebuild"].endswith(f"{engine_flags} --timing-cache {out / 'timing.cache'}")
    assert (out / "timing.cache").read_bytes() == b"timings"  # kept once the engine was accepted


def _triton_model_config():
    """Triton's own ModelConfig message, read from the tritonclient package without its gRPC stack."""
    import importlib.util

    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        pytest.skip("tritonclient is not installed (make test installs it, with --no-deps)")
    path = next(iter(spec.submodule_search_locations)) + "/grpc/model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_triton_repository_parses_with_triton_s_protobuf_and_matches_the_model(exported, tmp_path):
    import dataclasses
    import shutil

    from google.protobuf import text_format

    from faceedge.export.artifact import ExportedArtifact
    from faceedge.export.triton import TritonOptions, write_triton_repository
    from faceedge.manifest import sha256_file

    pb = _triton_model_config()
    (fp32, int8, fp16), _ = exported
    # An engine's artifact as the TensorRT export records it (the bytes do not matter to Triton's config).
    engine_file = tmp_path / "gender_trt_fp16.engine"
    shutil.copy(fp32.path, engine_file)
    profile = {"min": 1, "opt": 8, "max": 16}
    engine_manifest = dataclasses.replace(
        fp32.manifest,
        format="tensorrt",
        precision="fp16",
        files={engine_file.name: sha256_file(engine_file)},
        extra={"profile": profile},
    )
    engine_file.with_name("gender_trt_fp16.manifest.json").write_text(json.dumps(engine_manifest.to_dict()))
    engine = ExportedArtifact(engine_file, engine_manifest, (), None)

    repo = tmp_path / "repo"
    written = write_triton_repository(
        [fp32, int8, fp16, engine], repo, TritonOptions(instances=2, kind="KIND_CPU")
    )
    assert [p.name for p in written] == [
        "faceedge_gender",
        "faceedge_gender_trt",
    ]  # FP32 ONNX and engine only
    assert (repo / "faceedge_gender" / "1" / "model.onnx").read_bytes() == fp32.path.read_bytes()
    assert (repo / "faceedge_gender_trt" / "1" / "model.plan").is_file()
    # Each model's manifest checks the file Triton serves.
    from faceedge.manifest import load_artifact

    assert (
        load_artifact(repo / "faceedge_gender" / "faceedge.manifest.json")[1]
        == repo / "faceedge_gender/1/model.onnx"
    )
    (repo / "faceedge_gender" / "1" / "model.onnx").write_bytes(b"changed")
    with pytest.raises(ModelError, match="not the file that was exported"):
        load_artifact(repo / "faceedge_gender" / "faceedge.manifest.json")

    # Triton sends batches from 1: an engine that cannot take them is not served.
    picky = dataclasses.replace(engine_manifest, extra={"profile": {"min": 4, "opt": 8, "max": 16}})
    with pytest.raises(ModelError, match="--min-batch 1"):
        write_triton_repository([ExportedArtifact(engine_file, picky, (), None)], tmp_path / "picky")

    graph = onnx.load(str(fp32.path)).graph
    for name, backend, max_batch in (
        ("faceedge_gender", "onnxruntime", 64),
        ("faceedge_gender_trt", "tensorrt", 16),
    ):
        config = text_format.Parse((repo / name / "config.pbtxt").read_text(), pb.ModelConfig())
        assert (config.name, config.backend, config.max_batch_size) == (name, backend, max_batch)
        (image,) = config.input
        real_dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1:]
        assert image.name == graph.input[0].name and list(image.dims) == real_dims
        assert image.data_type == pb.TYPE_FP32 and image.format == pb.ModelInput.FORMAT_NHWC
        (output,) = config.output
        assert output.name == graph.output[0].name == "p_female" and list(output.dims) == [1]
        preferred = [8, 32] if max_batch == 64 else [8]  # no preferred batch above the engine's max
        assert list(config.dynamic_batching.preferred_batch_size) == preferred
        # KIND_CPU was asked for: the ONNX model takes it, the plan runs on a GPU or not at all
        # (Triton's TensorRT backend refuses KIND_CPU).
        kind = pb.ModelInstanceGroup.KIND_GPU if backend == "tensorrt" else pb.ModelInstanceGroup.KIND_CPU
        assert config.instance_group[0].count == 2 and config.instance_group[0].kind == kind


def test_a_two_head_model_exports_both_outputs_passes_its_gates_and_reloads_like_keras(
    two_head_source, tmp_path
):
    from faceedge.evaluate.predictors import open_classifier
    from faceedge.export.gender import export_gender
    from faceedge.export.options import ExportOptions
    from faceedge.export.triton import TritonOptions, model_config

    model, data = two_head_source
    options = ExportOptions(formats=("fp32", "int8", "fp16"), calibration_images=48)
    fp32, int8, fp16 = export_gender(model, tmp_path, data, options)
    for artifact in (fp32, int8, fp16):
        manifest = read_manifest(manifest_path(artifact.path))
        assert manifest.schema_version == 2
        assert [(o.name, o.shape, o.meaning, o.unit) for o in manifest.outputs] == [
            ("p_female", ("batch", 1), "P(female)", "probability"),
            ("age", ("batch", 1), "age", "years"),
        ]
        # The graph lists its outputs as the manifest does (tf2onnx alone would put age first).
        assert [o.name for o in onnx.load(str(artifact.path)).graph.output] == ["p_female", "age"]
        gated = {check["check"] for check in manifest.accuracy["gate"]}
        assert "non-finite ages" in gated and all(c.passed for c in artifact.checks)
    assert any("age difference" in c.name for c in fp32.checks + fp16.checks)
    assert any("age MAE added" in c.name for c in int8.checks)

    chips, test = _test_chips(model, data)
    with open_classifier(model) as keras:
        keras_p, keras_age = keras.predict_heads(chips)
    with open_classifier(fp32.path) as reloaded:
        assert reloaded.has_age
        p_female, age = reloaded.predict_heads(chips)
    assert np.max(np.abs(p_female - keras_p)) <= 1e-4 and np.max(np.abs(age - keras_age)) <= 0.05
    # The manifest's age figures are the ones measured here.
    accuracy = fp32.manifest.accuracy
    true_mae = float(np.mean(np.abs(age - test.ages)))
    assert accuracy["age_mae"] == pytest.approx(true_mae, abs=1e-4)
    assert accuracy["keras_age_mae"] == pytest.approx(float(np.mean(np.abs(keras_age - test.ages))), abs=1e-4)
    probe = accuracy["probe_images"]  # the largest difference is the probe images'
    assert accuracy["max_age_diff_vs_keras"] == pytest.approx(
        float(np.max(np.abs(age[:probe] - keras_age[:probe]))), abs=1e-6
    )
    assert int8.manifest.accuracy["age_mae"] - accuracy["age_mae"] <= 0.3
    # Triton serves both outputs.
    config = model_config(fp32, TritonOptions())
    assert 'name: "p_female"' in config and 'name: "age"' in config


def test_a_gender_only_model_exports_one_output_with_its_meaning(exported):
    for artifact in exported[0]:
        manifest = artifact.manifest
        assert [(o.name, o.meaning, o.unit) for o in manifest.outputs] == [
            ("p_female", "P(female)", "probability")
        ]
        assert "age_mae" not in manifest.accuracy
        names = [check.name for check in artifact.checks]
        assert not any(n == "non-finite ages" or "age difference" in n or "age MAE" in n for n in names)
