"""``python -m services.migrations revision "message"``: write a new revision from the difference
between the tables in code and a database brought to the newest revision (a scratch SQLite file)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from services.db import make_engine
from services.migrations import alembic_config, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["revision"])
    parser.add_argument("message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(Path(folder) / "scratch.db")
        migrate(engine)
        with engine.begin() as connection:
            config = alembic_config(connection)
            number = len(list(ScriptDirectory.from_config(config).walk_revisions())) + 1
            command.revision(config, message=args.message, autogenerate=True, rev_id=f"{number:04d}")
        engine.dispose()


if __name__ == "__main__":
    main()
