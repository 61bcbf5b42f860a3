"""LLM Hub: ``python run.py`` starts the console and the gateway API in one process."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def parse_flags(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(description="LLM Hub: LLM gateway and console")
    parser.add_argument("--host", help="bind address (LLMHUB_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (LLMHUB_PORT, default 8080)")
    parser.add_argument("--data-dir", type=Path, help="SQLite file and secret key (LLMHUB_DATA_DIR, default data/)")
    parser.add_argument("--config", type=Path, help="YAML file of providers and models applied at start (LLMHUB_CONFIG)")
    parser.add_argument("--log-level", help="debug | info | warning | error (LLMHUB_LOG_LEVEL)")
    parser.add_argument("--migrate", action="store_true", help="bring the database to this release's schema, then exit")
    parser.add_argument("--workers", type=int, help="worker processes serving one port (LLMHUB_WORKERS, default 1; needs LLMHUB_REDIS_URL)")
    args = parser.parse_args(argv)
    flags = {"host": args.host, "port": args.port, "data_dir": args.data_dir, "config": args.config, "log_level": args.log_level,
             "workers": args.workers}
    return {**flags, "migrate": args.migrate}


def main(argv: list[str]) -> None:
    # One BLAS thread (before numpy is first imported): the semantic cache's matrix products run on the
    # event loop's thread, and a pool of BLAS threads spinning beside it only competes with the loop.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from app.settings import SettingsError, load_settings
    from services.errors import ConfigError, StartupError

    try:
        flags = parse_flags(argv)
        migrate_only = bool(flags.pop("migrate"))
        settings = load_settings(**flags)
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if settings.log_level != "debug":  # httpx logs every upstream call at INFO: noise, and time on the hot path
            logging.getLogger("httpx").setLevel(logging.WARNING)
            logging.getLogger("alembic").setLevel(logging.WARNING)  # its steps; the hub logs what was migrated
        from app.data_dir import make_private

        make_private(settings.data_dir)
        from app.workers import inherited_socket_fd, run_workers

        worker_fd = inherited_socket_fd()
        if settings.workers > 1 and worker_fd is None and not migrate_only:
            raise SystemExit(run_workers(settings, argv))
        os.environ.setdefault("NICEGUI_STORAGE_PATH", str((settings.data_dir / "storage").resolve()))
        if settings.redis_url:  # console sessions in Redis, so a person signed in on one instance is signed in on all
            os.environ.setdefault("NICEGUI_REDIS_URL", settings.redis_url)
            os.environ.setdefault("NICEGUI_REDIS_KEY_PREFIX", settings.redis_prefix + "nicegui:")
        from nicegui import (
            ui,  # after NICEGUI_STORAGE_PATH is set: NiceGUI reads it on import
        )

        from app.internals import serve_inherited_socket
        from app.server import build, migrate_database

        if migrate_only:
            migrate_database(settings)
            return
        hub = build(settings)
        if worker_fd is not None:
            serve_inherited_socket(worker_fd)
    except (SettingsError, ConfigError, StartupError) as exc:
        sys.stderr.write(f"llmhub: {exc}\n")
        raise SystemExit(2) from None
    ui.run(
        host=settings.host,
        port=settings.port,
        title="LLM Hub",
        reload=False,
        show=False,
        storage_secret=hub.session_secret(),
        session_middleware_kwargs={"max_age": int(settings.session_max_hours * 3600), "same_site": "lax"},
        forwarded_allow_ips=settings.trusted_proxies,
        uvicorn_logging_level="warning",
        show_welcome_message=False,
        loop="uvloop",
        http="httptools",
        access_log=False,  # never printed at the "warning" level, yet its arguments were built on every answer
        server_header=False,
    )


if __name__ in {"__main__", "__mp_main__"}:
    main([] if "PYTEST_CURRENT_TEST" in os.environ else sys.argv[1:])
