"""A real PostgreSQL server for the tests: Debian's `postgresql` package (`make postgres`), started once per
test session in a temporary folder on a free loopback port, a fresh database for each test that asks.

    postgres_server   the session fixture: a PostgresServer (initdb -A trust, pg_ctl start), stopped at the end
    database_url      for a fixture parametrized with DATABASES: a SQLite file in tmp_path, or a new database
                      on the server (dropped after the test)
    postgres_module_url   one database for a whole test module

PostgreSQL refuses to run as root: as root, the cluster belongs to the unprivileged `postgres` user the
package creates (`runuser -u postgres`). Without the binaries, every PostgreSQL case FAILS, naming the make
target that installs them: a missing server must never look like a passing run.

Test modules import the fixtures they use (`from tests.postgres import postgres_server  # noqa: F401`);
however many modules do, the server is started once.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DATABASES = ["sqlite", "postgres"]
MISSING = ("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): run `make postgres` "
           "(Debian's postgresql package) to run the tests on PostgreSQL as well as SQLite")
SUPERUSER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL's binaries (Debian keeps them off PATH, per major version), or pg_ctl's on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
                   if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only, with trust authentication."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.logfile = self.root / "server.log"
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        self.sockets.mkdir()
        if self._as_postgres:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
            shutil.chown(self.sockets, SUPERUSER, SUPERUSER)

    # -- running its tools -----------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if res.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{tool} failed ({res.returncode}): {res.stderr or res.stdout}\n{log}")
        return res

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                  "--no-locale", "--no-sync")
        # Durability is not what is tested: without fsync, creating a database per test is quick.
        options = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   f"-c max_connections=300 -k {self.sockets}")
        for attempt in range(3):  # a free port may be taken between choosing and binding it
            self.port = _free_port()
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
                          "-o", f"{options} -p {self.port}", "start", timeout=90)
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- databases -------------------------------------------------------------------------------------
    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "test") -> str:
        """A new, empty database; its name."""
        safe = "".join(c if c.isalnum() else "_" for c in prefix.lower())[:40]
        name = f"{safe}_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: connections a test left in its pools (or a thread still running) must not keep it alive.
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def database_bytes(self, name: str) -> bytes:
        """The database's files and the write-ahead log, as someone copying the data folder would get them."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=name,
                             autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        files = [*sorted((self.data / "base" / str(oid)).iterdir()), *sorted((self.data / "pg_wal").glob("0*"))]
        return b"".join(p.read_bytes() for p in files if p.is_file())


_server: PostgresServer | None = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    global _server
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(MISSING, pytrace=False)
    owner = _server is None
    if owner:
        t0 = time.monotonic()
        server = PostgresServer(bin_dir)
        try:
            _server = server.start()
        except Exception:
            server.stop()
            raise
        print(f"PostgreSQL {bin_dir.parts[-2]} on 127.0.0.1:{server.port} in {time.monotonic() - t0:.1f} s")
    assert _server is not None
    yield _server
    if owner:
        _server.stop()
        _server = None


def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For a fixture with `params=DATABASES`: the URL of a new SQLite file, or of a new PostgreSQL database
    (dropped when the test ends)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(request.node.name)
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)


@pytest.fixture(scope="module")
def postgres_module_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """One fresh database for a whole test module."""
    name = postgres_server.create_database(request.module.__name__.rsplit(".", 1)[-1])
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
