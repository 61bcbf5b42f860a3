"""A provider's kind-specific ``options`` (the cloud kinds): checked against the kind, kept, exported
handed to the routing table, and turned into a kind's default endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from services.catalog.config_export import export_config
from services.catalog.config_file import apply_config_file
from services.errors import CatalogError
from services.hub import Hub
from tests.factories import TEST_ACTOR, local_hub

CLOUDS = """
providers:
  - name: azure-east
    kind: azure
    base_url: https://contoso.openai.azure.com
    options: {api_version: 2024-06-01}
  - name: azure-entra
    kind: azure
    base_url: https://contoso-eu.openai.azure.com
    options: {token_url: "https://login.example/{tenant_id}/token"}
  - name: bedrock-east
    kind: bedrock
    options: {region: us-east-1}
  - name: vertex-eu
    kind: vertex
    options: {project: acme-ml, location: europe-west4}
  - name: vertex-global
    kind: vertex
    options: {project: acme-ml, location: global, token_url: "https://sts.example/token"}
"""


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with local_hub(tmp_path / "data") as hub:
        yield hub


def test_yaml_options_are_kept_exported_and_reach_the_routing_table(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "llmhub.yaml"
    path.write_text(CLOUDS)
    assert apply_config_file(path, hub=hub).providers.created == 5
    providers = {p.name: p for p in hub.catalog.list_providers()}
    assert providers["azure-east"].options == {"api_version": "2024-06-01"}  # YAML reads it as a date: kept as written
    assert hub.table.providers_by_name["azure-entra"].options == {"token_url": "https://login.example/{tenant_id}/token"}
    assert providers["bedrock-east"].effective_base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert providers["vertex-eu"].effective_base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert providers["vertex-global"].effective_base_url == "https://aiplatform.googleapis.com"
    exported = {p["name"]: p for p in yaml.safe_load(export_config(hub, TEST_ACTOR))["providers"]}
    assert exported["azure-east"]["options"] == {"api_version": "2024-06-01"}
    assert apply_config_file(path, hub=hub).changes == 0


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"kind": "bedrock"}, "options.region", "needs options.region"),
        ({"kind": "vertex", "options": {"location": "us-central1"}}, "options.project", "needs options.project"),
        ({"kind": "vertex", "options": {"project": "p"}}, "options.location", "needs options.location"),
        ({"kind": "vertex", "options": {"project": "p", "location": "us", "region": "x"}}, "options.region", "project"),
        ({"kind": "azure"}, "base_url", "needs a base_url"),
        ({"kind": "openai", "options": {"region": "x"}}, "options.region", "takes none"),
        ({"kind": "azure", "base_url": "https://x.openai.azure.com", "options": {"region": "x"}}, "options.region", "api_version"),
    ],
)
def test_options_that_do_not_fit_the_kind_are_refused(hub: Hub, spec: dict, field: str, reason: str) -> None:
    with pytest.raises(CatalogError) as caught:
        hub.catalog.create_provider(TEST_ACTOR, {"name": "cloud", **spec})
    assert caught.value.field == field and reason in str(caught.value)


def test_options_can_be_changed_and_cleared(hub: Hub) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "az", "kind": "azure", "base_url": "https://x.openai.azure.com"})
    changed = hub.catalog.update_provider(TEST_ACTOR, "az", {"options": {"api_version": "2025-01-01-preview"}})
    assert changed.options == {"api_version": "2025-01-01-preview"}
    assert hub.catalog.update_provider(TEST_ACTOR, "az", {"options": None}).options == {}


def test_vertex_multi_regions_have_their_rep_hosts() -> None:
    from services.gateway.adapters import resolve_base_url

    assert resolve_base_url("vertex", None, {"project": "p", "location": "eu"}) == "https://aiplatform.eu.rep.googleapis.com"
    assert resolve_base_url("vertex", "http://proxy.local/", {"project": "p", "location": "eu"}) == "http://proxy.local"
