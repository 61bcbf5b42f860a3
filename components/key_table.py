"""The keys table: masked secrets, a live status badge, today's requests and spend, and per-key actions.

Under a key's status, each of its models that is not serving right now (cooling after a 429, or
resting after a run of errors) is listed with when it comes back: providers limit per model, so one
key can be fine for one model and cooling for another.

Rows carry only public fields (``KeyPublic.secret_masked`` is ``…`` + the last four characters).
``refresh_status`` re-reads each key's status from the in-memory key state — no database — so a
timer can call it every couple of seconds; the page reloads the rows from the catalog after actions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nicegui import ui

from services.catalog.key_test import KeyTestResult
from services.catalog.views import KeyPublic, live_status
from services.gateway.key_state import KeyStateStore
from services.gateway.pricing import format_usd
from services.usage.queries import KeyUsage

KeyAction = Callable[[int], Awaitable[None]]
ACTION_EVENTS = ("test", "cooldown", "rotate", "reset", "delete")

COLUMNS: list[dict[str, Any]] = [
    {"name": "label", "label": "Key", "field": "label", "align": "left", "sortable": True},
    {"name": "provider", "label": "Provider", "field": "provider", "align": "left", "sortable": True},
    {"name": "secret", "label": "Secret", "field": "secret", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
    {"name": "requests", "label": "Requests today", "field": "requests", "align": "right", "sortable": True},
    {"name": "spend", "label": "Spend today", "field": "spend", "align": "right"},
    {"name": "check", "label": "Last test / error", "field": "check", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]

STATUS_BADGE = r"""
<q-badge :color="{active: 'positive', cooling: 'warning', exhausted: 'deep-orange', invalid: 'negative', disabled: 'grey-6'}
                  [props.row.status]" class="px-2 py-1 text-xs" :data-testid="'status-' + props.row.label">
  {{ props.row.until
      ? props.row.status + ' until ' + (props.row.status === 'cooling'
          ? new Date(props.row.until).toLocaleTimeString([], {hour12: false})
          : new Date(props.row.until).toLocaleString([], {hour12: false}))
      : props.row.status }}
</q-badge>
"""
DEPLOYMENTS = r"""
<div v-for="d in props.row.models" :key="d.model" class="text-xs q-mt-xs" :data-testid="'deployment-' + props.row.label + '-' + d.model"
     :title="d.last_error || ''">
  <q-icon :name="d.status === 'cooling' ? 'hourglass_top' : 'error_outline'"
          :color="d.status === 'cooling' ? 'warning' : 'negative'" size="14px" class="q-mr-xs" />
  <span class="text-weight-medium">{{ d.model }}</span>
  {{ d.status }} until {{ new Date(d.until).toLocaleTimeString([], {hour12: false}) }}
</div>
"""
SECRET = r"""<code class="text-xs whitespace-nowrap">{{ props.row.secret }}</code>"""
CHECK = r"""
<div v-if="props.row.test" :class="props.row.test_ok ? 'text-positive' : 'text-negative'" class="text-xs"
     :data-testid="'test-' + props.row.label">{{ props.row.test }}</div>
<div v-if="props.row.last_error && !(props.row.test && !props.row.test_ok)" class="text-xs text-grey-7 ellipsis-2-lines"
     :title="props.row.last_error">
  <span v-if="props.row.error_at">{{ new Date(props.row.error_at).toLocaleString([], {dateStyle: 'short', timeStyle: 'short'}) }} · </span>
  {{ props.row.last_error }}</div>
"""
#: Plain buttons, not a menu: every table update re-mounts slot content, which would close an open menu.
ACTIONS = r"""
<div class="row no-wrap items-center justify-end">
  <q-toggle dense size="sm" class="q-mr-xs" :model-value="props.row.enabled" :aria-label="'Enabled: ' + props.row.label"
            @update:model-value="value => $parent.$emit('toggle', {id: props.row.id, enabled: value})">
    <q-tooltip>{{ props.row.enabled ? 'Disable' : 'Enable' }}</q-tooltip>
  </q-toggle>
  <q-btn dense flat no-caps no-wrap color="primary" icon="network_check" label="Test" :loading="props.row.testing"
         @click="$parent.$emit('test', props.row.id)" />
  <q-btn v-for="action in [['cooldown', 'snooze', 'Force cooldown'], ['reset', 'healing', 'Clear status'],
                           ['rotate', 'vpn_key', 'Rotate secret'], ['delete', 'delete', 'Delete']]"
         :key="action[0]" dense flat round size="sm" :icon="action[1]" :color="action[0] === 'delete' ? 'negative' : 'grey-7'"
         :aria-label="action[2] + ': ' + props.row.label" @click="$parent.$emit(action[0], props.row.id)">
    <q-tooltip>{{ action[2] }}</q-tooltip>
  </q-btn>
</div>
"""
#: On a phone the table becomes one card per key (Quasar's grid mode) instead of a sideways scroll.
CARD = rf"""
<div class="q-pa-xs col-12">
  <q-card flat bordered :data-testid="'key-card-' + props.row.label">
    <q-card-section class="q-pb-xs">
      <div class="row items-center no-wrap q-gutter-x-sm">
        <div class="text-weight-medium ellipsis">{{{{ props.row.label }}}}</div>
        <div class="text-grey-7 text-xs ellipsis col">{{{{ props.row.provider }}}} · {SECRET}</div>
        {STATUS_BADGE}
      </div>
      {DEPLOYMENTS}
      <div class="text-xs text-grey-7 q-mt-xs">
        {{{{ props.row.requests }}}} {{{{ props.row.requests === 1 ? 'request' : 'requests' }}}} · {{{{ props.row.spend }}}} today
      </div>
      {CHECK}
    </q-card-section>
    <q-card-actions align="right" class="q-pt-none">{ACTIONS}</q-card-actions>
  </q-card>
</div>
"""
PHONE = "window.innerWidth < 768"


class KeyTable:
    def __init__(
        self,
        states: KeyStateStore,
        *,
        on_action: Mapping[str, KeyAction],
        on_toggle: Callable[[int, bool], Awaitable[None]],
    ) -> None:
        self.states = states
        self.tests: dict[int, KeyTestResult] = {}
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 20, "sortBy": "provider"})
        self.table.classes("w-full").props("flat wrap-cells data-testid=key-table")
        self.table.props("no-data-label='No keys yet: add a provider, then its keys.'")
        self.table.props(f':grid="{PHONE}"')
        cells = (("status", STATUS_BADGE + DEPLOYMENTS), ("secret", SECRET), ("check", CHECK), ("actions", ACTIONS))
        for name, content in cells:
            self.table.add_slot(f"body-cell-{name}", f'<q-td :props="props">{content}</q-td>')
        self.table.add_slot("item", CARD)
        for name in ACTION_EVENTS:
            self.table.on(name, lambda event, action=on_action[name]: action(int(event.args)))
        self.table.on("toggle", lambda event: on_toggle(int(event.args["id"]), bool(event.args["enabled"])))

    def show(self, keys: list[KeyPublic], usage: Mapping[int, KeyUsage]) -> None:
        """Re-render only when something changed: a re-render re-mounts every cell (tooltips, toggles)."""
        rows = [self._row(key, usage.get(key.id)) for key in keys]
        if rows != self.table.rows:
            self.table.rows = rows
            self.table.update()

    def _row(self, key: KeyPublic, usage: KeyUsage | None) -> dict[str, Any]:
        test = self.tests.get(key.id)
        row = {
            "id": key.id, "label": key.label, "provider": key.provider, "secret": key.secret_masked, "enabled": key.enabled,
            "requests": usage.requests if usage else 0, "spend": format_usd(usage.cost_micros if usage else 0),
            "test": test.summary if test else None, "test_ok": test.ok if test else None,
            "testing": False,
        }
        self._set_status(row)
        return row

    def _set_status(self, row: dict[str, Any]) -> bool:
        status, until = live_status(self.states, row["id"], row["enabled"])
        health = self.states.keys.get(row["id"])
        now = self.states.clock.now()
        troubled = [
            {"model": d.model, "status": d.status, "until": (d.until or now) * 1000, "last_error": d.last_error}
            for d in self.states.deployment_statuses(row["id"], now) if d.status != "active"
        ]
        values = {
            "status": status, "until": until * 1000 if until else None, "models": troubled,
            "last_error": health.last_error if health else None,
            "error_at": health.last_error_at * 1000 if health and health.last_error_at else None,
        }
        changed = any(row.get(name) != value for name, value in values.items())
        row.update(values)
        return changed

    def refresh_status(self) -> None:
        """Cheap: memory only, and the browser is updated only when a status changed."""
        changed = [self._set_status(row) for row in self.table.rows]
        if any(changed):
            self.table.update()

    def set_testing(self, key_id: int, testing: bool) -> None:
        for row in self.table.rows:
            if row["id"] == key_id:
                row["testing"] = testing
        self.table.update()
