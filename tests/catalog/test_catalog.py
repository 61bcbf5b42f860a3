"""The catalog facade and user basics, against a real Hub on a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from services.accounts.users import (
    create_user,
    ensure_admin,
    get_user_by_email,
    list_users,
    verify_password,
)
from services.catalog.inputs import ProviderCreate
from services.errors import CatalogError, ErrorKind, UpstreamError, UserError
from services.hub import Hub
from services.tables import (
    DeploymentState,
    KeyState,
    LogicalModel,
    ModelRoute,
    Provider,
    ProviderCircuit,
    ProviderKey,
)
from tests.factories import TEST_ACTOR, local_hub, rows_of

SECRET = "sk-catalog-secret-0001"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with local_hub(tmp_path / "data") as hub:
        yield hub


def add_openai(hub: Hub, name: str = "openai-main", **extra: object) -> int:
    data = {"name": name, "kind": "openai", "keys": [{"label": "primary", "secret": SECRET}], **extra}
    return hub.catalog.create_provider(TEST_ACTOR, data).keys[0].id


def expect_error(status: int, field: str | None, call, *args: object) -> CatalogError:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError) as caught:
        call(*args)
    assert (caught.value.status, caught.value.field) == (status, field), caught.value.message
    return caught.value


def test_create_provider_encrypts_masks_and_reloads_routing(hub: Hub) -> None:
    provider = hub.catalog.create_provider(
        TEST_ACTOR,
        {"name": " openai-main ", "kind": "openai", "keys": [{"label": "primary", "secret": SECRET, "monthly_usd": "12.5", "rpm": 60}]},
    )
    assert provider.name == "openai-main"
    assert provider.effective_base_url.startswith("https://")
    key = provider.keys[0]
    assert (key.secret_masked, key.status, key.monthly_usd, key.rpm) == ("…0001", "active", 12.5, 60)
    assert SECRET not in provider.model_dump_json()
    stored = rows_of(hub, ProviderKey)[0]
    assert SECRET not in stored.secret_enc and stored.monthly_usd_micros == 12_500_000
    assert hub.table.keys_of(provider.id)[0].secret == SECRET


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "kind": "mistral"}, "kind"),
        ({"name": "", "kind": "openai"}, "name"),
        ({"name": "a/b", "kind": "openai"}, "name"),
        ({"name": "x", "kind": "openai", "base_url": "ftp://host"}, "base_url"),
        ({"name": "x", "kind": "openai", "keys": [{"label": "k", "secret": " "}]}, "keys[0].secret"),
        ({"name": "x", "kind": "openai", "keys": [{"label": "k", "secret": "s", "weight": 0}]}, "keys[0].weight"),
        ({"name": "x", "kind": "openai", "keys": [{"label": "k", "secret": "s", "rpm": 0}]}, "keys[0].rpm"),
        ({"name": "x", "kind": "openai", "keys": [{"label": "k", "secret": "s", "monthly_usd": "lots"}]}, "keys[0].monthly_usd"),
        ({"name": "x", "kind": "openai", "keys": [{"label": "k", "secret": "s"}, {"label": "k", "secret": "t"}]}, "keys"),
        ({"name": "x", "kind": "openai", "colour": "red"}, "colour"),
        ({"name": "x", "kind": "openai_compatible"}, "base_url"),
    ],
)
def test_invalid_provider_input_names_the_field_and_writes_nothing(hub: Hub, data: dict, field: str) -> None:
    expect_error(400, field, hub.catalog.create_provider, TEST_ACTOR, data)
    assert rows_of(hub, Provider) == []


def test_conflicts_and_missing_items(hub: Hub) -> None:
    key_id = add_openai(hub)
    expect_error(409, "name", hub.catalog.create_provider, TEST_ACTOR, {"name": "openai-main", "kind": "anthropic"})
    expect_error(409, "label", hub.catalog.create_key, TEST_ACTOR, "openai-main", {"label": "primary", "secret": "other"})
    expect_error(404, "provider", hub.catalog.get_provider, "nope")
    expect_error(404, "key_id", hub.catalog.update_key, TEST_ACTOR, key_id + 1, {"rpm": 5})
    expect_error(404, "model", hub.catalog.delete_model, TEST_ACTOR, "nope")
    add_openai(hub, "second")
    expect_error(409, "name", hub.catalog.update_provider, TEST_ACTOR, "second", {"name": "openai-main"})


def test_update_key_changes_only_sent_fields_and_null_removes_a_limit(hub: Hub) -> None:
    key_id = add_openai(hub)
    key = hub.catalog.update_key(TEST_ACTOR, key_id, {"rpm": 100, "tpm": 5000, "weight": 3})
    assert (key.rpm, key.tpm, key.weight, key.label) == (100, 5000, 3, "primary")
    key = hub.catalog.update_key(TEST_ACTOR, key_id, {"rpm": None})
    assert (key.rpm, key.tpm) == (None, 5000)
    expect_error(400, "weight", hub.catalog.update_key, TEST_ACTOR, key_id, {"weight": None})
    assert hub.catalog.set_key_enabled(TEST_ACTOR, key_id, False).status == "disabled"
    assert hub.table.keys_of(key.provider_id)[0].enabled is False


def test_provider_update_rules(hub: Hub) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "local", "kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1/"})
    assert hub.catalog.get_provider("local").base_url == "http://127.0.0.1:9/v1"
    expect_error(400, "base_url", hub.catalog.update_provider, TEST_ACTOR, "local", {"base_url": None})
    renamed = hub.catalog.update_provider(TEST_ACTOR, "local", {"name": "vllm", "enabled": False})
    assert (renamed.name, renamed.enabled) == ("vllm", False)
    assert "vllm" in hub.table.providers_by_name and "local" not in hub.table.providers_by_name


def test_key_status_reflects_live_health(hub: Hub) -> None:
    key_id = add_openai(hub)
    entry = hub.table.keys_of(hub.catalog.get_key(key_id).provider_id)[0]
    now = hub.clock.now()
    hub.catalog.force_cooldown(TEST_ACTOR, key_id, 60)
    key = hub.catalog.get_key(key_id)
    assert key.status == "cooling" and key.status_until is not None and key.status_until.timestamp() > now + 50
    hub.states.on_failure(entry, "gpt-4o", UpstreamError(ErrorKind.QUOTA_EXHAUSTED, "out of credit"), now)
    key = hub.catalog.get_key(key_id)
    assert (key.status, key.last_error) == ("exhausted", "gpt-4o: quota_exhausted: out of credit")
    assert key.status_until is not None
    assert hub.catalog.reset_key_health(TEST_ACTOR, key_id).status == "active"
    hub.states.on_failure(entry, "gpt-4o", UpstreamError(ErrorKind.AUTH, "bad key"), now)
    assert hub.catalog.get_key(key_id).status == "invalid"


def test_rotate_keeps_the_key_and_resets_its_health(hub: Hub) -> None:
    key_id = add_openai(hub)
    provider_id = hub.catalog.get_key(key_id).provider_id
    hub.states.on_failure(hub.table.keys_of(provider_id)[0], "gpt-4o", UpstreamError(ErrorKind.AUTH, "revoked"), hub.clock.now())
    key = hub.catalog.rotate_key_secret(TEST_ACTOR, key_id, "  sk-brand-new-secret-9999 ")
    assert (key.id, key.secret_masked, key.status) == (key_id, "…9999", "active")
    assert hub.table.keys_of(provider_id)[0].secret == "sk-brand-new-secret-9999"
    expect_error(400, "secret", hub.catalog.rotate_key_secret, TEST_ACTOR, key_id, "   ")


def test_delete_key_removes_its_state_row_and_memory(hub: Hub) -> None:
    key_id = add_openai(hub)
    hub.catalog.force_cooldown(TEST_ACTOR, key_id, 30)
    hub._write_state_rows(hub.states.take_dirty())
    assert [r.key_id for r in rows_of(hub, KeyState)] == [key_id]
    hub.catalog.delete_key(TEST_ACTOR, key_id)
    assert rows_of(hub, KeyState) == [] and rows_of(hub, ProviderKey) == []
    assert key_id not in hub.states.keys
    assert hub.table.keys_of(hub.catalog.get_provider("openai-main").id) == ()


def test_delete_provider_removes_keys_routes_state_and_circuit(hub: Hub) -> None:
    key_id = add_openai(hub)
    add_openai(hub, "other")
    routes = [{"provider": "openai-main", "model": "gpt-4o"}, {"provider": "other", "model": "gpt-4o"}]
    hub.catalog.create_model(TEST_ACTOR, {"name": "smart", "routes": routes})
    provider_id, other_id = hub.catalog.get_provider("openai-main").id, hub.catalog.get_provider("other").id
    entry = hub.table.keys_of(provider_id)[0]
    for _ in range(hub.states.circuit_threshold):
        hub.states.on_failure(entry, "gpt-4o", UpstreamError(ErrorKind.CONNECTION, "refused"), hub.clock.now())
    hub._write_state_rows(hub.states.take_dirty())
    assert rows_of(hub, ProviderCircuit) and rows_of(hub, KeyState) and rows_of(hub, DeploymentState)
    hub.catalog.delete_provider(TEST_ACTOR, "openai-main")
    assert [p.name for p in rows_of(hub, Provider)] == ["other"]
    assert [k.provider_id for k in rows_of(hub, ProviderKey)] == [other_id]  # the deleted provider's key went with it
    assert rows_of(hub, KeyState) == [] and rows_of(hub, ProviderCircuit) == [] and rows_of(hub, DeploymentState) == []
    assert key_id not in hub.states.keys and provider_id not in hub.states.circuits
    assert [r.provider for r in hub.catalog.get_model("smart").routes] == ["other"]
    assert [r.provider.name for r in hub.table.models["smart"]] == ["other"]


def test_models_with_ordered_routes(hub: Hub) -> None:
    add_openai(hub)
    hub.catalog.create_provider(TEST_ACTOR, {"name": "anthropic-main", "kind": "anthropic"})
    routes = [
        {"provider": "anthropic-main", "model": "claude-sonnet-4-5", "priority": 2},
        {"provider": "openai-main", "model": "gpt-4o", "priority": 1, "weight": 3},
    ]
    model = hub.catalog.create_model(TEST_ACTOR, {"name": "smart", "description": "best", "routes": routes})
    assert [(r.provider, r.priority, r.weight) for r in model.routes] == [("openai-main", 1, 3), ("anthropic-main", 2, 1)]
    assert [r.upstream_model for r in hub.table.models["smart"]] == ["gpt-4o", "claude-sonnet-4-5"]
    replaced = hub.catalog.replace_model(TEST_ACTOR, "smart", {"name": "smart", "routes": [routes[0]]})
    assert [r.provider for r in replaced.routes] == ["anthropic-main"] and replaced.description is None
    assert len(rows_of(hub, ModelRoute)) == 1
    hub.catalog.delete_model(TEST_ACTOR, "smart")
    assert rows_of(hub, LogicalModel) == [] and rows_of(hub, ModelRoute) == [] and "smart" not in hub.table.models


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "openai/gpt", "routes": [{"provider": "openai-main", "model": "m"}]}, "name"),
        ({"name": "m", "routes": []}, "routes"),
        ({"name": "m", "routes": [{"provider": "openai-main", "model": ""}]}, "routes[0].model"),
        ({"name": "m", "routes": [{"provider": "openai-main", "model": "a"}, {"provider": "openai-main", "model": "a"}]}, "routes"),
        ({"name": "m", "routes": [{"provider": "openai-main", "model": "a"}, {"provider": "ghost", "model": "a"}]}, "routes[1].provider"),
        ({"name": "m", "routes": [{"provider": "openai-main", "model": "a", "priority": 0}]}, "routes[0].priority"),
    ],
)
def test_invalid_models_are_refused_whole(hub: Hub, data: dict, field: str) -> None:
    add_openai(hub)
    expect_error(400, field, hub.catalog.create_model, TEST_ACTOR, data)
    assert rows_of(hub, LogicalModel) == [] and rows_of(hub, ModelRoute) == []


def test_a_failed_batch_writes_nothing_and_does_not_reload(hub: Hub) -> None:
    reloads = []
    hub.catalog.on_change = lambda: reloads.append(1)

    def create_the_same_provider_twice() -> None:
        with hub.catalog.batch() as cs:
            cs.create_provider(_provider("one"))
            cs.create_provider(_provider("one"))

    with pytest.raises(CatalogError) as refused:
        create_the_same_provider_twice()
    assert (refused.value.status, refused.value.field) == (409, "name")  # the second one
    assert rows_of(hub, Provider) == [] and reloads == []
    with hub.catalog.batch(dry_run=True) as cs:
        cs.create_provider(_provider("two"))
    assert rows_of(hub, Provider) == [] and reloads == []


def _provider(name: str) -> ProviderCreate:
    return ProviderCreate(name=name, kind="ollama", keys=[{"label": "local", "secret": "ollama"}])


def test_users_basics(hub: Hub) -> None:
    with Session(hub.engine) as session:
        user = create_user(session=session, email="  Ann@Example.COM ", password="correct horse", role="user", name="Ann")
        session.commit()
        assert user.email == "ann@example.com"
        assert user.password_hash and user.password_hash.startswith("$argon2")
        assert verify_password("correct horse", user.password_hash) and not verify_password("wrong", user.password_hash)
        assert get_user_by_email(session, "ANN@example.com") is not None
        for kwargs, field, status in [
            ({"email": "ann@example.com"}, "email", 409),
            ({"email": "not-an-email"}, "email", 400),
            ({"email": "bob@example.com", "password": "short"}, "password", 400),
            ({"email": "bob@example.com", "role": "root"}, "role", 400),
        ]:
            with pytest.raises(UserError) as caught:
                create_user(session=session, **{"password": "long enough", "role": "user", "name": "", **kwargs})  # type: ignore[arg-type]
            assert (caught.value.field, caught.value.status) == (field, status)
    first = ensure_admin(hub.engine, "Admin@example.com", "admin-password")
    again = ensure_admin(hub.engine, "admin@example.com", "another-password")
    assert first.id == again.id and first.role == "admin"
    with Session(hub.engine) as session:
        assert [u.email for u in list_users(session)] == ["ann@example.com", "admin@example.com"]
