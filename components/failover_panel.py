"""The failover tax on the Usage page (admins): what retries, cooling keys and open circuits cost over the
range, by provider and by key, and each key pool's headroom at its recorded peak with a hint when it ran out.

It shows the answer of ``services.usage.failover.failover_tax`` (the same as ``GET /api/usage/failover``).
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.charts import KpiCard, kpi_card
from services.gateway.pricing import format_usd

NARROW = {"classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"}
TAX_COLUMNS: list[dict[str, Any]] = [
    {"name": "who", "label": "Provider / key", "field": "who", "align": "left", "classes": "break-words"},
    {"name": "extra", "label": "Extra calls", "field": "extra", "align": "right"},
    {"name": "billed", "label": "Billed", "field": "billed", "align": "right", **NARROW},
    {"name": "added", "label": "Added time", "field": "added", "align": "right"},
    {"name": "why", "label": "Why", "field": "why", "align": "left", "classes": "break-words"},
]
POOL_COLUMNS: list[dict[str, Any]] = [
    {"name": "provider", "label": "Key pool", "field": "provider", "align": "left", "classes": "break-words"},
    {"name": "rpm", "label": "Requests / min", "field": "rpm", "align": "left"},
    {"name": "tpm", "label": "Tokens / min", "field": "tpm", "align": "left", **NARROW},
    {"name": "daily_tokens", "label": "Tokens / day", "field": "daily_tokens", "align": "left", **NARROW},
]
POOL_ROW = r"""
<q-tr :props="props">
  <q-td v-for="col in props.cols" :key="col.name" :props="props">{{ col.value }}</q-td>
</q-tr>
<q-tr v-if="props.row.hint" :props="props" class="pool-hint">
  <q-td colspan="100%" class="text-warning text-sm" style="white-space: normal" data-testid="pool-hint">
    <q-icon name="warning" size="16px" class="q-mr-xs" />{{ props.row.hint }}</q-td>
</q-tr>
"""


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason.replace('_', ' ')} ×{count}" for reason, count in counts.items())


def tax_row(line: dict[str, Any], who: str) -> dict[str, Any]:
    """One provider's or key's tax as a table row."""
    failed, skipped = _reasons(line["failed"]), _reasons(line["skipped"])
    why = "; ".join(part for part in (f"failed: {failed}" if failed else "", f"skipped: {skipped}" if skipped else "") if part)
    return {"id": who, "who": who, "extra": f"{line['extra_calls']:,}", "billed": format_usd(round(line["billed_usd"] * 1_000_000)),
            "added": f"{line['added_ms']:,.0f} ms", "why": why or "—"}


def _headroom(pool: dict[str, Any], limit: str) -> str:
    peak, ceiling, room = pool["peak"].get(limit, 0), pool["limits"][limit], pool["headroom"][limit]
    if ceiling is None:
        return f"peak {peak:,} · no limit"
    return f"peak {peak:,} of {ceiling:,} · {max(room, 0):.0%} left"


def pool_row(pool: dict[str, Any]) -> dict[str, Any]:
    keys = f"{pool['keys']} key{'s' if pool['keys'] != 1 else ''}"
    return {"id": pool["provider"], "provider": f"{pool['provider']} ({keys})", "hint": pool["hint"],
            **{limit: _headroom(pool, limit) for limit in ("rpm", "tpm", "daily_tokens")}}


class FailoverPanel:
    def __init__(self) -> None:
        with ui.card().classes("w-full gap-2 min-w-0").props("flat bordered data-testid=failover-tax"):
            ui.label("Failover tax").classes("text-base font-medium")
            ui.label("What retries, cooling keys and open circuits cost in this range (all traffic: the filters above do not "
                     "apply). Providers bill a failed attempt only when its answer broke after it started.").classes(
                "text-sm text-grey-7")
            with ui.element("div").classes("w-full grid gap-3 grid-cols-2 md:grid-cols-4"):
                self.kpis: dict[str, KpiCard] = {name: kpi_card(label, testid=f"tax-{name}") for name, label in (
                    ("affected", "Affected requests"), ("extra", "Extra upstream calls"), ("billed", "Billed for failures"),
                    ("added", "Added per affected request"))}
            self.providers = self._table([{**TAX_COLUMNS[0], "label": "Provider"}, *TAX_COLUMNS[1:]], "failover-providers",
                                         "No failovers in this range")
            self.keys = self._table([{**TAX_COLUMNS[0], "label": "Key"}, *TAX_COLUMNS[1:]], "failover-keys", "No failovers in this range")
            ui.label("Key pools at their peak").classes("text-sm font-medium mt-2")
            ui.label("A provider's enabled keys together: the busiest minute and UTC day of the range against the sum of "
                     "their limits.").classes("text-xs text-grey-7 -mt-2")
            self.pools = self._table(POOL_COLUMNS, "key-pools", "No keys")
            self.pools.add_slot("body", POOL_ROW)

    @staticmethod
    def _table(columns: list[dict[str, Any]], testid: str, empty: str) -> ui.table:
        table = ui.table(columns=columns, rows=[], row_key="id").classes("w-full")
        table.props(f'flat bordered dense wrap-cells hide-bottom data-testid={testid} no-data-label="{empty}"')
        return table

    def show(self, tax: dict[str, Any]) -> None:
        affected = tax["affected_requests"]
        self.kpis["affected"].show(f"{affected:,}", f"of {tax['requests']:,} requests")
        self.kpis["extra"].show(f"{tax['extra_calls']:,}")
        self.kpis["billed"].show(format_usd(round(tax["billed_usd"] * 1_000_000)))
        per_request = tax["added_ms_per_affected_request"]
        p95 = tax["added_ms_p95"]
        self.kpis["added"].show("—" if per_request is None else f"{per_request:,.0f} ms", "" if p95 is None else f"p95 {p95:,.0f} ms")
        self.providers.rows = [tax_row(line, line["provider"]) for line in tax["by_provider"]]
        self.keys.rows = [tax_row(line, f"{line['provider']} · {line['key'] or line['key_id'] or 'no key'}") for line in tax["by_key"]]
        self.pools.rows = [pool_row(pool) for pool in tax["pools"]]
