"""The ``/api`` contract (issue #16, findings 7 and 13): ids out of range, refusals in the API's own shape.

Over real HTTP against a running hub with the master key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningApp
from tests.factories import hub_process

HUGE = 2**63
ID_PATHS = [
    ("GET", "/api/keys/{id}"), ("PATCH", "/api/keys/{id}"), ("DELETE", "/api/keys/{id}"), ("POST", "/api/keys/{id}/reset"),
    ("POST", "/api/keys/{id}/cooldown"), ("POST", "/api/keys/{id}/rotate"), ("GET", "/api/usage/{id}"),
    ("PATCH", "/api/tokens/{id}"), ("DELETE", "/api/tokens/{id}"), ("PUT", "/api/budgets/users/{id}"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    folder: Path = tmp_path_factory.mktemp("contract")
    with hub_process(folder) as running:
        yield running


@pytest.fixture(scope="module")
def admin(app: RunningApp) -> Iterator[httpx.Client]:
    with app.client() as client:
        yield client


@pytest.mark.parametrize("number", [HUGE, 10**30, 0, -1])
@pytest.mark.parametrize(("method", "path"), ID_PATHS)
def test_an_id_out_of_range_in_a_path_is_a_404_not_a_500(admin: httpx.Client, method: str, path: str, number: int) -> None:
    response = admin.request(method, path.format(id=number), json={})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("field", ["user_id"])
@pytest.mark.parametrize("number", [HUGE, 0])
def test_an_id_out_of_range_in_a_body_is_refused_naming_it(admin: httpx.Client, field: str, number: int) -> None:
    response = admin.post("/api/tokens", json={"name": "t", field: number})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["param"] == field


@pytest.mark.parametrize("query", ["user_id", "token_id", "key_id"])
def test_an_id_out_of_range_in_a_query_is_refused(admin: httpx.Client, query: str) -> None:
    response = admin.get("/api/usage", params={query: HUGE})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["param"] == query


def test_a_wrong_method_is_a_405_in_the_api_shape_with_every_allowed_method(admin: httpx.Client) -> None:
    response = admin.put("/api/keys/1")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
