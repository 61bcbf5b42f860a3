"""The providers table: name, kind, base URL (the kind's default shown as such), key count ("none
needed" for a keyless local server), and buttons to list its models, add a key or delete the
provider. One card per provider on a phone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.key_table import PHONE
from services.catalog.views import ProviderPublic

COLUMNS = [
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left"},
    {"name": "base_url", "label": "Base URL", "field": "base_url", "align": "left"},
    {"name": "keys", "label": "Keys", "field": "keys", "align": "right"},
    {"name": "actions", "label": "", "field": "name", "align": "right"},
]
BASE_URL = r"""<span class="text-xs break-all" :class="props.row.default_url ? 'text-grey-7' : ''">{{ props.row.base_url }}</span>
<span v-if="props.row.default_url" class="text-xs text-grey-7"> (default)</span>"""
ACTIONS = r"""
<div class="row no-wrap justify-end">
  <q-btn dense flat no-caps no-wrap color="primary" icon="model_training" label="Models"
         @click="$parent.$emit('discover', props.row.name)" :aria-label="'Models of ' + props.row.name" />
  <q-btn dense flat no-caps no-wrap color="primary" icon="add" label="Key" @click="$parent.$emit('add_key', props.row.name)"
         :aria-label="'Add a key to ' + props.row.name" />
  <q-btn dense flat round color="grey-7" icon="delete" @click="$parent.$emit('delete_provider', props.row.name)"
         :aria-label="'Delete provider ' + props.row.name" />
</div>
"""
CARD = rf"""
<div class="q-pa-xs col-12">
  <q-card flat bordered>
    <q-card-section class="row items-start no-wrap q-pb-none">
      <div class="col">
        <div class="text-weight-medium">{{{{ props.row.name }}}}
          <span class="text-grey-7 text-xs">· {{{{ props.row.kind }}}} · keys: {{{{ props.row.keys }}}}</span></div>
        <div>{BASE_URL}</div>
      </div>
      {ACTIONS}
    </q-card-section>
  </q-card>
</div>
"""
NameAction = Callable[[str], Awaitable[None]]


class ProviderTable:
    def __init__(self, *, on_add_key: NameAction, on_delete: NameAction, on_discover: NameAction) -> None:
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="name").classes("w-full")
        self.table.props(f"flat wrap-cells data-testid=provider-table no-data-label='No providers yet.' :grid=\"{PHONE}\"")
        self.table.add_slot("body-cell-base_url", f'<q-td :props="props">{BASE_URL}</q-td>')
        self.table.add_slot("body-cell-actions", f'<q-td :props="props">{ACTIONS}</q-td>')
        self.table.add_slot("item", CARD)
        self.table.on("add_key", lambda event: on_add_key(event.args))
        self.table.on("delete_provider", lambda event: on_delete(event.args))
        self.table.on("discover", lambda event: on_discover(event.args))

    def show(self, providers: list[ProviderPublic]) -> None:
        rows = [
            {
                "name": p.name, "kind": p.kind, "base_url": p.effective_base_url, "default_url": p.base_url is None,
                "keys": "none needed" if p.keyless else len(p.keys),
            }
            for p in providers
        ]
        if rows != self.table.rows:
            self.table.rows = rows
            self.table.update()
