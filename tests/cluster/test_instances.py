"""Two ``python run.py`` processes on one database and one Redis, against the emulator, behave as one
hub: the contract of README "Several instances" checked point by point.

- a deployment cooled by a 429 on A is skipped by B: the emulator sees no call from B to that key;
- a token's rpm holds across A and B within ±2 of the limit (the shared window is exact: 10 of 10), and
  so do a provider key's and a route's;
- a token's budget is passed by at most one call in total, then both refuse;
- one usage export holds the calls of both;
- a key disabled on A is dropped by B within a second; so is a token revoked on A, and a person's budget
  set on A holds on B;
- B keeps serving after A is killed with SIGKILL.

Run on PostgreSQL (two data dirs, as on two machines) and on one SQLite file (one data dir, as
``--workers`` runs), through the ``shared_database`` fixture.
"""

from __future__ import annotations

import json
import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.cluster.conftest import RedisUnderTest
from tests.conftest import MASTER_KEY, RunningApp, start_app
from tests.databases import POSTGRESQL, SQLITE, postgres_or_skip, scratch_postgres
from tests.factories import user_with_token, wait_for_usage, wait_until
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: cooling
        secret: rate-limit:60#{run}-cool
        priority: 1
      - label: spare
        secret: ok#{run}-spare
        priority: 2
  - name: toggled
    kind: openai
    base_url: {url}/v1
    keys:
      - label: first
        secret: ok#{run}-first
        priority: 1
      - label: second
        secret: ok#{run}-second
        priority: 2
  - name: paced
    kind: openai
    base_url: {url}/v1
    keys:
      - label: paced
        secret: ok#{run}-paced
        priority: 1
        rpm: 4
      - label: overflow
        secret: ok#{run}-overflow
        priority: 2
  - name: routed
    kind: openai
    base_url: {url}/v1
    keys:
      - label: routed
        secret: ok#{run}-routed
  - name: routed-spare
    kind: openai
    base_url: {url}/v1
    keys:
      - label: routed-spare
        secret: ok#{run}-routed-spare
models:
  - name: route-paced
    routes:
      - provider: routed
        model: gpt-4o
        priority: 1
        rpm: 3
      - provider: routed-spare
        model: gpt-4o
        priority: 2
  - name: paced
    routes:
      - provider: paced
        model: gpt-4o
  - name: shared
    routes:
      - provider: emu
        model: gpt-4o
  - name: toggle
    routes:
      - provider: toggled
        model: gpt-4o
"""
CONTRACT_SECONDS = 1.0


@dataclass(frozen=True)
class Pair:
    a: RunningApp
    b: RunningApp
    run: str  # this run's tag in the emulator's key names


@dataclass(frozen=True)
class SharedDatabase:
    """Where the instances keep their data: the environment that points an instance at the database, and
    each instance's data dir (its own, or one for both with the SQLite file in it)."""

    env: dict[str, str]
    folder: Path
    own_data_dirs: bool

    def data_dir(self, instance: str) -> Path:
        return self.folder / (f"data-{instance}" if self.own_data_dirs else "data")


@pytest.fixture(scope="module", params=[POSTGRESQL, SQLITE])
def shared_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDatabase]:
    """PostgreSQL: a scratch database, each instance in a data dir of its own (as on two machines), sharing
    ``LLMHUB_SECRET_KEY``. SQLite: one file (WAL) in one data dir, as ``--workers`` runs."""
    folder = tmp_path_factory.mktemp("cluster")
    if request.param == SQLITE:
        yield SharedDatabase({}, folder, own_data_dirs=False)
        return
    postgres_or_skip()
    with scratch_postgres() as url:
        env = {"LLMHUB_DATABASE_URL": url.render_as_string(hide_password=False), "LLMHUB_SECRET_KEY": Fernet.generate_key().decode()}
        yield SharedDatabase(env, folder, own_data_dirs=True)


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisUnderTest]:
    from tests.cluster.conftest import redis_for_a_test

    with redis_for_a_test() as found:
        yield found


@pytest.fixture(scope="module")
def pair(emulator: EmulatorHandle, shared_database: SharedDatabase, module_redis: RedisUnderTest) -> Iterator[Pair]:
    run = "mi-" + secrets.token_hex(4)
    config = shared_database.folder / "llmhub.yaml"
    config.write_text(CONFIG.format(url=emulator.url, run=run))
    cluster_env = {**shared_database.env, "LLMHUB_REDIS_URL": module_redis.url, "LLMHUB_REDIS_PREFIX": module_redis.prefix + run + ":"}
    a = start_app(shared_database.data_dir("a"), config=config, env={**cluster_env, "LLMHUB_WORKER_INDEX": "0"})
    try:
        b = start_app(shared_database.data_dir("b"), config=config, env={**cluster_env, "LLMHUB_WORKER_INDEX": "1"})
    except BaseException:
        a.stop()
        raise
    yield Pair(a, b, run)
    for app in (a, b):
        app.stop()


def chat(app: RunningApp, model: str, token: str = MASTER_KEY, **extra: object) -> httpx.Response:
    with app.client(token) as client:
        return client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi there"}], **extra})


def calls_to(emulator: EmulatorHandle, secret: str) -> int:
    return sum(1 for request in emulator.requests() if request["key"] == secret)


def test_a_key_cooled_on_one_instance_is_skipped_by_the_other(pair: Pair, emulator: EmulatorHandle) -> None:
    assert chat(pair.a, "shared").status_code == 200  # the cooling key answers 429, the spare serves
    cooling = f"rate-limit:60#{pair.run}-cool"
    assert calls_to(emulator, cooling) == 1
    time.sleep(CONTRACT_SECONDS)
    for _ in range(3):
        assert chat(pair.b, "shared").status_code == 200
    assert calls_to(emulator, cooling) == 1  # B never called the cooling key
    assert calls_to(emulator, f"ok#{pair.run}-spare") == 4


def test_a_tokens_rpm_holds_across_instances(pair: Pair) -> None:
    holder = user_with_token(pair.a, f"rpm-{pair.run}@example.com", "rpm-password-1", "rpm")
    with pair.a.client() as admin:
        assert admin.patch(f"/api/tokens/{token_id(pair.a, 'rpm')}", json={"rpm": 10}).status_code == 200
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: chat((pair.a, pair.b)[i % 2], "toggle", holder.token).status_code, range(30)))
    assert abs(answers.count(200) - 10) <= 2, answers
    assert set(answers) == {200, 429}


def test_a_keys_rpm_holds_across_instances(pair: Pair, emulator: EmulatorHandle) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: chat((pair.a, pair.b)[i % 2], "paced").status_code, range(12)))
    assert answers == [200] * 12
    assert calls_to(emulator, f"ok#{pair.run}-paced") == 4  # its rpm, across both; the rest went to the overflow key
    assert calls_to(emulator, f"ok#{pair.run}-overflow") == 8


def test_a_routes_rpm_holds_across_instances(pair: Pair, emulator: EmulatorHandle) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: chat((pair.a, pair.b)[i % 2], "route-paced").status_code, range(9)))
    assert answers == [200] * 9
    assert calls_to(emulator, f"ok#{pair.run}-routed") == 3  # the route's rpm, across both
    assert calls_to(emulator, f"ok#{pair.run}-routed-spare") == 6


def test_a_budget_is_passed_by_at_most_one_call_across_instances(pair: Pair) -> None:
    holder = user_with_token(pair.a, f"budget-{pair.run}@example.com", "budget-password-1", "budget")
    budget_micros = 500
    with pair.a.client() as admin:
        assert admin.patch(f"/api/tokens/{token_id(pair.a, 'budget')}", json={"monthly_budget_usd": "0.0005"}).status_code == 200
    answered, refused_by = 0, set()
    for attempt in range(60):
        app = (pair.a, pair.b)[attempt % 2]
        response = chat(app, "toggle", holder.token, max_tokens=10)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "budget_exceeded"
            refused_by.add(app.url)
            if len(refused_by) == 2:
                break
        else:
            assert response.status_code == 200, response.text
            answered += 1
    assert len(refused_by) == 2, "both instances refuse once the budget is used up"
    rows = wait_for_usage(pair.a, count=answered, token_id=token_id(pair.a, "budget"), status="ok")
    costs = [int(row["cost_micros"]) for row in rows]
    assert sum(costs) >= budget_micros  # it was used up…
    assert sum(costs) - max(costs) < budget_micros  # …and the last call that passed is the only one beyond it


def test_one_export_holds_the_calls_of_both_instances(pair: Pair) -> None:
    ids = []
    for app in (pair.a, pair.b):
        response = chat(app, "toggle")
        assert response.status_code == 200
        ids.append(response.headers["x-llmhub-request-id"])
    wait_for_usage(pair.b, count=1, request_id=ids[0])
    wait_for_usage(pair.a, count=1, request_id=ids[1])
    with pair.b.client() as admin:
        exported = admin.get("/api/usage/export", params={"format": "json"})
    assert exported.status_code == 200
    request_ids = {row["request_id"] for row in json.loads(exported.text)}
    assert set(ids) <= request_ids


def test_a_key_disabled_on_one_instance_is_dropped_by_the_other_within_a_second(pair: Pair, emulator: EmulatorHandle) -> None:
    first = f"ok#{pair.run}-first"
    assert chat(pair.b, "toggle").status_code == 200
    before = calls_to(emulator, first)
    assert before >= 1  # B serves the model through the first key
    with pair.a.client() as admin:
        assert admin.patch(f"/api/keys/{key_id(pair.a, 'first')}", json={"enabled": False}).status_code == 200
    time.sleep(CONTRACT_SECONDS)
    for _ in range(3):
        assert chat(pair.b, "toggle").status_code == 200
    assert calls_to(emulator, first) == before


def test_a_token_revoked_on_one_instance_is_refused_by_the_other_within_a_second(pair: Pair) -> None:
    holder = user_with_token(pair.a, f"revoked-{pair.run}@example.com", "revoked-password-1", "revoked")
    assert chat(pair.b, "toggle", holder.token).status_code == 200  # B has it cached now
    with pair.a.client() as admin:
        assert admin.delete(f"/api/tokens/{token_id(pair.a, 'revoked')}").status_code == 200
    time.sleep(CONTRACT_SECONDS)
    assert chat(pair.b, "toggle", holder.token).status_code == 401


def test_a_persons_budget_set_on_one_instance_holds_on_the_other_within_a_second(pair: Pair) -> None:
    holder = user_with_token(pair.a, f"person-{pair.run}@example.com", "person-password-1", "person")
    assert chat(pair.b, "toggle", holder.token).status_code == 200  # no budget yet; B knows the person's spend
    with pair.a.client() as admin:
        assert admin.put(f"/api/budgets/users/{holder.id}", json={"monthly_budget_usd": "0.000001"}).status_code == 200
    time.sleep(CONTRACT_SECONDS)
    refused = chat(pair.b, "toggle", holder.token)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "user_budget_exceeded"


def test_the_other_instance_serves_on_after_one_is_killed(pair: Pair) -> None:
    pair.a.process.send_signal(signal.SIGKILL)
    pair.a.process.wait(10)
    for _ in range(3):
        assert chat(pair.b, "shared").status_code == 200
    wait_until(lambda: chat(pair.b, "toggle").status_code == 200, "B answering after A's death")


def token_id(app: RunningApp, name: str) -> int:
    with app.client() as admin:
        tokens = admin.get("/api/tokens").json()
    return next(token["id"] for token in tokens if token["name"] == name)


def key_id(app: RunningApp, label: str) -> int:
    with app.client() as admin:
        keys = admin.get("/api/keys").json()
    return next(key["id"] for key in keys if key["label"] == label)
