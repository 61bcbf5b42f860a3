"""Mutation testing of the gateway core: how much of the router, the key state, token admission and
budgets the fast unit tests would notice if it were wrong.

    python bench/mutation.py [--incremental] [--max-children 2] [--survivors] [--retest-survivors] [--report-only]

Runs ``mutmut run`` (configured in pyproject's ``[tool.mutmut]``: which modules are mutated and which
tests run against them) under ``nice``, with its progress in ``mutants/run.log``, then prints one
Markdown row per module group: mutants, killed, survived, untested, the score and its target. A mutant
counts as caught when a test fails or times out on it; one no test reaches counts as a survivor.
Without ``--incremental`` the ``mutants/`` copy is made afresh, so the figures describe the tree as it
is; an interrupted run's table says so (``not run yet``, a verdict ``so far``). ``--survivors`` lists
the surviving mutants (``mutmut show NAME`` prints one's diff). Exits 1 when a target is missed or
the run is incomplete. After adding tests, ``--retest-survivors`` runs only the last run's survivors again
(mutmut keeps every other verdict), which takes a fraction of a full run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    modules: tuple[str, ...]
    target: float


GROUPS = (
    Group("router", ("services/gateway/router.py",), 0.85),
    Group("key state", ("services/gateway/key_state.py", "services/gateway/health.py"), 0.85),
    Group("token admission + budgets", ("services/accounts/tokens.py",), 0.80),
    Group("budget reservation", ("services/gateway/reservation.py",), 0.80),
)
CAUGHT = {"killed", "timeout", "caught by type check"}
UNTESTED = {"no tests"}
NOT_COUNTED = {"skipped", "not checked", "check was interrupted by user"}


def run_mutmut(max_children: int, incremental: bool, mutants: list[str] | None = None) -> None:
    """``mutmut run`` on everything (afresh unless ``incremental``), or on the ``mutants`` named."""
    if not incremental and not mutants:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    MUTANTS.mkdir(exist_ok=True)
    log = MUTANTS / "run.log"
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *(mutants or [])]
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        sys.exit(f"mutmut failed ({done.returncode}); see {log}")
    print(f"mutmut run: {time.monotonic() - started:.0f} s\n")


def statuses(module: str) -> dict[str, str]:
    """Each mutant of ``module`` and what became of it, from mutmut's record in ``mutants/``."""
    from mutmut.stats import status_by_exit_code  # a dev dependency: imported only when the tool runs

    meta = MUTANTS / f"{module}.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def score_table(groups: tuple[Group, ...] = GROUPS) -> tuple[list[str], list[str], bool]:
    """The Markdown table, the surviving mutants' names, and whether every target is met."""
    lines = ["| module | mutants | killed | survived | no tests | score | target | not run yet |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    survivors: list[str] = []
    all_met = True
    for group in groups:
        found = {name: status for module in group.modules for name, status in statuses(module).items()}
        counts = Counter("caught" if s in CAUGHT else "untested" if s in UNTESTED else s for s in found.values())
        counted = sum(n for status, n in counts.items() if status not in NOT_COUNTED)
        score = counts["caught"] / counted if counted else 0.0
        met = counted > 0 and score >= group.target
        pending = counts["not checked"] > 0  # an interrupted run: the verdict holds for the mutants run so far
        all_met &= met and not pending
        verdict = ("met" if met else "MISSED") + (" so far" if pending else "")
        lines.append(f"| {group.name} | {counted} | {counts['caught']} | {counted - counts['caught'] - counts['untested']} "
                     f"| {counts['untested']} | {score:.1%} | ≥ {group.target:.0%} {verdict} | {counts['not checked']} |")
        survivors += sorted(name for name, status in found.items() if status not in CAUGHT | NOT_COUNTED)
    return lines, survivors, all_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incremental", action="store_true", help="keep mutants/ and mutmut's earlier results")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--survivors", action="store_true", help="list the mutants no test caught")
    parser.add_argument("--retest-survivors", action="store_true", help="run only the last run's survivors (and timeouts) again")
    parser.add_argument("--report-only", action="store_true", help="print the table of the last run without running")
    args = parser.parse_args()
    if args.retest_survivors:
        _, survivors, _ = score_table()
        modules = [module for group in GROUPS for module in group.modules]
        timeouts = [name for module in modules for name, status in statuses(module).items() if status == "timeout"]
        if survivors or timeouts:
            run_mutmut(args.max_children, True, survivors + timeouts)
    elif not args.report_only:
        run_mutmut(args.max_children, args.incremental)
    lines, survivors, all_met = score_table()
    print("\n".join(lines))
    if args.survivors:
        print("\n".join(["", "Survivors:", *survivors]))
    sys.exit(0 if all_met else 1)


if __name__ == "__main__":
    main()
