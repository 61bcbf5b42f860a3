"""The route editor's checks before a logical model is saved."""

from __future__ import annotations

from datetime import UTC, datetime

from services.catalog.route_check import RouteIssue, check_routes
from services.catalog.views import KeyPublic, ProviderPublic

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def provider(name: str, *, keys: tuple[bool, ...] = (True,), enabled: bool = True) -> ProviderPublic:
    return ProviderPublic(
        id=1, name=name, kind="openai", base_url=None, effective_base_url="https://api.openai.com/v1", enabled=enabled,
        keys=[
            KeyPublic(id=index, provider_id=1, provider=name, label=f"k{index}", secret_masked="…abcd", priority=1, weight=1,
                      rpm=None, tpm=None, daily_tokens=None, monthly_usd=None, enabled=on, status="active", status_until=None,
                      last_error=None, last_error_at=None, created_at=NOW, updated_at=NOW)
            for index, on in enumerate(keys)
        ],
        created_at=NOW, updated_at=NOW,
    )


PROVIDERS = [provider("main"), provider("spare", keys=(False,)), provider("off", enabled=False), provider("empty", keys=())]


def test_a_good_route_list_has_no_issues() -> None:
    assert check_routes([{"provider": "main", "model": "gpt-4o"}, {"provider": "main", "model": "gpt-4o-mini"}], PROVIDERS) == []


def test_missing_provider_and_empty_model_are_errors_at_their_fields() -> None:
    assert check_routes([{"provider": None, "model": "  "}], PROVIDERS) == [
        RouteIssue(0, "provider", "choose a provider"),
        RouteIssue(0, "model", "enter the provider's model name"),
    ]


def test_a_duplicate_route_names_the_first_one() -> None:
    issues = check_routes([{"provider": "main", "model": "gpt-4o"}, {"provider": "main", "model": "gpt-4o"}], PROVIDERS)
    assert issues == [RouteIssue(1, "model", "the same route as #1")]


def test_providers_that_cannot_serve_are_warnings_not_errors() -> None:
    routes = [{"provider": name, "model": "m"} for name in ("spare", "off", "empty")]
    issues = check_routes(routes, PROVIDERS)
    assert [(i.index, i.field, i.blocking) for i in issues] == [(0, "provider", False), (1, "provider", False), (2, "provider", False)]
    assert "no enabled key" in issues[0].message and "disabled" in issues[1].message


def test_unknown_provider_and_no_routes_block() -> None:
    assert check_routes([{"provider": "gone", "model": "m"}], PROVIDERS)[0].message == "no provider named 'gone'"
    assert check_routes([], PROVIDERS) == [RouteIssue(0, "provider", "add at least one route")]
