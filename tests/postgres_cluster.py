"""A real, throwaway PostgreSQL cluster for the tests, with Debian's server binaries (package ``postgresql``).

``PostgresCluster.create()`` runs ``initdb`` into a fresh temporary folder (fsync off: nothing here needs to
survive a power cut), starts it with ``pg_ctl`` on a free 127.0.0.1 port with its socket in that folder, sets
a password for the superuser, so the store connects over TCP with password authentication as it would to a
hosted database, and creates the database the tests share. ``destroy()`` stops the server and removes the
folder. Every wait is bounded (``WAIT_S``).

Each test gets a new schema in that database (``create_schema``: the URL's ``options`` set its search_path),
which is as empty as a new database to the store. A new database copies its 7.5 MB template: 55 of them took
31 s just to delete on a 2-core machine, against milliseconds for a schema. ``create_database`` is there for
the tests that need a whole database.

Root: ``initdb`` and ``postgres`` refuse to run as root, and the tests run as root in CI. Then the cluster runs
as the ``postgres`` user that Debian's package creates (``nobody`` where there is none): its folder is made
under /tmp (pytest's own temporary folders are root-only, so that user could not reach one), handed to that
user, and each server command is started with ``subprocess``'s ``user`` / ``group`` / ``extra_groups``, which
drop root in the child before it runs. No ``sudo``, ``su`` or ``runuser`` is needed. A test run as another user
runs the commands as itself.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SUPERUSER = "postgres"
TEST_DATABASE = "hdcore_test"
PASSWORD = "pw-Sentinel-never-shown-7731"  # tests check that no message ever holds it
WAIT_S = 30
_PORT_TRIES = 3  # a free port can be taken by another process between the check and the start


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl: ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin,
    else the PATH."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=WAIT_S, check=False)
        candidates.append(Path(found.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    def __init__(self, folder: Path, bindir: Path, account: pwd.struct_passwd | None):
        self.folder = folder
        self.bindir = bindir
        self.account = account  # the user the server runs as; None: this process's own
        self.data = folder / "data"
        self.port = 0
        self._created = 0

    @classmethod
    def create(cls) -> "PostgresCluster":
        account = _server_account() if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix="hdcore-pg-"))
        cluster = cls(folder, server_binaries(), account)
        try:
            cluster._init()
            cluster.start()
            with cluster.admin() as connection:
                connection.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def url(self, database: str = "postgres", password: str = PASSWORD, schema: str | None = None) -> str:
        url = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"
        return f"{url}?options=-csearch_path%3D{schema}" if schema else url

    def create_schema(self) -> str:
        """A new, empty schema in the tests' database; returns a URL whose search_path is that schema."""
        self._created += 1
        name = f"test_{self._created}"
        with psycopg.connect(self.url(TEST_DATABASE), autocommit=True, connect_timeout=WAIT_S) as connection:
            connection.execute(f'CREATE SCHEMA "{name}"')
        return self.url(TEST_DATABASE, schema=name)

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        self._created += 1
        name = f"{TEST_DATABASE}_{self._created}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=WAIT_S)

    def start(self) -> None:
        """Start the server (again), on the same port if it had one."""
        for attempt in range(_PORT_TRIES):
            port = self.port or free_port()
            options = f"-k {self.folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            started = self._run("pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w", "-t", WAIT_S,
                                "-o", options, "start", check=False)  # fmt: skip
            if started.returncode == 0:
                self.port = port
                return
            if self.port:  # a restart must keep its port: the stores under test know this one
                break
        raise RuntimeError(f"PostgreSQL did not start: {started.stdout}{started.stderr}{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", WAIT_S, "stop", check=False)

    def destroy(self) -> None:
        """Stop the server if it runs, and remove every file. Safe to call more than once."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        log = self.folder / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def _init(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD)
        if self.account is not None:
            for path in (self.folder, password_file):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        password_file.unlink()

    def _run(self, program: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        drop_root = {}
        if self.account is not None:
            drop_root = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [str(self.bindir / program), *map(str, args)],
            capture_output=True, text=True, timeout=WAIT_S * 2, cwd=self.folder, **drop_root,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")
        return done


def _server_account() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and no 'postgres' or 'nobody' user to run PostgreSQL as")
