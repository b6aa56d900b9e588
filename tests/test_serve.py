"""`faceedge serve`: the HTTP API on real photographs, every refusal it promises, keys and metrics."""

from __future__ import annotations

import builtins
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import encode_image, solid_image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from fastapi.testclient import TestClient  # noqa: E402

from faceedge.ages import MAX_AGE, predicted_age_group  # noqa: E402
from faceedge.errors import ServerBusy  # noqa: E402
from faceedge.runtime.config import PipelineConfig  # noqa: E402
from faceedge.runtime.server import ServeOptions, create_app  # noqa: E402
from faceedge.runtime.server.batcher import BatchingAnalyzer  # noqa: E402

KIB = 1 << 10
CPU = PipelineConfig(backend="cpu")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeOptions(pipeline=CPU))) as client:
        yield client


@pytest.fixture(scope="module")
def astronaut_jpeg(astronaut) -> bytes:
    return encode_image(".jpg", astronaut, (1, 92))


def png_announcing(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header announces ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_the_astronaut_is_one_female_face_sent_raw_or_as_a_form(client, astronaut, astronaut_jpeg):
    raw = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    form = client.post("/v1/analyze", files={"image": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
    for response in (raw, form):
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["width"], answer["height"]) == (astronaut.shape[1], astronaut.shape[0])
        (face,) = answer["faces"]
        assert face["gender"] == "female" and face["p_female"] > 0.5
        x, y, w, h = face["box"]
        assert 0 <= x < x + w <= answer["width"] and 0 <= y < y + h <= answer["height"] and w > 50
        assert {"right_eye", "left_eye"} <= set(face["landmarks"])
        eye_x, eye_y = face["landmarks"]["right_eye"]
        assert x <= eye_x <= x + w and y <= eye_y <= y + h
        assert answer["batch_images"] >= 1 and answer["model"].startswith("gender-")
        assert answer["timings"]["total_ms"] >= answer["timings"]["decode_ms"] >= 0
    assert raw.json()["faces"] == form.json()["faces"]


def test_the_bundled_two_head_model_gives_each_face_an_age_in_years_and_its_group(client, astronaut_jpeg):
    assert client.get("/healthz").json()["outputs"] == ["p_female", "age"]
    response = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    (face,) = response.json()["faces"]
    # Eileen Collins was in her thirties: an adult's age, whatever the model's error of a few years.
    assert 18 <= face["age"] <= 75 and face["age"] == round(face["age"], 1)
    assert face["age_group"] == predicted_age_group(face["age"])


def test_a_gender_only_model_answers_null_ages_and_says_it_gives_none(exported, astronaut_jpeg):
    artifacts, folder = exported
    onnx = folder / "gender.onnx"
    assert [o.name for o in next(a for a in artifacts if a.path == onnx).manifest.outputs] == ["p_female"]
    # No detection: the synthetic chips it learnt from say nothing of how a chip frames a face, so the
    # whole image is the one face.
    gender_only = PipelineConfig(model=onnx, backend="cpu", detect=False)
    with TestClient(create_app(ServeOptions(pipeline=gender_only))) as served:
        assert served.get("/healthz").json()["outputs"] == ["p_female"]
        response = served.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 200, response.text
        (face,) = response.json()["faces"]
        assert face["age"] is None and face["age_group"] is None  # there, and null: the same keys
        assert 0.0 <= face["p_female"] <= 1.0


def test_the_openapi_schema_describes_age_its_unit_and_the_model_s_outputs(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    face = schemas["FaceResult"]["properties"]
    assert {"age", "age_group"} <= set(schemas["FaceResult"]["required"])  # always present, maybe null
    assert {"number", "null"} == {kind["type"] for kind in face["age"]["anyOf"]}
    assert face["age"]["x-unit"] == "years" and "years" in face["age"]["description"]
    assert "Null when the model gives no age" in face["age"]["description"]
    assert face["age_group"]["enum"] == [
        "0-2",
        "3-9",
        "10-17",
        "18-29",
        "30-44",
        "45-59",
        "60-74",
        "75+",
        None,
    ]
    assert f"0 to {MAX_AGE}" in face["age"]["description"]
    assert "age" in schemas["Health"]["properties"]["outputs"]["description"]


def test_an_image_without_faces_is_an_empty_list(client):
    response = client.post(
        "/v1/analyze",
        content=encode_image(".png", solid_image((40, 90, 160), 240, 320)),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 200 and response.json()["faces"] == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"just some text, not a picture", "image/jpeg", 400, "not an image faceedge takes"),
        (b"P6\n60000 60000\n255\n" + bytes(64), "application/octet-stream", 400, "header states its size"),
        ("truncated", "image/jpeg", 400, "not a readable image"),
        (b"", "image/jpeg", 400, "empty"),
        (b"\x89PNG", "text/plain", 415, "cannot take text/plain"),
        (b"name=value", "application/x-www-form-urlencoded", 415, "multipart/form-data"),
        (b"", None, 415, "without a content type"),
        ("bomb", "image/png", 413, "too large"),
        ("form without image", "multipart/form-data; boundary=xyz", 400, "no 'image' field"),
        (b"not a form", "multipart/form-data", 400, "no boundary"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(
    client, astronaut_jpeg, body, content_type, status, says
):
    if body == "truncated":
        body = astronaut_jpeg[: len(astronaut_jpeg) // 2]
    elif body == "bomb":
        body = png_announcing(100_000, 100_000)
    elif body == "form without image":
        body = b'--xyz\r\nContent-Disposition: form-data; name="photo"\r\n\r\nabc\r\n--xyz--\r\n'
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/analyze", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    good = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    assert good.status_code == 200 and len(good.json()["faces"]) == 1


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded(client, monkeypatch):
    import faceedge.imaging.decode as decode

    def no_decoding(*args):
        raise AssertionError("the bomb reached the decoder")

    monkeypatch.setattr(decode.cv2, "imdecode", no_decoding)
    response = client.post(
        "/v1/analyze", content=png_announcing(60_000, 60_000), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 413
    assert "60000 x 60000 pixels is more than the 25000000 allowed" in response.json()["detail"]


def test_uploads_over_the_size_limit_are_refused_whether_announced_or_streamed(astronaut_jpeg):
    limit = 16 * KIB
    assert len(astronaut_jpeg) > limit
    with TestClient(create_app(ServeOptions(pipeline=CPU, max_upload_bytes=limit))) as small:
        announced = small.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
        streamed = small.post(
            "/v1/analyze",
            content=iter([astronaut_jpeg[i : i + 4096] for i in range(0, len(astronaut_jpeg), 4096)]),
            headers={"Content-Type": "image/jpeg"},
        )
        assert announced.status_code == streamed.status_code == 413
        assert f"limit is {limit}" in announced.json()["detail"]
        assert f"limit of {limit}" in streamed.json()["detail"]
        small_image = encode_image(".png", solid_image((0, 0, 0)))
        ok = small.post("/v1/analyze", content=small_image, headers={"Content-Type": "image/png"})
        assert ok.status_code == 200


def noisy_upscale(image: np.ndarray, factor: int) -> np.ndarray:
    import cv2

    noisy = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(0, 6, noisy.shape, dtype=np.uint8)
    return cv2.add(noisy, noise)  # noise keeps the PNG from compressing to almost nothing


def test_uploads_are_never_written_to_disk(client, astronaut, monkeypatch):
    import tempfile

    import starlette.formparsers

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was about to be written to disk")

    real_open = builtins.open

    def read_only_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            raise AssertionError(f"{file} was about to be written")
        return real_open(file, mode, *args, **kwargs)

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", no_disk)
    monkeypatch.setattr(builtins, "open", read_only_open)
    big = noisy_upscale(astronaut, 4)  # a PNG of several MB: Starlette would spool it to a file
    data = encode_image(".png", big)
    assert 2 << 20 < len(data) < 8 << 20
    response = client.post("/v1/analyze", files={"image": ("big.png", data, "image/png")})
    assert response.status_code == 200, response.text
    assert len(response.json()["faces"]) == 1


def test_an_api_key_guards_the_api_but_not_the_page_or_health(astronaut_jpeg):
    with TestClient(create_app(ServeOptions(pipeline=CPU, api_key="s3cret"))) as guarded:
        image = {"Content-Type": "image/jpeg"}
        assert guarded.post("/v1/analyze", content=astronaut_jpeg, headers=image).status_code == 401
        wrong = guarded.post("/v1/analyze", content=astronaut_jpeg, headers={**image, "X-API-Key": "nope"})
        assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["detail"]
        right = guarded.post("/v1/analyze", content=astronaut_jpeg, headers={**image, "X-API-Key": "s3cret"})
        assert right.status_code == 200
        assert guarded.get("/metrics").status_code == 401
        assert guarded.get("/metrics", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert guarded.get("/healthz").json()["api_key_required"] is True
        assert guarded.get("/").status_code == 200
        schema = guarded.get("/openapi.json").json()
        assert "APIKeyHeader" in schema["components"]["securitySchemes"]
        assert schema["paths"]["/v1/analyze"]["post"]["security"] == [{"APIKeyHeader": []}]


def test_metrics_count_requests_latency_faces_refusals_and_batches(client, astronaut_jpeg):
    client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    client.post("/v1/analyze", content=b"nope", headers={"Content-Type": "image/jpeg"})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    ok = _metric(text, 'faceedge_http_requests_total{route="/v1/analyze",status="200"}')
    refused = _metric(text, 'faceedge_http_requests_total{route="/v1/analyze",status="400"}')
    assert ok >= 1 and refused >= 1
    assert _metric(text, 'faceedge_http_request_duration_seconds_count{route="/v1/analyze"}') >= ok + refused
    assert _metric(text, "faceedge_faces_total") >= 1
    assert _metric(text, 'faceedge_errors_total{reason="not_an_image"}') >= 1
    assert _metric(text, "faceedge_batch_images_count") >= 1
    assert _metric(text, "faceedge_queue_images") == 0  # nothing waits once the answers are in
    client.get("/no/such/page")
    assert 'route="unmatched"' in client.get("/metrics").text  # random paths do not become labels


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


def test_health_says_what_runs_and_the_page_ships_with_the_package(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["api_key_required"] is False
    assert "CPUExecutionProvider" in health["backends"]["classifier"]
    page = client.get("/")
    assert page.status_code == 200 and "/page/page.js" in page.text and "/page/page.css" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script, style = client.get("/page/page.js"), client.get("/page/page.css")
    assert script.status_code == style.status_code == 200 and "/v1/analyze" in script.text
    for text in (page.text, script.text, style.text):  # nothing from another site
        assert "http:" not in text and "https:" not in text and "//" not in text.replace("// ", "")
    # FastAPI's own docs pages load scripts from a CDN: not served; the schema is.
    assert client.get("/docs").status_code == client.get("/redoc").status_code == 404
    assert "/v1/analyze" in client.get("/openapi.json").json()["paths"]


class _SlowPipeline:
    """Stands in for FacePipeline: its first call waits until the test lets it go."""

    tracker = None

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on: tuple[int, ...] | None = None

    def process_streams(self, frames):
        if not self.batches:
            self.entered.set()
            self.release.wait(10)
        self.batches.append(len(frames))
        if any(bgr.shape == self.fail_on for bgr, _, _ in frames):
            raise RuntimeError("the pipeline cannot take this image")
        from faceedge.runtime.pipeline import FrameResult

        return [FrameResult(source, index, ()) for _, index, source in frames]

    def close(self) -> None:
        pass


def test_requests_that_wait_together_share_one_classifier_call_and_a_full_queue_is_refused():
    pipeline = _SlowPipeline()
    analyzer = BatchingAnalyzer(pipeline, max_images=4, queue_limit=6)
    image = np.zeros((8, 8, 3), np.uint8)
    first = analyzer.submit(image)
    assert pipeline.entered.wait(10)  # the worker runs the first image alone and is held there
    waiting = [analyzer.submit(image) for _ in range(6)]
    with pytest.raises(ServerBusy, match="6 images are already waiting"):
        analyzer.submit(image)
    pipeline.release.set()
    assert first.result(10).batch_images == 1
    assert [f.result(10).batch_images for f in waiting] == [4, 4, 4, 4, 2, 2]
    assert pipeline.batches == [1, 4, 2]
    analyzer.close()
    with pytest.raises(ServerBusy, match="shutting down"):
        analyzer.submit(image)


def test_waiting_pixels_are_bounded_and_a_failed_batch_fails_only_its_bad_image():
    pipeline = _SlowPipeline()
    analyzer = BatchingAnalyzer(pipeline, max_images=4, queue_limit=10, pixel_budget=100)
    first = analyzer.submit(np.zeros((8, 8, 3), np.uint8))  # 64 pixels: alone, always admitted
    assert pipeline.entered.wait(10)
    with pytest.raises(ServerBusy, match="million pixels are already waiting"):
        analyzer.submit(np.zeros((8, 8, 3), np.uint8))  # 64 more would pass the budget of 100
    pipeline.release.set()
    first.result(10)
    bad = np.zeros((2, 3, 3), np.uint8)
    pipeline.fail_on = bad.shape
    pipeline.entered.clear()
    pipeline.release.clear()
    pipeline.batches.clear()
    blocker = analyzer.submit(np.zeros((1, 1, 3), np.uint8))
    assert pipeline.entered.wait(10)
    good = [analyzer.submit(np.zeros((2, 2, 3), np.uint8)) for _ in range(2)]
    failing = analyzer.submit(bad)
    pipeline.release.set()
    blocker.result(10)
    assert [f.result(10).batch_images for f in good] == [1, 1]  # answered one by one after the batch failed
    with pytest.raises(RuntimeError, match="cannot take"):
        failing.result(10)
    analyzer.close()


def test_a_failure_inside_the_server_is_a_counted_500_with_json_and_the_next_request_is_served(
    client, astronaut_jpeg, monkeypatch
):
    pipeline = client.app.state.analyzer.pipeline

    def fall_over(frames):
        raise RuntimeError("the backend fell over")

    as_a_client_sees_it = TestClient(client.app, raise_server_exceptions=False)  # the same app
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "process_streams", fall_over)
        response = as_a_client_sees_it.post(
            "/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "the server failed on this request: the backend fell over"}
    text = client.get("/metrics").text
    assert _metric(text, 'faceedge_errors_total{reason="internal"}') >= 1
    assert _metric(text, 'faceedge_http_requests_total{route="/v1/analyze",status="500"}') >= 1
    again = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    assert again.status_code == 200 and len(again.json()["faces"]) == 1


def test_a_busy_server_answers_503_with_retry_after(client, astronaut_jpeg, monkeypatch):
    def busy(bgr):
        raise ServerBusy("32 images are already waiting; try again shortly")

    monkeypatch.setattr(client.app.state.analyzer, "submit", busy)
    response = client.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "already waiting" in response.json()["detail"]


def test_a_stopped_worker_shows_in_health_and_refuses_work(astronaut_jpeg):
    with TestClient(create_app(ServeOptions(pipeline=CPU))) as stopped:
        stopped.app.state.analyzer.close()
        health = stopped.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "stopped"
        response = stopped.post("/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 503 and "not running (shutting down)" in response.json()["detail"]
        schema = stopped.get("/openapi.json").json()["paths"]["/v1/analyze"]["post"]["responses"]
        assert "401" not in schema and {"200", "400", "413", "415", "500", "503"} <= set(schema)


def test_the_app_serves_again_after_its_lifespan_restarts(astronaut_jpeg):
    app = create_app(ServeOptions(pipeline=CPU))
    for _ in range(2):
        with TestClient(app) as client:
            response = client.post(
                "/v1/analyze", content=astronaut_jpeg, headers={"Content-Type": "image/jpeg"}
            )
            assert response.status_code == 200 and len(response.json()["faces"]) == 1
        assert not app.state.analyzer.alive  # the lifespan's end stopped the worker, not the pipeline
    app.state.analyzer.close()


def test_serve_refuses_an_open_address_without_a_key_and_a_port_in_use():
    from faceedge.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"], env={"FACEEDGE_API_KEY": ""})
    assert result.exit_code == 12
    assert "without an API key" in result.output and "--allow-anonymous" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 12 and f"cannot listen on 127.0.0.1:{port}" in result.output
