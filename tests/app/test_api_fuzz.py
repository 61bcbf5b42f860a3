"""The OpenAPI document against the running server (issue #16, finding 13): schemathesis generates a
bounded, seeded set of requests per operation (``/api``, ``/v1``, ``/health``, ``/metrics``) with the
master key and fails on any 5xx, an undocumented status, a wrong content type, or an answer that breaks
its documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process

EXAMPLES_PER_OPERATION = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with hub_process(folder) as app:
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: RunningApp) -> Any:
    return schemathesis.openapi.from_url(fuzzed_app.url + "/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {MASTER_KEY}"}, checks=CHECKS)
