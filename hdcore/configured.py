"""The engine as this machine is configured: the settings, and the history when the machine keeps one (the
adaptive order reads it). The library's ``hdcore.enhance``, ``hd_image`` and the CLI start from here; the app
shares one store between its sessions instead."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .config import Config
from .engine import Engine
from .health import planner_for
from .store import HISTORY_FILE, HistoryStore, open_store


def history_store(config: Config, env: Mapping[str, str] | None = None) -> HistoryStore | None:
    """The history this machine keeps: a PostgreSQL database (HDCORE_DATABASE_URL), or the SQLite file when
    HDCORE_DATA_DIR is set or the file is already there. Never a new one made in whatever folder a script
    happens to run in."""
    env = os.environ if env is None else env
    folder = Path(config.data_dir)
    if config.database_url or env.get("HDCORE_DATA_DIR") or (folder / HISTORY_FILE).is_file():
        return open_store(config)
    return None


def configured_engine(config: Config | None = None, env: Mapping[str, str] | None = None) -> Engine:
    """An engine for ``config`` (default: from the environment) with the planner its settings ask for, and the
    history's spend ledger for the daily cap (this process's own, without a history)."""
    config = config if config is not None else Config.from_env(env)
    store = history_store(config, env)
    return Engine(config, planner=planner_for(config, store), ledger=store.spend_ledger() if store else None)
