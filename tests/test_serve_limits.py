"""`faceedge serve` against clients that hold connections or slots: idle and slow connections, slow
bodies, forms of many parts, and what every page is served with. A real server on 127.0.0.1, with
`faceedge serve`'s uvicorn settings and short timeouts; every loop is bounded."""

from __future__ import annotations

import select
import socket
import threading
import time
from contextlib import ExitStack, closing, suppress
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from tests.conftest import encode_image, solid_image
from tests.serving import running_server

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

KEY = "door-7"
HEADER_TIMEOUT = 1.0
QUEUE_LIMIT = 4
BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def url():
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.server import ServeOptions

    options = ServeOptions(
        pipeline=PipelineConfig(backend="cpu"),
        api_key=KEY,
        queue_limit=QUEUE_LIMIT,
        header_timeout=HEADER_TIMEOUT,
        body_timeout=BODY_TIMEOUT,
    )
    with running_server(options) as url:
        yield url


@pytest.fixture(scope="module")
def image() -> bytes:
    return encode_image(".png", solid_image((40, 90, 160), 48, 64))


def _connect(url: str) -> socket.socket:
    address = urlsplit(url)
    return socket.create_connection((address.hostname, address.port), timeout=5)


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` before ``deadline`` (what it sent before is skipped)."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def _status(sock: socket.socket, deadline: float) -> int | None:
    """The status of the answer the server sends on ``sock`` before ``deadline`` (None: none)."""
    received = b""
    while b"\r\n" not in received and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        if not chunk:
            break
        received += chunk
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None


def test_idle_and_slow_header_connections_leave_health_and_keyed_calls_answered_and_are_closed(url):
    with ExitStack() as stack:
        idle = [stack.enter_context(closing(_connect(url))) for _ in range(200)]
        for sock in idle[::2]:  # half of them start a request, and never finish its headers
            sock.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode())
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
            assert client.get("/metrics").status_code == 401
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        assert all(_closed_by_server(sock, deadline) for sock in idle)


def test_a_connection_between_requests_is_closed_after_the_header_timeout_too(url):
    with closing(_connect(url)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(sock, time.monotonic() + 5) == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request's headers never end
        assert _closed_by_server(sock, time.monotonic() + HEADER_TIMEOUT + 5)


def test_slow_bodies_are_refused_with_408_and_free_their_slots(url, image):
    headers = f"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Type: image/png\r\n"
    keyed = {"X-API-Key": KEY, "Content-Type": "image/png"}
    with ExitStack() as stack:
        slow = [stack.enter_context(closing(_connect(url))) for _ in range(QUEUE_LIMIT)]
        for sock in slow:
            sock.sendall(headers.encode() + b"Content-Length: 100000\r\n\r\n" + b"x")
        # An empty body is refused at once (400) when admitted: 503 says the slow bodies hold every slot.
        deadline = time.monotonic() + 5
        while httpx.post(url + "/v1/analyze", headers=keyed, timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "the slow bodies never filled the slots"
            time.sleep(0.01)
        # A byte every 0.2 s: never idle for long, and far below the minimum rate.
        statuses: dict[socket.socket, int | None] = {}
        deadline = time.monotonic() + 8
        while len(statuses) < len(slow) and time.monotonic() < deadline:
            waiting = [sock for sock in slow if sock not in statuses]
            for sock in waiting:
                with suppress(OSError):  # closed by the server: its answer is read below
                    sock.sendall(b"x")
            answered, _, _ = select.select(waiting, [], [], 0.2)
            statuses.update((sock, _status(sock, time.monotonic() + 1)) for sock in answered)
        assert list(statuses.values()) == [408] * len(slow)
    schema = httpx.get(url + "/openapi.json", timeout=5).json()
    assert "408" in schema["paths"]["/v1/analyze"]["post"]["responses"]
    assert httpx.post(url + "/v1/analyze", content=image, headers=keyed, timeout=10).status_code == 200


def _form(parts: int, boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'
    body = part * parts + f"--{boundary}--\r\n"
    headers = {"X-API-Key": KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return body.encode(), headers


def test_forms_of_many_parts_are_refused_early_with_a_short_message_and_health_stays_answered(url):
    body, headers = _form(120_000)
    assert len(body) < 8 << 20
    answers: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            answers.append(client.post("/v1/analyze", content=body, headers=headers))

    posting = [threading.Thread(target=post) for _ in range(QUEUE_LIMIT)]
    for thread in posting:
        thread.start()
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(10):  # answered all along, within the client's 5 s
            assert client.get("/healthz").status_code == 200
            time.sleep(0.05)
    for thread in posting:
        thread.join(30)
    assert len(answers) == QUEUE_LIMIT
    for answer in answers:
        assert answer.status_code == 400 and len(answer.content) < 1000, answer.text[:200]
        assert "parts" in answer.json()["detail"]


def test_the_missing_field_message_stays_short_whatever_the_names(url):
    boundary = "b0undary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="{"n" * 3000}"\r\n\r\nx\r\n'
    headers = {"X-API-Key": KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    body = (part * 3 + f"--{boundary}--\r\n").encode()
    answer = httpx.post(url + "/v1/analyze", content=body, headers=headers, timeout=10)
    assert answer.status_code == 400 and len(answer.content) < 1000
    assert "'image'" in answer.json()["detail"]


def test_a_boundary_over_256_characters_is_a_client_error(url):
    body, headers = _form(1, boundary="b" * 300)
    with httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post("/v1/analyze", content=body, headers=headers)
        assert answer.status_code == 400 and "boundary" in answer.json()["detail"].lower()
        metrics = client.get("/metrics", headers={"X-API-Key": KEY}).text
    assert 'faceedge_errors_total{reason="internal"}' not in metrics


def test_every_page_file_is_served_with_the_page_headers(url):
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/")
        for path in ("/page/index.html", "/page/page.js", "/page/page.css"):
            served = client.get(path)
            assert served.status_code == 200
            for header in ("content-security-policy", "x-content-type-options"):
                assert served.headers.get(header) == page.headers[header], (path, header)


def test_the_api_key_option_says_the_environment_variable_keeps_it_out_of_ps():
    from faceedge.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    assert "FACEEDGE_API_KEY" in text and " ps" in text


@pytest.mark.parametrize("name", ["header_timeout", "body_timeout", "min_body_rate"])
def test_a_timeout_or_rate_that_is_not_above_zero_is_refused(name):
    from faceedge.errors import ServeError
    from faceedge.runtime.server import ServeOptions

    with pytest.raises(ServeError, match=f"`{name}` must be above 0"):
        ServeOptions(**{name: 0})
