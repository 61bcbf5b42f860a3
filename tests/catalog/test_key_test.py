"""The console's key test: a one-token call through the key's adapter, against the upstream emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from services.catalog.key_test import DEFAULT_TEST_MODELS, run_key_test
from services.errors import CatalogError
from services.hub import Hub
from tests.emulator_vertex import throwaway_service_account
from tests.factories import TEST_ACTOR, emulated_hub
from tests.upstream_emulator import EmulatorHandle


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle) -> AsyncIterator[Hub]:
    """Empty: each test adds its own provider on the emulator."""
    async with emulated_hub(tmp_path / "data", emulator) as hub:
        yield hub


def add_provider(hub: Hub, emulator: EmulatorHandle, *behaviours: str, kind: str = "openai") -> dict[str, int]:
    """A provider on the emulator with one key per behaviour; key ids by behaviour."""
    base = emulator.url + "/v1" if kind == "openai" else emulator.url
    keys = [{"label": behaviour, "secret": f"{behaviour}#{uuid.uuid4().hex}"} for behaviour in behaviours]
    name = f"{kind}-{uuid.uuid4().hex[:6]}"
    provider = hub.catalog.create_provider(TEST_ACTOR, {"name": name, "kind": kind, "base_url": base, "keys": keys})
    return {key.label: key.id for key in provider.keys}


def sent_to(emulator: EmulatorHandle, hub: Hub, key_id: int) -> list[dict]:
    secret = next(k.secret for keys in hub.table.keys_by_provider.values() for k in keys if k.id == key_id)
    return [r for r in emulator.requests() if r["key"] == secret]


async def test_a_good_key_passes_with_its_latency_and_one_token(hub: Hub, emulator: EmulatorHandle) -> None:
    keys = add_provider(hub, emulator, "ok")
    result = await run_key_test(hub, TEST_ACTOR, keys["ok"])
    assert result.ok and result.error is None and result.latency_ms > 0
    assert result.model == DEFAULT_TEST_MODELS["openai"]
    assert "OK in" in result.summary
    (request,) = sent_to(emulator, hub, keys["ok"])
    assert request["body"]["max_tokens"] == 1 and request["body"]["messages"] == [{"role": "user", "content": "ping"}]


async def test_the_model_comes_from_a_route_to_the_provider(hub: Hub, emulator: EmulatorHandle) -> None:
    keys = add_provider(hub, emulator, "ok")
    provider = hub.catalog.get_key(keys["ok"]).provider
    hub.catalog.create_model(TEST_ACTOR, {"name": "smart", "routes": [{"provider": provider, "model": "gpt-4o"}]})
    result = await run_key_test(hub, TEST_ACTOR, keys["ok"])
    assert result.model == "gpt-4o"
    assert sent_to(emulator, hub, keys["ok"])[0]["body"]["model"] == "gpt-4o"


async def test_an_unauthorized_key_shows_the_provider_error_and_becomes_invalid(hub: Hub, emulator: EmulatorHandle) -> None:
    keys = add_provider(hub, emulator, "unauthorized")
    result = await run_key_test(hub, TEST_ACTOR, keys["unauthorized"])
    assert not result.ok and result.status == 401
    assert result.error is not None and "Incorrect API key provided." in result.error
    assert result.summary.startswith("401: ")
    key = hub.catalog.get_key(keys["unauthorized"])
    assert key.status == "invalid" and "Incorrect API key provided." in (key.last_error or "")


async def test_a_passing_test_re_enables_an_invalid_key(hub: Hub, emulator: EmulatorHandle) -> None:
    keys = add_provider(hub, emulator, "unauthorized")
    await run_key_test(hub, TEST_ACTOR, keys["unauthorized"])
    hub.catalog.rotate_key_secret(TEST_ACTOR, keys["unauthorized"], "ok#fixed-" + uuid.uuid4().hex)
    hub.states.health(keys["unauthorized"]).disabled_reason = "invalid"  # rotation resets; mark it again
    result = await run_key_test(hub, TEST_ACTOR, keys["unauthorized"])
    assert result.ok and result.reenabled
    assert hub.catalog.get_key(keys["unauthorized"]).status == "active"


async def test_a_rate_limited_key_cools_down(hub: Hub, emulator: EmulatorHandle) -> None:
    keys = add_provider(hub, emulator, "rate-limit:30")
    before = hub.clock.now()
    result = await run_key_test(hub, TEST_ACTOR, keys["rate-limit:30"])
    after = hub.clock.now()
    assert not result.ok and result.status == 429
    key = hub.catalog.get_key(keys["rate-limit:30"])
    assert key.status == "active"  # a 429 cools the model it was for, not the key's other models
    assert [(d.model, d.status) for d in key.deployments] == [(result.model, "cooling")]
    until = key.deployments[0].until
    assert until is not None and before + 30 <= until.timestamp() <= after + 30  # the upstream's Retry-After: 30, from the 429's moment


@pytest.mark.parametrize("kind", ["anthropic", "gemini", "ollama"])
async def test_other_wire_formats(hub: Hub, emulator: EmulatorHandle, kind: str) -> None:
    keys = add_provider(hub, emulator, "ok", "unauthorized", kind=kind)
    assert (await run_key_test(hub, TEST_ACTOR, keys["ok"])).ok
    failed = await run_key_test(hub, TEST_ACTOR, keys["unauthorized"])
    assert not failed.ok and failed.status == 401 and failed.error


async def test_an_unknown_key_is_a_not_found_error(hub: Hub) -> None:
    with pytest.raises(CatalogError) as caught:
        await run_key_test(hub, TEST_ACTOR, 12345)
    assert caught.value.status == 404


@pytest.mark.parametrize(("kind", "secret", "options"), [
    ("azure", "ok#azure-test", {"api_version": "2024-10-21"}),
    ("bedrock", "AKIDTEST:secret-AKIDTEST", {"region": "us-east-1"}),
    ("bedrock", "AKIDTEST:a-wrong-secret", {"region": "us-east-1"}),
])
async def test_cloud_keys_are_tested_with_their_options_and_signature(hub: Hub, emulator: EmulatorHandle, kind: str, secret: str,
                                                                      options: dict[str, str]) -> None:
    provider = hub.catalog.create_provider(TEST_ACTOR, {"name": f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind, "base_url": emulator.url,
                                                        "options": options, "keys": [{"label": "k", "secret": secret}]})
    result = await run_key_test(hub, TEST_ACTOR, provider.keys[0].id)
    assert result.model == DEFAULT_TEST_MODELS[kind]
    assert result.ok is ("wrong" not in secret)
    if not result.ok:
        assert result.status == 403 and "signature" in (result.error or "")


@pytest.mark.parametrize(("registered", "secret_of", "error"), [
    (True, lambda account: account, None),
    (False, lambda account: account, "account not found"),
    (True, lambda account: {**account, "private_key": "not a key"}, "not an unencrypted PEM RSA private key"),
    (True, lambda account: "AIza-not-a-service-account", "service account's JSON key file"),
])
async def test_vertex_keys_are_tested_with_a_token_from_their_service_account(
        hub: Hub, emulator: EmulatorHandle, registered: bool, secret_of: Callable[[dict[str, str]], object], error: str | None) -> None:
    account = throwaway_service_account(f"t{uuid.uuid4().hex[:8]}@p.iam.gserviceaccount.com", emulator.url if registered else None)
    secret = secret_of(account)
    options = {"project": "p", "location": "us-central1", "token_url": f"{emulator.url}/token"}
    provider = hub.catalog.create_provider(TEST_ACTOR, {
        "name": f"vertex-{uuid.uuid4().hex[:6]}", "kind": "vertex", "base_url": emulator.url, "options": options,
        "keys": [{"label": "sa", "secret": secret if isinstance(secret, str) else orjson.dumps(secret).decode()}]})
    result = await run_key_test(hub, TEST_ACTOR, provider.keys[0].id)
    assert result.model == DEFAULT_TEST_MODELS["vertex"] and result.ok is (error is None)
    if error is not None:
        assert error in (result.error or "") and "PRIVATE KEY" not in (result.error or "")
        assert hub.catalog.get_provider(provider.name).keys[0].status == "invalid"


async def test_a_preset_provider_is_tested_with_its_presets_model(hub: Hub, emulator: EmulatorHandle) -> None:
    provider = hub.catalog.create_provider(TEST_ACTOR, {"name": f"groq-{uuid.uuid4().hex[:6]}", "preset": "groq",
                                                        "base_url": emulator.url + "/v1",
                                                        "keys": [{"label": "k", "secret": f"ok#{uuid.uuid4().hex}"}]})
    result = await run_key_test(hub, TEST_ACTOR, provider.keys[0].id)
    assert result.ok and result.model == "llama-3.1-8b-instant"
