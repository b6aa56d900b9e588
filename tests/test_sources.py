"""Frame sources: images, videos, the demo clip, and live sources driven by fake captures.

Decoding itself is tested in test_decode.py.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import encode_image, solid_image

from faceedge.errors import SourceError
from faceedge.runtime.sources import (
    DEMO_CLIP,
    CameraSource,
    Frame,
    FrameSource,
    RtspSource,
    SourceChoiceError,
    SourceSpec,
    open_source,
    prefetched,
)

TIMEOUT_S = 20.0  # generous: only a hang gets near it


# --- Image sources ----------------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three good images (one with an upper-case extension), a corrupt PNG, a truncated JPEG, a text file."""
    noise = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    (tmp_path / "a.jpg").write_bytes(encode_image(".jpg", solid_image((10, 10, 10))))
    (tmp_path / "b.png").write_bytes(encode_image(".png", solid_image((200, 100, 50))))
    (tmp_path / "c.JPG").write_bytes(encode_image(".jpg", solid_image((100, 100, 100))))
    (tmp_path / "d_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    jpeg = encode_image(".jpg", noise)
    (tmp_path / "e_truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_delivers_good_images_in_order_and_skips_broken_ones(image_folder, caplog):
    caplog.set_level(logging.WARNING, logger="faceedge.runtime.sources")
    with open_source(SourceSpec("image", str(image_folder))) as source:
        frames = list(source)
    assert not source.live and source.fps is None
    assert [Path(frame.source).name for frame in frames] == ["a.jpg", "b.png", "c.JPG"]
    assert [frame.index for frame in frames] == [0, 1, 2]
    assert [int(frame.image[0, 0, 0]) for frame in frames] == [pytest.approx(10, abs=2), 200, 100]
    assert all(frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8 for frame in frames)
    # The text file has no image extension: it is not part of the folder's images at all.
    assert source.stats.frames == 3
    skipped = dict(source.stats.skipped)
    assert sorted(Path(name).name for name in skipped) == ["d_corrupt.png", "e_truncated.jpg"]
    assert "truncated" in skipped[str(image_folder / "e_truncated.jpg")]
    assert skipped[str(image_folder / "d_corrupt.png")]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "d_corrupt.png" in logged and "e_truncated.jpg" in logged


def test_image_glob_and_single_file(image_folder):
    with open_source(SourceSpec("image", str(image_folder / "*.png"))) as source:
        assert [Path(frame.source).name for frame in source] == ["b.png"]
    assert [Path(name).name for name, _ in source.stats.skipped] == ["d_corrupt.png"]

    single = image_folder / "c.JPG"
    with open_source(SourceSpec("image", str(single))) as source:
        frames = list(source)
    assert [(frame.source, frame.index) for frame in frames] == [(str(single), 0)]


def test_images_that_are_all_unreadable_end_normally(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 nothing more")
    with open_source(SourceSpec("image", str(tmp_path))) as source:
        assert list(source) == []
    assert source.stats.frames == 0 and len(source.stats.skipped) == 1


def test_an_image_is_read_as_what_it_is_and_a_huge_one_refused_before_decoding(tmp_path, monkeypatch):
    # 35 bytes of GIF, named .jpg, announcing a 20000 x 20000 canvas that OpenCV would allocate.
    gif = b"GIF89a" + struct.pack("<HH", 20000, 20000) + b"\x00\x00\x00"
    gif += b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00\x3b"
    (tmp_path / "huge.jpg").write_bytes(gif)
    ppm = b"P6\n2 1\n255\n" + bytes(6)  # OpenCV reads it, but its size is not read before decoding
    (tmp_path / "no_size.png").write_bytes(ppm)
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded.append(1) or real_imdecode(*args))
    with open_source(SourceSpec("image", str(tmp_path))) as source:
        assert list(source) == []
    assert decoded == []  # neither reached the decoder
    reasons = dict(source.stats.skipped)
    assert "20000 x 20000 pixels is more than" in reasons[str(tmp_path / "huge.jpg")]
    assert "header states its size" in reasons[str(tmp_path / "no_size.png")]


def test_a_spec_names_the_files_it_reads(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.txt").write_bytes(b"")
    assert SourceSpec("image", str(tmp_path)).files() == [tmp_path / "a.jpg"]
    assert SourceSpec("image", str(tmp_path / "*.jpg")).files() == [tmp_path / "a.jpg"]
    assert SourceSpec("video", "clip.mp4").files() == [Path("clip.mp4")]
    assert SourceSpec("demo").files() == [DEMO_CLIP]
    assert SourceSpec("camera", 0).files() == [] and SourceSpec("rtsp", "rtsp://cam/x").files() == []


def test_image_source_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(SourceSpec("image", str(tmp_path / "missing")))
    with pytest.raises(SourceError, match="holds no image file"):
        open_source(SourceSpec("image", str(tmp_path)))
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(SourceError, match="holds no image file"):
        open_source(SourceSpec("image", str(tmp_path)))
    with pytest.raises(SourceError, match=r"matches .*\*\.png"):
        open_source(SourceSpec("image", str(tmp_path / "*.png")))
    with pytest.raises(SourceError, match="1 other paths"):
        open_source(SourceSpec("image", str(tmp_path / "*.txt")))


# --- Video and demo ---------------------------------------------------------------------------------


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    """20 frames of 64x48 at 30 fps whose brightness grows by 10 a frame."""
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    assert writer.isOpened()
    for index in range(20):
        writer.write(solid_image((10 * index,) * 3, 48, 64))
    writer.release()
    return path


def test_video_delivers_every_frame_in_order(small_video):
    with open_source(SourceSpec("video", str(small_video))) as source:
        frames = list(source)
    assert not source.live and source.fps == pytest.approx(30)
    assert [frame.index for frame in frames] == list(range(20))
    assert all(frame.image.shape == (48, 64, 3) and frame.source == str(small_video) for frame in frames)
    brightness = [float(frame.image.mean()) for frame in frames]
    assert brightness == pytest.approx([10 * index for index in range(20)], abs=6)
    assert source.stats.frames == 20 and source.stats.dropped == 0


def test_video_loops_with_indices_that_keep_counting(small_video):
    with open_source(SourceSpec("video", str(small_video), loop=2)) as source:
        frames = list(source)
    assert [frame.index for frame in frames] == list(range(40))
    np.testing.assert_array_equal(frames[0].image, frames[20].image)


def test_closing_a_video_ends_its_iteration(small_video):
    source = open_source(SourceSpec("video", str(small_video)))
    frames = iter(source)
    assert [next(frames).index for _ in range(3)] == [0, 1, 2]
    source.close()
    source.close()  # closing twice does nothing
    assert list(frames) == []


def test_video_source_errors(tmp_path):
    with pytest.raises(SourceError, match="no such video file"):
        open_source(SourceSpec("video", str(tmp_path / "missing.mp4")))
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(SourceError, match="notes.mp4"):
        open_source(SourceSpec("video", str(text)))


def test_demo_clip_ships_and_loops():
    assert DEMO_CLIP.is_file() and DEMO_CLIP.stat().st_size < 3_000_000
    assert (DEMO_CLIP.parent / "DEMO_NOTICE.md").is_file()
    counts = {}
    for loop in (1, 2):
        with open_source(SourceSpec("demo", loop=loop)) as source:
            assert source.name == "demo" and source.fps == pytest.approx(30) and not source.live
            first = last = None
            for frame in source:
                first = frame if first is None else first
                last = frame
                assert frame.source == "demo"
            counts[loop] = source.stats.frames
        assert first.image.shape == (720, 1280, 3) and first.image.dtype == np.uint8
        assert last.index == counts[loop] - 1
    assert counts[1] == 90 and counts[2] == 180


def test_demo_clip_moves():
    with open_source(SourceSpec("demo")) as source:
        frames = iter(source)
        first = next(frames).image.astype(np.int16)
        second = next(frames).image.astype(np.int16)
    assert np.abs(first - second).mean() > 0.5  # every frame differs: the tracker has motion to follow


# --- Choosing a source ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one source"),
        ({"camera": 0, "demo": True}, "camera and demo"),
        ({"demo": True, "loop": 0}, "at least 1"),
        ({"image": "x.jpg", "loop": 2}, "cannot loop"),
        ({"camera": -1}, "camera is a number"),
        ({"rtsp": "not a url"}, "not a stream URL"),
        ({"video": ""}, "empty"),
    ],
)
def test_open_source_refuses_bad_requests(kwargs, message):
    with pytest.raises(SourceError, match=message):
        open_source(SourceSpec.choose(**kwargs))


def test_a_source_spec_is_checked_when_made_and_names_what_was_given():
    assert SourceSpec.choose(video="clip.mp4", loop=2) == SourceSpec("video", "clip.mp4", 2)
    assert SourceSpec.choose(demo=True) == SourceSpec("demo")
    with pytest.raises(SourceChoiceError) as raised:
        SourceSpec.choose(camera=0, rtsp="rtsp://host/stream")
    assert raised.value.given == ("camera", "rtsp")
    with pytest.raises(SourceError, match="no source kind 'webcam'"):
        SourceSpec("webcam", 0)
    with pytest.raises(SourceError, match="camera is a number"):
        SourceSpec("camera", True)
    with pytest.raises(SourceError, match="not 'clip.mp4'"):
        SourceSpec("demo", "clip.mp4")


def test_a_camera_that_does_not_open_is_an_error_straight_away():
    with pytest.raises(SourceError, match="camera 99 does not open"):
        open_source(SourceSpec("camera", 99))


# --- Live sources, with fake captures ---------------------------------------------------------------


class FakeCapture:
    """A capture that reads ``frames`` frames (None: forever) of value ``value``, then fails."""

    def __init__(self, frames: int | None, value: int = 1, opened: bool = True, delay_s: float = 0.0005):
        self.remaining, self.value, self.opened, self.delay_s = frames, value, opened, delay_s
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.opened and not self.released

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.delay_s)
        if self.released or not self.opened or self.remaining == 0:
            return False, None
        if self.remaining is not None:
            self.remaining -= 1
        return True, np.full((8, 8, 3), self.value, np.uint8)

    def get(self, prop: int) -> float:
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released = True


class FakeFactory:
    """Hands out the given captures in order, then ones that do not open; remembers what it made."""

    def __init__(self, *captures: FakeCapture) -> None:
        self.waiting = list(captures)
        self.made: list[FakeCapture] = []
        self.targets: list[int | str] = []

    def __call__(self, target: int | str) -> FakeCapture:
        capture = self.waiting.pop(0) if self.waiting else FakeCapture(0, opened=False)
        self.made.append(capture)
        self.targets.append(target)
        return capture


class GatedCapture(FakeCapture):
    """Reads one frame per permit, so a test decides exactly when frames arrive."""

    def __init__(self) -> None:
        super().__init__(None)
        self.permits = threading.Semaphore(0)
        self.reads = 0
        self.waiting_for_permit = threading.Condition()
        self.gate_open = False

    def allow(self, frames: int) -> None:
        for _ in range(frames):
            self.permits.release()

    def open_gate(self) -> None:
        """From now on read freely (and wake a read waiting for a permit)."""
        self.gate_open = True
        self.permits.release()

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self.waiting_for_permit:
            self.reads += 1
            self.waiting_for_permit.notify_all()
        if self.gate_open:
            return super().read()
        if not self.permits.acquire(timeout=TIMEOUT_S):
            return False, None
        return True, np.zeros((8, 8, 3), np.uint8)

    def wait_until_read_called(self, times: int) -> None:
        with self.waiting_for_permit:
            assert self.waiting_for_permit.wait_for(lambda: self.reads >= times, TIMEOUT_S)


def _within(work: Callable[[], object], timeout_s: float = TIMEOUT_S) -> object:
    """``work()`` in a daemon thread: its result or its exception, or a failure if it hangs."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((work(), None))
        except Exception as exc:
            outcome.append((None, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        pytest.fail(f"no result within {timeout_s} s")
    result, error = outcome[0]
    if error is not None:
        raise error
    return result


def _take_until(source, done: Callable[[list[Frame]], bool]) -> list[Frame]:
    def take() -> list[Frame]:
        frames: list[Frame] = []
        for frame in source:
            frames.append(frame)
            if done(frames):
                break
        return frames

    return _within(take)


class _RecordingReader:
    """What the reading thread hands frames to: records their indices, stops after ``count``."""

    def __init__(self, count: int) -> None:
        self.count, self.indices, self.stopping = count, [], threading.Event()

    def put(self, frame: Frame) -> None:
        self.indices.append(frame.index)
        if len(self.indices) >= self.count:
            self.stopping.set()


def test_a_failed_read_leaves_a_gap_in_the_frame_numbers():
    # Five frames, a failed read, a reconnection, three frames: the lost one is a gap, as a dropped
    # frame is, so that the pipeline's detector looks again (its tracks may not be where they were).
    factory = FakeFactory(FakeCapture(5, value=1), FakeCapture(None, value=2))
    source = RtspSource("rtsp://cam/gap", capture_factory=factory, max_retries=3, backoff_s=0.001)
    reader = _RecordingReader(8)
    _within(lambda: source._read_frames(factory.made[0], reader))  # the capture it opened first
    assert reader.indices == [0, 1, 2, 3, 4, 6, 7, 8]


def _reader_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"faceedge-source {name}"]


def test_stream_that_drops_and_comes_back_goes_on():
    factory = FakeFactory(FakeCapture(5, value=1), FakeCapture(None, value=2))
    with RtspSource("rtsp://cam/drops", capture_factory=factory, max_retries=3, backoff_s=0.001) as source:
        assert source.live and source.fps == 25.0 and source.name == "rtsp://cam/drops"
        frames = _take_until(source, lambda frames: frames[-1].image[0, 0, 0] == 2)
    indices = [frame.index for frame in frames]
    assert indices == sorted(set(indices))
    assert frames[-1].index >= 5  # the second capture's frames count on from the first one's five
    assert source.stats.reconnects == 1 and len(factory.made) == 2
    assert all(capture.released for capture in factory.made)
    assert not _reader_threads(source.name)


def test_stream_that_stays_down_raises_after_its_retries():
    factory = FakeFactory(FakeCapture(3))
    source = RtspSource("rtsp://cam/gone", capture_factory=factory, max_retries=3, backoff_s=0.001)
    with pytest.raises(SourceError, match="stayed down: no frame after 3 reconnection tries"):
        _take_until(source, lambda frames: False)
    assert source.stats.reconnects == 3 and len(factory.made) == 4
    source.close()
    assert not _reader_threads(source.name)
    assert factory.made[0].released


def test_stream_that_never_opens_is_an_error_after_its_retries():
    factory = FakeFactory()
    with pytest.raises(SourceError, match=r"does not open \(3 tries in \d+ s\)"):
        RtspSource("rtsp://cam/never", capture_factory=factory, max_retries=2, backoff_s=0.001)
    assert len(factory.made) == 3


def test_a_real_stream_that_refuses_connections_does_not_open():
    with pytest.raises(SourceError, match=r"rtsp://127.0.0.1:9/none does not open \(2 tries in \d+ s\)"):
        RtspSource("rtsp://127.0.0.1:9/none", max_retries=1, backoff_s=0.001)


def test_a_stream_that_stays_down_is_given_up_after_its_retry_time():
    factory = FakeFactory()
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"does not open \(\d+ tries in \d+ s\)"):
        RtspSource("rtsp://cam/never", capture_factory=factory, retry_for_s=0.3, backoff_s=0.02)
    assert 0.3 <= time.monotonic() - start < 5.0 and len(factory.made) >= 3  # no limit on the count
    dropping = FakeFactory(FakeCapture(2))
    source = RtspSource("rtsp://cam/drops", capture_factory=dropping, retry_for_s=0.3, backoff_s=0.02)
    with pytest.raises(SourceError, match=r"stayed down: no frame after \d+ reconnection tries"):
        _take_until(source, lambda frames: False)
    source.close()
    assert len(dropping.made) >= 3


@contextlib.contextmanager
def silent_tcp_server(answer: bytes | None = None) -> Iterator[tuple[int, threading.Event]]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers them (or sends
    ``answer`` to each once it has read a request, then closes it); yields its port and an event
    set at the first connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    connected, stopping, held = threading.Event(), threading.Event(), []

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connected.set()
            held.append(connection)
            if answer is not None:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    request = connection.recv(4096).decode("latin-1")
                    cseq = next(
                        (line for line in request.split("\r\n") if line.lower().startswith("cseq")), ""
                    )
                    connection.sendall(answer.replace(b"{cseq}", cseq.encode()))
                connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], connected
    finally:
        stopping.set()
        thread.join(5)
        for connection in held:
            connection.close()
        server.close()


def test_a_real_stream_that_accepts_but_never_answers_is_given_up_within_its_bounds():
    with silent_tcp_server() as (port, connected):
        start = time.monotonic()
        with pytest.raises(SourceError, match=r"does not open \(\d+ tries in \d+ s\)"):
            RtspSource(f"rtsp://127.0.0.1:{port}/live", timeout_s=0.5, retry_for_s=1.0, backoff_s=0.1)
        took = time.monotonic() - start
    assert connected.is_set() and took < 1.0 + 0.5 + 3.0  # the retry time, the last try, and slack


def test_stream_password_stays_out_of_names_and_messages():
    factory = FakeFactory()
    with pytest.raises(SourceError) as raised:
        RtspSource("rtsp://admin:s3cret@cam:554/live", capture_factory=factory, max_retries=0)
    assert "s3cret" not in str(raised.value) and "admin:***@cam:554" in str(raised.value)
    assert factory.targets == ["rtsp://admin:s3cret@cam:554/live"]  # the capture gets the real URL


def test_close_stops_the_reader_thread_and_releases_the_capture():
    capture = FakeCapture(None)
    source = RtspSource("rtsp://cam/close", capture_factory=FakeFactory(capture), backoff_s=0.001)
    frames = iter(source)
    assert _within(lambda: [next(frames).index for _ in range(3)])
    assert _reader_threads(source.name)
    source.close()
    source.close()
    assert not _reader_threads(source.name) and capture.released
    assert list(frames) == []


def test_closing_a_live_source_that_was_never_read_releases_its_capture():
    capture = FakeCapture(None)
    with RtspSource("rtsp://cam/unread", capture_factory=FakeFactory(capture)):
        pass
    assert capture.released and not _reader_threads("rtsp://cam/unread")


def test_the_newest_frame_wins_and_older_ones_are_dropped():
    capture = GatedCapture()
    source = CameraSource(0, capture_factory=FakeFactory(capture))
    assert source.name == "camera:0" and source.live
    frames = iter(source)
    capture.allow(1)
    first = _within(lambda: next(frames))
    assert (first.index, first.source) == (0, "camera:0")
    # Six frames arrive while the consumer is busy: once the reader asks for a seventh, all six
    # are in, and the consumer gets the newest of them, not the oldest.
    capture.allow(6)
    capture.wait_until_read_called(8)
    newest = _within(lambda: next(frames))
    assert newest.index == 6 and newest.timestamp >= first.timestamp
    assert source.stats.dropped == 5 and source.stats.frames == 2
    capture.open_gate()  # let the reader run on to the stop
    source.close()
    assert not _reader_threads("camera:0") and capture.released


def test_a_camera_does_not_retry_when_it_first_does_not_open():
    factory = FakeFactory()
    with pytest.raises(SourceError, match="camera 3 does not open"):
        CameraSource(3, capture_factory=factory)
    assert len(factory.made) == 1


def test_a_source_is_read_once():
    with RtspSource("rtsp://cam/once", capture_factory=FakeFactory(FakeCapture(None))) as source:
        iter(source)
        with pytest.raises(RuntimeError, match="read once"):
            iter(source)


def test_a_video_that_ends_before_its_announced_length_says_so(tmp_path, monkeypatch, caplog):
    class CutShort:
        """A capture whose container announces 40 frames but whose 11th cannot be decoded."""

        def __init__(self, path):
            self.read_frames = 0

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return True

        def read(self):
            self.read_frames += 1
            return (True, np.zeros((48, 64, 3), np.uint8)) if self.read_frames <= 10 else (False, None)

        def get(self, prop):
            return 40.0 if prop == cv2.CAP_PROP_FRAME_COUNT else 30.0

        def release(self):
            pass

    path = tmp_path / "cut.mp4"
    path.write_bytes(b"a video")
    monkeypatch.setattr(cv2, "VideoCapture", CutShort)
    with (
        caplog.at_level(logging.WARNING, logger="faceedge.runtime.sources"),
        open_source(SourceSpec("video", str(path))) as source,
    ):
        assert sum(1 for _ in source) == 10
    assert "ended after 10 of the 40 frames its container announces" in caplog.text


# --- Reading ahead ----------------------------------------------------------------------------------


class CountingSource(FrameSource):
    """A file-like source of ``frames`` tiny frames that counts how many were made, then raises
    ``error`` if given."""

    def __init__(self, frames: int, error: Exception | None = None) -> None:
        super().__init__("counting")
        self.total, self.error, self.made = frames, error, 0

    def _frames(self):
        for index in range(self.total):
            self.made += 1
            yield Frame(np.zeros((4, 4, 3), np.uint8), index, self.name, time.monotonic())
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        pass


def _prefetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "faceedge-reader"]


def test_a_file_source_is_read_ahead_by_depth_frames_and_nothing_is_dropped():
    source = CountingSource(50)
    frames = prefetched(source, 4, prepare=lambda image: image.shape)
    taken = iter(frames)
    first = _within(lambda: next(taken))
    assert first.frame.index == 0 and first.prepared == (4, 4, 3) and first.read_ms >= 0
    time.sleep(0.2)  # time enough for the reader to fill its buffer
    assert source.made <= 1 + 4 + 1  # taken, waiting, and one in the reader's hands
    rest = _within(lambda: [item.frame.index for item in taken])
    assert rest == list(range(1, 50))
    frames.close()
    assert not _prefetch_threads()


def test_an_error_while_reading_ahead_is_raised_after_the_frames_before_it():
    frames = prefetched(CountingSource(3, SourceError("the disk went away")), 2)
    taken: list[int] = []

    def take_all() -> None:
        for item in frames:
            taken.append(item.frame.index)

    with pytest.raises(SourceError, match="the disk went away"):
        _within(take_all)
    assert taken == [0, 1, 2]
    frames.close()


def test_closing_stops_the_reader_before_every_frame_is_taken():
    frames = prefetched(CountingSource(1000), 2)
    assert _within(lambda: next(iter(frames))).frame.index == 0
    frames.close()
    assert not _prefetch_threads()


def test_a_live_source_hands_over_its_newest_frame_unprepared():
    source = RtspSource("rtsp://cam/ahead", capture_factory=FakeFactory(FakeCapture(None)))
    frames = prefetched(source, 4, prepare=lambda image: pytest.fail("a live frame is not prepared"))
    first = _within(lambda: next(iter(frames)))
    assert first.prepared is None and first.frame.source == "rtsp://cam/ahead"
    assert not _prefetch_threads()  # the source's own thread reads, no second one
    frames.close()
    source.close()
