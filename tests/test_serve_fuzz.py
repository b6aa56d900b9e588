"""Schemathesis fuzzes the API from its own OpenAPI schema: no request gets a 5xx, and every answer
matches the schema (status codes, content types, bodies). Requests are generated both as the schema
allows (positive) and as it forbids (negative), for every operation, with and without the API key."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from faceedge.runtime.config import PipelineConfig  # noqa: E402
from faceedge.runtime.server import ServeOptions, create_app  # noqa: E402

KEY = "fuzz-key"
CPU = PipelineConfig(backend="cpu")
OPERATIONS = [("/v1/analyze", "POST"), ("/healthz", "GET"), ("/metrics", "GET")]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# The GET operations take no parameters: nothing about them can be generated against the schema.
FUZZED = [
    (*OPERATIONS[0], POSITIVE),
    (*OPERATIONS[0], NEGATIVE),
    (*OPERATIONS[1], POSITIVE),
    (*OPERATIONS[2], POSITIVE),
]


@pytest.fixture(scope="module")
def api_schema():
    app = create_app(ServeOptions(pipeline=CPU, api_key=KEY))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    assert {(path, method) for path, method in OPERATIONS} <= {
        (operation.path, operation.method.upper()) for operation in _operations(schema)
    }
    return schema


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize(("path", "method", "mode"), FUZZED, ids=lambda value: getattr(value, "value", value))
@pytest.mark.parametrize("key", [KEY, None], ids=["with-key", "without-key"])
def test_the_api_answers_every_generated_request_as_its_schema_says(api_schema, path, method, mode, key):
    operation = api_schema[path][method]
    headers = {"X-API-Key": key} if key else {}
    seen = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        # A schema can say "binary", not "a decodable image": bytes it allows may still be refused.
        response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        seen.add(response.status_code)

    fuzz()
    assert seen and max(seen) < 500
