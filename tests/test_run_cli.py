"""`faceedge run` and `faceedge doctor` end to end: outputs, bad input, interruption."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
from faceedge.cli import app, with_optional_values  # noqa: E402

runner = CliRunner()


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _frames_in(video) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(video))
    count, size = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, size = count + 1, frame.shape[:2]
    capture.release()
    return count, size


def test_the_demo_writes_json_lines_and_an_annotated_video(tmp_path):
    out, video = tmp_path / "faces.jsonl", tmp_path / "annotated.mp4"
    result = runner.invoke(
        app,
        [
            "run",
            "--source",
            "demo",
            "--no-display",
            "--json",
            str(out),
            "--save",
            str(video),
            "--max-frames",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = _lines(out)
    assert [line["frame"] for line in lines] == list(range(20))
    assert all(line["source"] == "demo" and len(line["faces"]) == 2 for line in lines)
    face = lines[0]["faces"][0]
    assert set(face) == {"box", "score", "gender", "p_female", "age", "age_group", "track"}
    assert len(face["box"]) == 4
    assert face["gender"] in {"female", "male"} and 0 <= face["p_female"] <= 1
    assert _frames_in(video) == (20, (720, 1280))
    assert "20 frames, 40 faces" in result.output and "FPS" in result.output


def test_events_give_one_start_and_one_end_per_person(tmp_path):
    out = tmp_path / "events.jsonl"
    result = runner.invoke(app, ["run", "--source", "demo", "--no-display", "--json", str(out), "--events"])
    assert result.exit_code == 0, result.output
    events = _lines(out)
    assert sorted(e["event"] for e in events) == ["end", "end", "start", "start"]
    assert {e["track"] for e in events if e["event"] == "start"} == {
        e["track"] for e in events if e["event"] == "end"
    }
    # Found to the last frame the detector looked at: 88, as it skips every other (odd) frame of the
    # slowly drifting clip once both tracks have started.
    assert all(e["frame"] == 88 for e in events if e["event"] == "end")


def test_json_without_a_path_writes_to_stdout():
    assert with_optional_values(["run", "--json"]) == ["run", "--json", "-"]
    assert with_optional_values(["run", "--json", "--events"]) == ["run", "--json", "-", "--events"]
    assert with_optional_values(["run", "--json", "out.jsonl"]) == ["run", "--json", "out.jsonl"]
    result = runner.invoke(
        app, ["run", "--source", "demo", "--no-display", "--json", "-", "--max-frames", "3"]
    )
    assert result.exit_code == 0
    frames = [json.loads(line) for line in result.stdout.splitlines()]  # nothing else on stdout
    assert [f["frame"] for f in frames] == [0, 1, 2]


@pytest.mark.parametrize(
    ("flags", "detected", "said"),
    [
        ([], [True, True, True, False, True, False], "detector skipped 2 of 6 frames"),
        (["--detect-every", "1"], [True] * 6, None),
    ],
)
def test_each_json_line_says_whether_the_detector_looked_and_the_summary_counts_the_skipped_frames(
    flags, detected, said
):
    command = ["run", "--source", "demo", "--no-display", "--json", "-", "--max-frames", "6", *flags]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["detected"] for line in result.stdout.splitlines()] == detected
    if said:
        assert said in result.stderr
    else:
        assert "detector skipped" not in result.stderr


def _write_images(folder, frame):
    folder.mkdir()
    cv2.imwrite(str(folder / "a_colour.jpg"), frame)
    cv2.imwrite(str(folder / "b_gray.png"), cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "c_rgba.png"), cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "d_16bit.png"), frame.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "e_tiny.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "f_corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    data = (folder / "a_colour.jpg").read_bytes()
    (folder / "g_truncated.jpg").write_bytes(data[: len(data) // 2])


def test_a_folder_with_corrupt_images_is_processed_and_the_bad_ones_counted(tmp_path, demo_frames):
    folder, out = tmp_path / "images", tmp_path / "faces.jsonl"
    _write_images(folder, demo_frames[0])
    result = runner.invoke(app, ["run", "--image", str(folder), "--no-display", "--json", str(out)])
    assert result.exit_code == 0, result.output
    lines = {line["source"].rsplit("/", 1)[-1]: line for line in _lines(out)}
    assert sorted(lines) == ["a_colour.jpg", "b_gray.png", "c_rgba.png", "d_16bit.png", "e_tiny.png"]
    for name in ("a_colour.jpg", "c_rgba.png", "d_16bit.png"):
        assert len(lines[name]["faces"]) == 2, name  # alpha dropped, 16 bits scaled down
    assert len(lines["b_gray.png"]["faces"]) >= 1  # without colour the detector is less sure
    assert all(face["track"] is None for line in lines.values() for face in line["faces"])  # stills
    assert lines["e_tiny.png"]["faces"] == []
    assert re.search(r"2 unreadable images skipped: \S*f_corrupt.jpg, \S*g_truncated.jpg", result.output)


def test_no_detect_takes_each_image_as_a_face_crop(tmp_path, demo_frames):
    folder, out = tmp_path / "crops", tmp_path / "faces.jsonl"
    folder.mkdir()
    cv2.imwrite(str(folder / "crop.png"), demo_frames[0][150:400, 150:400])
    result = runner.invoke(
        app, ["run", "--image", str(folder), "--no-detect", "--no-display", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    (line,) = _lines(out)
    assert [face["box"] for face in line["faces"]] == [[0.0, 0.0, 250.0, 250.0]]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 9, "choose one source"),
        (["--camera", "0", "--source", "demo"], 9, "choose one source: .* \\(got --camera, --source demo\\)"),
        (["--video", "no/such/clip.mp4"], 9, "no such video file"),
        (["--image", "no/such/folder"], 9, "no/such/folder"),
        (["--camera", "99"], 9, "camera 99 does not open"),
        (["--source", "demo", "--model", "no/such/model.onnx"], 3, "no manifest"),
        (["--source", "demo", "--backend", "trt-engine"], 10, "runs .engine files"),
        (["--source", "demo", "--model", "mine.onnx", "--precision", "int8"], 3, "a --model of your own"),
        (
            ["--source", "demo", "--backend", "cuda", "--precision", "int8"],
            10,
            "on the cpu backend, not cuda",
        ),
        (["--source", "demo", "--detector", "yunet"], 3, "pass its ONNX file with --detector-model"),
        (["--source", "demo", "--events"], 11, "--events chooses what --json writes"),
        (["--image", ".", "--json", "-", "--events"], 11, "still images are not tracked"),
        (
            ["--source", "demo", "--save", "no/such/folder/out.mp4"],
            11,
            "cannot write the video .*: no folder",
        ),
    ],
)
def test_user_errors_are_one_clear_line_and_exit_code(args, code, message):
    result = runner.invoke(app, ["run", "--no-display", *args])
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("faceedge: error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.output
    assert "Traceback" not in result.output


def test_run_and_serve_take_the_same_pipeline_options_and_the_backends_of_the_table():
    shared = ("--model", "--backend", "--detector", "--detector-model", "--min-score", "--nms-iou")
    helps = {
        command: runner.invoke(app, [command, "--help"], terminal_width=200) for command in ("run", "serve")
    }
    for command, result in helps.items():
        assert result.exit_code == 0, result.output
        options = re.findall(r"^\s+(--[a-z-]+)", result.output, re.MULTILINE)
        # In the order they always had: after the command's first options, --cache-dir last.
        at = options.index("--model")
        assert tuple(options[at : at + 8]) == (*shared, "--min-face", "--precision"), command
        assert options[-2:] == ["--cache-dir", "--help"], command
        assert "auto|trt-engine|tensorrt|cuda|cpu>" in result.output


def test_a_library_error_naming_an_option_says_the_flag_at_the_command_line(monkeypatch):
    monkeypatch.delenv("FACEEDGE_API_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])  # an open address, no key
    assert result.exit_code == 12, result.output
    assert "--api-key" in result.output and "--allow-anonymous" in result.output
    assert "`api_key`" not in result.output and "`allow_anonymous`" not in result.output


def test_asking_for_a_window_without_a_display_is_an_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    result = runner.invoke(app, ["run", "--source", "demo", "--display"])
    assert result.exit_code == 11 and "run with --no-display" in result.output


class _InterruptedSource:
    """The demo clip, with Ctrl-C pressed while frame ``at`` is read."""

    def __init__(self, at: int) -> None:
        from faceedge.runtime.sources import SourceSpec, open_source

        self.inner = open_source(SourceSpec("demo"))
        self.name, self.live, self.stats, self.fps = "demo", False, self.inner.stats, 30.0
        self.at = at

    def __iter__(self):
        for frame in self.inner:
            if frame.index == self.at:
                raise KeyboardInterrupt
            yield frame

    def close(self) -> None:
        self.inner.close()


def test_ctrl_c_closes_the_video_and_the_json_properly(tmp_path):
    from faceedge.runtime.outputs import JsonLinesWriter, VideoSaver
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.run import run_pipeline

    out, video = tmp_path / "faces.jsonl", tmp_path / "annotated.mp4"
    with FacePipeline(backend="cpu") as pipeline:
        summary = run_pipeline(
            _InterruptedSource(at=7), pipeline, JsonLinesWriter(out), VideoSaver(video, 30.0)
        )
    assert summary.interrupted and summary.frames == 7
    assert [line["frame"] for line in _lines(out)] == list(range(7))  # every line complete
    assert _frames_in(video) == (7, (720, 1280))  # the file was finalised and plays
    assert not [t for t in threading.enumerate() if t.name == "faceedge-reader" and t.is_alive()]


def test_doctor_lists_what_runs_here():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "backend" in result.output and "runs on CPUExecutionProvider" in result.output
    findings = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    by_name = {(f["section"], f["name"]): f for f in findings}
    assert by_name[("backend", "cpu")]["ok"] is True
    assert by_name[("model", "gender")]["ok"] is True
    assert {"system", "gpu", "backend", "model", "io"} <= {f["section"] for f in findings}


def test_q_in_the_window_stops_the_run_and_closes_it(monkeypatch):
    shown = []
    monkeypatch.setattr(cv2, "imshow", lambda name, image: shown.append(image.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: ord("q") if len(shown) == 5 else -1)
    monkeypatch.setattr(cv2, "destroyWindow", lambda name: shown.append("closed"))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr("sys.platform", "linux")
    result = runner.invoke(app, ["run", "--source", "demo", "--display"])
    assert result.exit_code == 0, result.output
    assert shown[:5] == [(720, 1280, 3)] * 5 and shown[5:] == ["closed"]
    assert "5 frames" in result.output


def test_ctrl_c_in_faceedge_run_prints_the_summary_and_exits_130(monkeypatch, tmp_path):
    import faceedge.runtime.run

    interrupted = _InterruptedSource(at=4)  # made before open_source is replaced below
    monkeypatch.setattr(faceedge.runtime.run, "open_source", lambda spec: interrupted)
    out = tmp_path / "faces.jsonl"
    result = runner.invoke(app, ["run", "--source", "demo", "--no-display", "--json", str(out)])
    assert result.exit_code == 130
    assert "4 frames" in result.output and "(interrupted)" in result.output
    assert len(_lines(out)) == 4


def test_a_real_ctrl_c_ends_the_tracks_closes_the_outputs_and_stops_the_reader(tmp_path):
    import _thread

    from faceedge.runtime.outputs import JsonLinesWriter
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.run import run_pipeline
    from faceedge.runtime.sources import SourceSpec, open_source

    out = tmp_path / "events.jsonl"

    def press_ctrl_c(result):
        if result.frame == 10:
            _thread.interrupt_main()  # SIGINT's KeyboardInterrupt, in the main thread

    with FacePipeline(backend="cpu") as pipeline:
        summary = run_pipeline(
            open_source(SourceSpec("demo", loop=3)),
            pipeline,
            JsonLinesWriter(out, events=True),
            on_frame=press_ctrl_c,
        )
    assert summary.interrupted and 10 <= summary.frames < 270
    events = _lines(out)
    assert sorted(e["event"] for e in events) == ["end", "end", "start", "start"]  # the log closes
    assert not [t for t in threading.enumerate() if t.name == "faceedge-reader"]


def test_runs_that_stop_early_leave_no_reader_thread_behind():
    from faceedge.runtime.pipeline import FacePipeline
    from faceedge.runtime.run import run_pipeline
    from faceedge.runtime.sources import SourceSpec, open_source

    with FacePipeline(backend="cpu") as pipeline:
        for _ in range(3):
            run_pipeline(open_source(SourceSpec("demo", loop=5)), pipeline, max_frames=2)
    assert not [t for t in threading.enumerate() if t.name == "faceedge-reader"]


def test_json_flags_of_other_commands_keep_their_meaning():
    for command in (["doctor", "--json"], ["models", "--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "faceedge", *command], capture_output=True, text=True, check=True
        )
        assert isinstance(json.loads(out.stdout), list)
    assert with_optional_values(["doctor", "--json"]) == ["doctor", "--json"]
    assert with_optional_values(["-v", "run", "--json"]) == ["-v", "run", "--json", "-"]


# --- Outputs checked before anything opens ------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path, monkeypatch, demo_frames):
    """A video, an image and a folder of images in the working directory, with a link to the video."""
    from faceedge.runtime.sources import DEMO_CLIP

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(DEMO_CLIP.read_bytes())
    (tmp_path / "link.mp4").symlink_to(tmp_path / "a.mp4")
    cv2.imwrite("a.jpg", demo_frames[0])
    (tmp_path / "sub").mkdir()
    (tmp_path / "imgs").mkdir()
    cv2.imwrite("imgs/x.jpg", demo_frames[1])
    cv2.imwrite("imgs/y.png", demo_frames[2])
    return {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    "args",
    [
        ["--video", "a.mp4", "--json", "a.mp4"],
        ["--video", "a.mp4", "--json", "sub/../a.mp4"],
        ["--video", "link.mp4", "--save", "a.mp4"],
        ["--image", "a.jpg", "--json", "./a.jpg"],
        ["--image", "imgs", "--json", "imgs/y.png"],
        ["--image", "imgs/*.jpg", "--save", "sub/../imgs/x.jpg"],
    ],
    ids=["video-json", "dotdot", "symlink-save", "image-json", "folder-file", "glob-file"],
)
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(inputs, args):
    result = runner.invoke(app, ["run", "--no-display", *args])
    assert result.exit_code == 11, result.output
    assert "writing it would destroy the input" in result.output
    assert {path: path.read_bytes() for path in inputs} == inputs


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (["--save", "{tmp}"], "cannot write the video to .*: it is a folder"),
        (["--save", "/proc/faceedge-test.mp4"], "cannot write the video to /proc/faceedge-test.mp4"),
        (["--save", "{tmp}/out.txt"], "the name must end in .mp4"),
        (["--json", "{tmp}"], "cannot write the JSON output to .*: it is a folder"),
        (
            ["--json", "/proc/faceedge-test.jsonl"],
            "cannot write the JSON output to /proc/faceedge-test.jsonl",
        ),
    ],
    ids=["save-folder", "save-proc", "save-txt", "json-folder", "json-proc"],
)
def test_an_output_that_cannot_be_written_is_refused_before_a_model_loads(tmp_path, output, message):
    # A model that cannot load would be exit 3: the outputs are refused before it is tried.
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in output]
    other = ["--json", str(tmp_path / "faces.jsonl")] if output[0] == "--save" else []
    result = runner.invoke(
        app, ["run", "--source", "demo", "--no-display", "--model", "no/such.onnx", *other, *args]
    )
    assert result.exit_code == 11, result.output
    assert re.search(message, result.output) and "Traceback" not in result.output
    assert not (tmp_path / "faces.jsonl").exists() and list(tmp_path.iterdir()) == []


def test_a_run_that_could_read_nothing_fails_with_the_count_and_its_summary(tmp_path):
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"\xff\xd8 not an image")
    result = runner.invoke(app, ["run", "--image", str(tmp_path), "--no-display", "--json", "-"])
    assert result.exit_code == 9, result.output
    assert "nothing could be read: all 2 inputs were skipped as unreadable" in result.output
    assert "0 frames" in result.output and "2 unreadable images skipped" in result.output


# --- Signals and streams, in a real process ----------------------------------------------------------


def _faceedge(*args: str, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "faceedge", "run", "--no-display", *args],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _wait_for(condition, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, f"faceedge ended early with {process.returncode}"
        assert time.monotonic() < deadline, "faceedge did not get there in time"
        time.sleep(0.05)


@contextlib.contextmanager
def _stopped_at_the_end(process: subprocess.Popen):
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path):
    out, video, errors = tmp_path / "events.jsonl", tmp_path / "out.mp4", tmp_path / "stderr.txt"
    args = ["--source", "demo", "--loop", "50", "--json", str(out), "--events", "--save", str(video)]
    with errors.open("w") as stderr, _stopped_at_the_end(_faceedge(*args, stderr=stderr)) as process:
        _wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2, process)  # the starts
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 143, errors.read_text()
    assert re.search(r"\d+ frames, .* FPS \(terminated\)", errors.read_text())
    events = _lines(out)
    assert sorted(e["event"] for e in events) == ["end", "end", "start", "start"]
    frames, size = _frames_in(video)
    assert frames > 0 and size == (720, 1280)


def test_run_takes_sigterm_only_while_it_runs():
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.run import RunOptions
    from faceedge.runtime.run import run as run_source
    from faceedge.runtime.sources import SourceSpec

    before = signal.getsignal(signal.SIGTERM)
    during = []
    options = RunOptions(SourceSpec("demo"), PipelineConfig(backend="cpu"), display=False, max_frames=2)
    run_source(options, on_frame=lambda result: during.append(signal.getsignal(signal.SIGTERM)))
    assert during and all(handler is not before for handler in during)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_while_the_outputs_close_still_finishes_them_and_says_terminated(tmp_path):
    import faceedge.runtime.run as run_module
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.run import RunOptions
    from faceedge.runtime.sources import SourceSpec

    closed = []

    class SignalledOnClose(run_module.JsonLinesWriter):
        def close(self) -> None:  # the first output to close gets SIGTERM sent mid-close
            if not closed:
                os.kill(os.getpid(), signal.SIGTERM)
            super().close()
            closed.append(self)

    out = tmp_path / "faces.jsonl"
    options = RunOptions(
        SourceSpec("demo"), PipelineConfig(backend="cpu"), json_path=str(out), events=True, max_frames=5
    )
    original = run_module.JsonLinesWriter
    run_module.JsonLinesWriter = SignalledOnClose
    try:
        summary = run_module.run(options)
    finally:
        run_module.JsonLinesWriter = original
    assert summary.terminated and summary.interrupted and summary.frames == 5
    kinds = [json.loads(line)["event"] for line in out.read_text().splitlines()]
    assert kinds.count("start") == kinds.count("end") == 2  # every track ended in the file


@pytest.mark.parametrize(
    "answer",
    [None, b"RTSP/1.0 404 Not Found\r\n{cseq}\r\n\r\n"],
    ids=["accepts-never-answers", "answers-404"],
)
def test_a_stream_that_does_not_open_ends_within_its_bounds_without_ffmpeg_lines(tmp_path, answer):
    from test_sources import silent_tcp_server

    errors = tmp_path / "stderr.txt"
    with silent_tcp_server(answer) as (port, connected), errors.open("w") as stderr:
        url = f"rtsp://127.0.0.1:{port}/live"
        args = ["--rtsp", url, "--rtsp-timeout", "1", "--rtsp-retry-for", "2"]
        start = time.monotonic()
        with _stopped_at_the_end(_faceedge(*args, stderr=stderr)) as process:
            code = process.wait(30)
        took = time.monotonic() - start
    text = errors.read_text()
    assert code == 9 and connected.is_set(), text
    assert re.search(rf"faceedge: error: stream {url} does not open \(\d+ tries in \d+ s\)", text)
    assert took < 15  # the retry time (2 s), a last try (1 s), and starting Python
    assert not re.search(r"^\[|@ 0x", text, re.MULTILINE), text  # neither FFmpeg's nor OpenCV's lines


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_a_stream_opens_ends_the_run_at_once(tmp_path, signum, code):
    from test_sources import silent_tcp_server

    errors = tmp_path / "stderr.txt"
    with silent_tcp_server() as (port, connected), errors.open("w") as stderr:
        args = ["--rtsp", f"rtsp://127.0.0.1:{port}/live", "--rtsp-timeout", "60"]
        with _stopped_at_the_end(_faceedge(*args, stderr=stderr)) as process:
            _wait_for(connected.is_set, process)
            time.sleep(0.2)  # into OpenCV's open, which would wait out its 60 s
            process.send_signal(signum)
            assert process.wait(10) == code, errors.read_text()


# Age: a two-head model's faces and events carry it; a gender-only model says it has none


def _faces_and_events(tmp_path, *args: str) -> tuple[list[dict], list[dict], str]:
    """The frames' and the events' JSON lines of `faceedge run --source demo`, and its output."""
    frames, events = tmp_path / "frames.jsonl", tmp_path / "events.jsonl"
    base = ["run", "--source", "demo", "--no-display", "--max-frames", "10", *args]
    first = runner.invoke(app, [*base, "--json", str(frames)])
    second = runner.invoke(app, [*base, "--json", str(events), "--events"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    faces = [face for line in _lines(frames) for face in line["faces"]]
    return faces, _lines(events), first.output


def test_a_two_head_model_puts_age_and_age_group_in_every_json_line(tmp_path, monkeypatch):
    from faceedge.ages import AGE_GROUPS
    from tests.test_runtime import fake_age_head

    fake_age_head(monkeypatch)
    faces, events, output = _faces_and_events(tmp_path)
    groups = {name for name, _, _ in AGE_GROUPS}
    assert len(faces) == 20 and len(events) == 4  # 2 faces a frame; 2 starts, 2 ends
    for record in faces + events:
        assert isinstance(record["age"], float) and record["age"] == round(record["age"], 1)
        assert record["age_group"] in groups
    assert "gender only" not in output


def test_a_gender_only_model_says_so_once_and_gives_null_ages(tmp_path, monkeypatch):
    from tests.test_runtime import gender_only

    gender_only(monkeypatch)
    faces, events, output = _faces_and_events(tmp_path)
    assert len(faces) == 20 and len(events) == 4
    assert all(r["age"] is None and r["age_group"] is None for r in faces + events)  # same keys, null
    assert output.count("this model gives gender only") == 1, output


def test_a_gender_only_exported_artifact_still_runs_and_gives_null_ages(tmp_path, exported):
    artifacts, _ = exported
    fp32 = next(a for a in artifacts if a.path.suffix == ".onnx" and a.manifest.precision == "fp32")
    onnx = fp32.path
    assert [o.name for o in fp32.manifest.outputs] == ["p_female"]  # the session's model is v1
    # --no-detect: the synthetic chips it learnt from say nothing of how a chip frames a face.
    faces, events, output = _faces_and_events(
        tmp_path, "--model", str(onnx), "--backend", "cpu", "--no-detect"
    )
    assert (
        len(faces) == 10
        and len(events) == 2
        and all(r["age"] is None and r["age_group"] is None for r in faces + events)
    )
    assert output.count("this model gives gender only") == 1, output


def test_the_bundled_model_gives_every_face_and_event_of_the_demo_an_age(tmp_path):
    # The real model v2 through the real command, in a process of its own: both heads wired right.
    from faceedge.ages import AGE_GROUPS, MAX_AGE

    frames, events = tmp_path / "frames.jsonl", tmp_path / "events.jsonl"
    base = [sys.executable, "-m", "faceedge", "run", "--source", "demo", "--no-display", "--backend", "cpu"]
    for out, extra in ((frames, []), (events, ["--events"])):
        done = subprocess.run(
            [*base, "--json", str(out), *extra], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "gender only" not in done.stderr
    faces = [face for line in _lines(frames) for face in line["faces"]]
    groups = {name for name, _, _ in AGE_GROUPS}
    assert len(faces) == 180 and len(_lines(events)) == 4
    for record in faces + _lines(events):
        assert 0 <= record["age"] <= MAX_AGE and record["age"] == round(record["age"], 1)
        assert record["age_group"] in groups
    # Eileen Collins (left, photographed in her thirties) and Grace Hopper (right, in her late
    # seventies): an age head read as P(female), or left in its training scale, would not part them.
    ends = {e["box"][0] < 640: e for e in _lines(events) if e["event"] == "end"}
    assert ends[False]["age"] - ends[True]["age"] > 25
