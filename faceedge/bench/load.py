"""A bounded load test of `faceedge serve`: requests per second and latency at several numbers of
concurrent clients, on a loopback server only.

Each level warms the server up with ``warmup`` requests from one client (not counted), then sends
at most ``requests`` requests and stops sending after ``max_seconds``. Every answer that is not a 200
with faces is a failure, counted by status: the image sent must show at least one face. The mean
batch comes from the server's own metrics: how many images shared each classifier call in the level.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import numpy as np

from faceedge.errors import LoadError, require


@dataclass(frozen=True)
class LoadLevel:
    clients: int
    requests: int
    failures: int
    statuses: dict[str, int]
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    mean_batch_images: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def run_load(
    url: str,
    body: bytes,
    content_type: str = "image/jpeg",
    levels: tuple[int, ...] = (1, 8, 32),
    requests: int = 200,
    max_seconds: float = 60.0,
    api_key: str | None = None,
    warmup: int = 10,
) -> list[LoadLevel]:
    """Load the server at ``url`` (``http://127.0.0.1:PORT``) with ``body`` at each level of clients.

    Raises:
        LoadError: ``url`` is not a loopback address, or the server does not answer /healthz.
        MissingExtraError: httpx is not installed.
    """
    require("httpx", "dev")
    from faceedge.runtime.server.start import is_loopback

    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        raise LoadError(f"the load test runs against a server on this machine only, not {host}")
    headers = {"Content-Type": content_type, **({"X-API-Key": api_key} if api_key else {})}
    return [
        asyncio.run(_level(url, body, headers, clients, requests, max_seconds, warmup)) for clients in levels
    ]


async def _level(
    url: str, body: bytes, headers: dict, clients: int, total: int, max_seconds: float, warmup: int
) -> LoadLevel:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        try:
            (await client.get("/healthz")).raise_for_status()
        except httpx.HTTPError as exc:
            raise LoadError(f"the server at {url} does not answer /healthz: {exc}") from None
        for _ in range(warmup):
            await client.post("/v1/analyze", content=body, headers=headers)
        before = await _batches(client, headers)
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        sent = 0
        started = time.perf_counter()
        deadline = started + max_seconds

        async def one_client() -> None:
            nonlocal sent
            while sent < total and time.perf_counter() < deadline:
                sent += 1
                begin = time.perf_counter_ns()
                try:
                    response = await client.post("/v1/analyze", content=body, headers=headers)
                    status = str(response.status_code)
                    if response.status_code == 200 and not response.json()["faces"]:
                        status = "200 without faces"
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append((time.perf_counter_ns() - begin) / 1e6)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
        seconds = time.perf_counter() - started
        after = await _batches(client, headers)
    mean_batch = None
    if before is not None and after is not None and after[1] > before[1]:
        mean_batch = (after[0] - before[0]) / (after[1] - before[1])
    p50, p99 = np.percentile(np.sort(latencies), [50, 99]) if latencies else (float("nan"), float("nan"))
    return LoadLevel(
        clients=clients,
        requests=len(latencies),
        failures=sum(n for status, n in statuses.items() if status != "200"),
        statuses=statuses,
        seconds=round(seconds, 2),
        requests_per_s=round(len(latencies) / seconds, 1),
        p50_ms=round(float(p50), 1),
        p99_ms=round(float(p99), 1),
        mean_batch_images=None if mean_batch is None else round(mean_batch, 2),
    )


async def _batches(client, headers: dict) -> tuple[float, float] | None:
    """The server's running sum and count of images per classifier call, from /metrics."""
    response = await client.get("/metrics", headers={k: v for k, v in headers.items() if k == "X-API-Key"})
    if response.status_code != 200:
        return None
    values = {}
    for line in response.text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("faceedge_batch_images_sum", "faceedge_batch_images_count"):
            values[name] = float(value)
    if len(values) != 2:
        return None
    return values["faceedge_batch_images_sum"], values["faceedge_batch_images_count"]


def load_markdown(levels: list[LoadLevel], machine: str) -> str:
    lines = [
        f"Load on `faceedge serve` at 127.0.0.1 ({machine}); the astronaut photograph (one face) each time.",
        "",
        "| clients | requests | failures | requests/s | p50 ms | p99 ms | images per classifier call |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in levels:
        batch = "" if level.mean_batch_images is None else f"{level.mean_batch_images:.2f}"
        lines.append(
            f"| {level.clients} | {level.requests} | {level.failures} | {level.requests_per_s:.1f} | "
            f"{level.p50_ms:.1f} | {level.p99_ms:.1f} | {batch} |"
        )
    return "\n".join(lines) + "\n"
