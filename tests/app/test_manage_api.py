"""The admin API ``/api`` over real HTTP against a running LLM Hub (and the emulator as upstream)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.accounts.audit import AuditFilter, list_events
from services.db import make_engine
from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process

SECRETS = ("sk-manage-first-0001", "sk-manage-second-0002", "sk-manage-rotated-0003")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One LLM Hub for this module (starting one takes a second); tests use distinct names."""
    with hub_process(tmp_path_factory.mktemp("manage")) as app:
        yield app


class Admin:
    """An admin client that remembers every answer, to prove no secret ever appears in one."""

    def __init__(self, app: RunningApp, token: str = MASTER_KEY) -> None:
        self.http = app.client(token)
        self.seen: list[str] = []

    def __call__(self, method: str, path: str, expect: int, **kwargs: object) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        self.seen.append(response.text)
        assert response.status_code == expect, response.text
        return response

    def assert_no_secret(self, *secrets: str) -> None:
        for text in self.seen:
            assert not any(secret in text for secret in secrets), text


@pytest.fixture
def admin(running: RunningApp) -> Iterator[Admin]:
    client = Admin(running)
    yield client
    client.http.close()


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_requires_an_admin(running: RunningApp, admin: Admin) -> None:
    assert error_of(httpx.get(running.url + "/api/providers"))["code"] == "missing_api_key"
    assert httpx.get(running.url + "/api/providers", headers={"Authorization": "Bearer nope"}).status_code == 401
    admin("POST", "/api/users", 201, json={"email": "plain@example.com", "password": "plain-password"})
    raw = admin("POST", "/api/tokens", 201, json={"name": "plain", "user_email": "plain@example.com"}).json()["token"]
    with running.client(raw) as user:
        refused = user.get("/api/providers")
        assert refused.status_code == 403 and error_of(refused)["code"] == "admin_only"
        assert user.post("/api/tokens", json={"name": "x", "user_email": "plain@example.com"}).status_code == 403
        listed = user.get("/v1/models")
        assert listed.status_code == 200 and listed.json()["object"] == "list"
        assert {m["id"] for m in listed.json()["data"]} == {m["id"] for m in admin("GET", "/v1/models", 200).json()["data"]}
        own_usage = user.get("/api/usage")
        assert own_usage.status_code == 200 and own_usage.json()["data"] == []  # nobody's calls but their own (none yet)


def test_provider_and_key_lifecycle(admin: Admin) -> None:
    created = admin("POST", "/api/providers", 201, json={
        "name": "life", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
        "keys": [{"label": "first", "secret": SECRETS[0], "rpm": 10, "monthly_usd": "12.5"}],
    }).json()
    key = created["keys"][0]
    assert (key["secret_masked"], key["status"], key["monthly_usd"], key["rpm"]) == ("…0001", "active", "12.5", 10)
    assert admin("GET", "/api/providers/life", 200).json()["id"] == created["id"]
    assert "life" in [p["name"] for p in admin("GET", "/api/providers", 200).json()]

    second = admin("POST", "/api/providers/life/keys", 201, json={"label": "second", "secret": SECRETS[1]}).json()
    assert error_of(admin("POST", "/api/providers/life/keys", 409, json={"label": "second", "secret": "x"}))["param"] == "label"
    patched = admin("PATCH", f"/api/keys/{second['id']}", 200, json={"rpm": 5, "weight": 3, "enabled": False}).json()
    assert (patched["rpm"], patched["weight"], patched["status"]) == (5, 3, "disabled")
    assert admin("PATCH", f"/api/keys/{second['id']}", 200, json={"rpm": None}).json()["rpm"] is None

    rotated = admin("POST", f"/api/keys/{key['id']}/rotate", 200, json={"secret": SECRETS[2]}).json()
    assert (rotated["id"], rotated["secret_masked"]) == (key["id"], "…0003")
    cooling = admin("POST", f"/api/keys/{key['id']}/cooldown", 200, json={"seconds": 120}).json()
    assert cooling["status"] == "cooling" and cooling["status_until"].endswith("Z")
    assert admin("POST", f"/api/keys/{key['id']}/reset", 200).json()["status"] == "active"
    assert [k["label"] for k in admin("GET", "/api/keys?provider=life", 200).json()] == ["first", "second"]

    renamed = admin("PATCH", "/api/providers/life", 200, json={"name": "life2", "enabled": False}).json()
    assert (renamed["name"], renamed["enabled"], len(renamed["keys"])) == ("life2", False, 2)
    admin("DELETE", f"/api/keys/{second['id']}", 204)
    assert error_of(admin("GET", f"/api/keys/{second['id']}", 404))["code"] == "not_found"
    admin("DELETE", "/api/providers/life2", 204)
    admin("GET", "/api/providers/life2", 404)
    admin("GET", f"/api/keys/{key['id']}", 404)
    admin.assert_no_secret(*SECRETS)


@pytest.mark.parametrize(
    ("method", "path", "body", "param", "words"),
    [
        ("POST", "/api/providers", {"name": "v1", "kind": "mistral"}, "kind", "kind: Input should be"),
        ("POST", "/api/providers", {"kind": "openai"}, "name", "name: Field required"),
        ("POST", "/api/providers", {"name": "a/b", "kind": "openai"}, "name", "must not contain '/'"),
        ("POST", "/api/providers", {"name": "v2", "kind": "openai", "keys": [{"label": "k", "secret": "s", "rpm": 0}]},
         "keys[0].rpm", "greater than or equal to 1"),
        ("POST", "/api/providers", {"name": "v3", "kind": "openai", "keys": [{"label": "k", "secret": "s", "monthly_usd": "1.2345678"}]},
         "keys[0].monthly_usd", "decimal places"),
        ("POST", "/api/providers", {"name": "v4", "kind": "openai_compatible"}, "base_url", "needs a base_url"),
        ("POST", "/api/providers", {"name": "v5", "kind": "openai", "base_url": "file:///etc"}, "base_url", "http:// or https://"),
        ("POST", "/api/providers", {"name": "v6", "kind": "openai", "extra": 1}, "extra", "unknown field"),
        ("POST", "/api/models", {"name": "m1", "routes": [{"provider": "ghost", "model": "x"}]},
         "routes[0].provider", "no provider named 'ghost'"),
        ("POST", "/api/models", {"name": "m2", "routes": []}, "routes", "at least 1 item"),
        ("POST", "/api/keys/1/cooldown", {"seconds": -1}, "seconds", "greater than 0"),
        ("POST", "/api/users", {"email": "bad", "password": "long-enough"}, "email", "not an e-mail address"),
        ("POST", "/api/users", {"email": "short@example.com", "password": "short"}, "password", "at least 8 characters"),
        ("POST", "/api/tokens", {"name": "t"}, "user_id", "user_id or user_email"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin: Admin, method: str, path: str, body: dict, param: str, words: str) -> None:
    error = error_of(admin(method, path, 400, json=body))
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert words in error["message"], error["message"]


def test_not_json_and_conflicts(admin: Admin) -> None:
    broken = admin("POST", "/api/providers", 400, content=b"{nope", headers={"content-type": "application/json"})
    assert "not valid JSON" in error_of(broken)["message"]
    admin("POST", "/api/providers", 201, json={"name": "twice", "kind": "gemini"})
    assert error_of(admin("POST", "/api/providers", 409, json={"name": "twice", "kind": "gemini"}))["code"] == "conflict"
    assert error_of(admin("PATCH", "/api/providers/missing", 404, json={"enabled": False}))["param"] == "provider"
    admin("DELETE", "/api/models/missing", 404)
    admin("PATCH", "/api/tokens/99999", 404, json={"rpm": 3})


def test_models_create_replace_delete(admin: Admin) -> None:
    admin("POST", "/api/providers", 201, json={"name": "route-a", "kind": "openai"})
    admin("POST", "/api/providers", 201, json={"name": "route-b", "kind": "anthropic"})
    routes = [{"provider": "route-b", "model": "claude", "priority": 2}, {"provider": "route-a", "model": "gpt", "weight": 2}]
    model = admin("POST", "/api/models", 201, json={"name": "clever", "description": "d", "routes": routes}).json()
    assert [(r["provider"], r["priority"], r["weight"]) for r in model["routes"]] == [("route-a", 1, 2), ("route-b", 2, 1)]
    admin("POST", "/api/models", 409, json={"name": "clever", "routes": routes})
    replaced = admin("PUT", "/api/models/clever", 200, json={"name": "clever", "routes": routes[:1]}).json()
    assert [r["provider"] for r in replaced["routes"]] == ["route-b"] and replaced["description"] is None
    assert "clever" in [m["id"] for m in admin("GET", "/v1/models", 200).json()["data"]]
    admin("DELETE", "/api/models/clever", 204)
    assert "clever" not in [m["name"] for m in admin("GET", "/api/models", 200).json()]


def test_config_import_dry_run_import_and_export(admin: Admin) -> None:
    yaml_text = "providers:\n  - name: from-yaml\n    kind: ollama\n    keys:\n      - {label: local, secret: sk-yaml-secret-7777}\n" \
                "models:\n  - name: yaml-model\n    routes: [{provider: from-yaml, model: llama3}]\n"
    report = admin("POST", "/api/config/import?dry_run=true", 200, content=yaml_text).json()
    assert (report["dry_run"], report["changes"], report["providers"]["created"]) == (True, 3, 1)
    admin("GET", "/api/providers/from-yaml", 404)
    assert admin("POST", "/api/config/import", 200, content=yaml_text).json()["changes"] == 3
    assert admin("POST", "/api/config/import", 200, content=yaml_text).json()["changes"] == 0
    exported = admin("GET", "/api/config/export", 200)
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "${LLMHUB_KEY_FROM_YAML_LOCAL}" in exported.text and "name: yaml-model" in exported.text
    error = error_of(admin("POST", "/api/config/import", 400, content=yaml_text.replace("ollama", "olama")))
    assert error["code"] == "invalid_config" and 'providers[0] "from-yaml": kind:' in error["message"]
    admin.assert_no_secret("sk-yaml-secret-7777")


def test_tokens_are_shown_once_and_work_until_revoked(running: RunningApp, admin: Admin) -> None:
    user = admin("POST", "/api/users", 201, json={"email": "Tok.User@Example.com", "password": "tok-password", "name": "Tok"}).json()
    assert (user["email"], user["role"]) == ("tok.user@example.com", "user")
    admin("POST", "/api/users", 409, json={"email": "tok.user@example.com", "password": "tok-password"})
    assert "tok.user@example.com" in [u["email"] for u in admin("GET", "/api/users", 200).json()]
    admin("POST", "/api/providers", 201, json={"name": "tok-prov", "kind": "openai"})
    for name in ("tok-a", "tok-b"):
        admin("POST", "/api/models", 201, json={"name": name, "routes": [{"provider": "tok-prov", "model": name}]})

    created = admin("POST", "/api/tokens", 201, json={"name": "ci", "user_id": user["id"], "monthly_budget_usd": 20, "rpm": 100}).json()
    raw = created["token"]
    admin.seen.clear()  # the create answer is the one place the raw token may appear
    assert created["token_masked"] == "…" + raw[-4:] and created["monthly_budget_usd"] == "20"
    listed = admin("GET", "/api/tokens?user_email=tok.user@example.com", 200)
    assert raw not in listed.text and [t["id"] for t in listed.json()] == [created["id"]]
    with running.client(raw) as client:
        assert {"tok-a", "tok-b"} <= {m["id"] for m in client.get("/v1/models").json()["data"]}
        admin("PATCH", f"/api/tokens/{created['id']}", 200, json={"allowed_models": ["tok-a"], "expires_at": "2099-01-01T00:00:00+02:00"})
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["tok-a"]
        mine = [t for t in admin("GET", "/api/tokens", 200).json() if t["id"] == created["id"]]
        assert mine[0]["expires_at"] == "2098-12-31T22:00:00Z"
        revoked = admin("DELETE", f"/api/tokens/{created['id']}", 200).json()
        assert revoked["revoked_at"] is not None
        assert client.get("/v1/models").status_code == 401
    admin.assert_no_secret(raw)


def test_token_and_user_changes_are_audited_as_from_the_console(running: RunningApp, admin: Admin) -> None:
    """The API goes through the same service calls as the console: same events, targets and details,
    with the master key as the actor."""
    user = admin("POST", "/api/users", 201, json={"email": "audited@example.com", "password": "audit-password"}).json()
    created = admin("POST", "/api/tokens", 201, json={"name": "audited", "user_id": user["id"]}).json()
    admin("PATCH", f"/api/tokens/{created['id']}", 200, json={"rpm": 7})
    admin("DELETE", f"/api/tokens/{created['id']}", 200)
    engine = make_engine(running.data_dir / "llmhub.db")
    try:
        events, _ = list_events(engine, AuditFilter(actor="master key"), limit=1000)
    finally:
        engine.dispose()
    target, token_id = f"audited {created['token_masked']}", created["id"]
    mine = [(e.action, e.target, e.detail) for e in reversed(events) if e.target in (target, "audited@example.com")]
    assert mine == [
        ("user.create", "audited@example.com", {"role": "user"}),
        ("token.create", target, {"token_id": token_id, "owner": "audited@example.com"}),
        ("token.update", target, {"token_id": token_id, "fields": ["rpm"]}),
        ("token.revoke", target, {"token_id": token_id, "owner": "audited@example.com"}),
    ]


def test_a_key_added_by_api_serves_chat_at_once(running: RunningApp, admin: Admin, emulator) -> None:  # type: ignore[no-untyped-def]
    admin("POST", "/api/providers", 201, json={"name": "emu", "kind": "openai", "base_url": emulator.url + "/v1"})
    admin("POST", "/api/providers/emu/keys", 201, json={"label": "k", "secret": "ok#manage-api"})
    admin("POST", "/api/models", 201, json={"name": "emu-chat", "routes": [{"provider": "emu", "model": "gpt-4o"}]})
    chat = {"model": "emu-chat", "messages": [{"role": "user", "content": "hello there"}]}
    answer = admin("POST", "/v1/chat/completions", 200, json=chat)
    assert answer.json()["choices"][0]["message"]["content"] == "Echo: hello there"
    assert any(r["key"] == "ok#manage-api" for r in emulator.requests())
    key_id = admin("GET", "/api/keys?provider=emu", 200).json()[0]["id"]
    admin("PATCH", f"/api/keys/{key_id}", 200, json={"enabled": False})
    refused = running.client().post("/v1/chat/completions", json={"model": "emu-chat", "messages": [{"role": "user", "content": "again"}]})
    assert refused.status_code == 502 and error_of(refused)["code"] == "no_healthy_upstream"
    assert "disabled" in error_of(refused)["message"]
    assert sum(r["key"] == "ok#manage-api" for r in emulator.requests()) == 1  # the disabled key was not called again


def test_openapi_documents_the_management_api(running: RunningApp) -> None:
    spec = httpx.get(running.url + "/api/openapi.json").json()
    assert {"/api/providers", "/api/keys/{key_id}/rotate", "/api/config/import", "/api/tokens"} <= set(spec["paths"])
    assert spec["paths"]["/api/providers"]["post"]["summary"]
    assert httpx.get(running.url + "/api/docs").status_code == 200
