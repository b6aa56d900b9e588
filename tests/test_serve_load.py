"""The load-test harness on a real loopback server, at a tiny scale: it measures and fails nothing."""

from __future__ import annotations

import pytest

from tests.conftest import encode_image
from tests.serving import running_server

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def test_the_load_harness_reports_every_level_and_no_failure(astronaut):
    from faceedge.bench.load import load_markdown, run_load
    from faceedge.runtime.config import PipelineConfig
    from faceedge.runtime.server import ServeOptions

    body = encode_image(".jpg", astronaut, (1, 90))
    with running_server(ServeOptions(pipeline=PipelineConfig(backend="cpu"))) as url:
        levels = run_load(url, body, levels=(1, 4), requests=12, max_seconds=60)
    assert [level.clients for level in levels] == [1, 4]
    for level in levels:
        assert level.requests == 12 and level.failures == 0 and level.statuses == {"200": 12}
        assert 0 < level.p50_ms <= level.p99_ms and level.requests_per_s > 0
        assert level.mean_batch_images is not None and 1 <= level.mean_batch_images <= 4
    assert levels[0].mean_batch_images == 1  # one client never has company in a batch
    table = load_markdown(levels, "test machine")
    assert table.count("\n| ") == 4 and "| 4 | 12 | 0 |" in table


def test_the_load_harness_refuses_a_server_off_this_machine():
    from faceedge.bench.load import LoadError, run_load

    with pytest.raises(LoadError, match="on this machine only"):
        run_load("http://192.0.2.1:8000", b"x", levels=(1,), requests=1)
