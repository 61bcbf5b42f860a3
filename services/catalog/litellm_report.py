"""The migration report of a LiteLLM ``config.yaml``: what became of each ``model_list`` entry and of
each top-level setting.

An entry is ``imported`` (everything it says is kept), ``imported with changes`` (it serves, but its
notes say what was dropped or altered) or ``skipped`` (its notes say why). A setting is ``kept``
(LLM Hub already behaves so), ``mapped`` (translated into LLM Hub's terms) or ``not supported``
(with the LLM Hub setting that plays its role, where there is one). The report is the API's answer,
the console's preview and, at start-up, lines in the log (``log_lines``); it never holds a secret.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

EntryOutcome = Literal["imported", "imported with changes", "skipped"]
SettingOutcome = Literal["kept", "mapped", "not supported"]


class EntryReport(BaseModel):
    entry: str = Field(description='where it is in the file, e.g. model_list[2] "gpt-4o"')
    model: str | None = Field(None, description="the logical model it became a route of")
    outcome: EntryOutcome = "imported"
    notes: list[str] = Field(default_factory=list)

    def change(self, note: str) -> None:
        """Something the entry says was dropped or altered: it still serves, with this note."""
        self.notes.append(note)
        if self.outcome == "imported":
            self.outcome = "imported with changes"

    def skip(self, note: str) -> None:
        self.notes.append(note)
        self.outcome = "skipped"


class SettingReport(BaseModel):
    setting: str = Field(description="e.g. router_settings.fallbacks")
    outcome: SettingOutcome
    note: str


class MigrationReport(BaseModel):
    entries: list[EntryReport] = Field(default_factory=list)
    settings: list[SettingReport] = Field(default_factory=list)

    def setting(self, name: str, outcome: SettingOutcome, note: str) -> None:
        self.settings.append(SettingReport(setting=name, outcome=outcome, note=note))

    def refuse_model(self, model: str, reason: str) -> None:
        """The catalog refused a model the translation made: every entry that went into it is skipped."""
        for entry in self.entries:
            if entry.model == model and entry.outcome != "skipped":
                entry.skip(f"not imported: {reason}")

    def summary(self) -> str:
        counts = {outcome: sum(e.outcome == outcome for e in self.entries) for outcome in ("imported", "imported with changes", "skipped")}
        settings = {outcome: sum(s.outcome == outcome for s in self.settings) for outcome in ("mapped", "kept", "not supported")}
        entries = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        kept = ", ".join(f"{n} {outcome}" for outcome, n in settings.items())
        return f"LiteLLM model_list: {len(self.entries)} entries ({entries}); settings: {kept}"

    def log_lines(self) -> list[tuple[EntryOutcome | SettingOutcome, str]]:
        """One line per entry not imported plainly and per setting not simply kept, each with its outcome
        (``skipped`` and ``not supported`` are what a reader must act on)."""
        lines: list[tuple[EntryOutcome | SettingOutcome, str]] = []
        lines += [(e.outcome, f"{e.entry}: {e.outcome}: {'; '.join(e.notes)}") for e in self.entries if e.outcome != "imported"]
        lines += [(s.outcome, f"{s.setting}: {s.outcome}: {s.note}") for s in self.settings if s.outcome != "kept"]
        return lines
