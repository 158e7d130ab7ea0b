"""A throw-away PostgreSQL server for the tests (used by fixtures in ``conftest.py``).

:func:`start` runs ``initdb`` and ``pg_ctl start`` on a temporary data folder:
the server listens on 127.0.0.1 on a free port only (its unix socket in the
same temporary folder), and every TCP connection needs a password
(``scram-sha-256``). PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` user (created by the Debian packages; ``.ci/run``
makes sure it exists) or else ``nobody``.

:func:`load_dataset` copies a :class:`salesbench.core.dataset.Dataset` into a database
with canonical column types (text ids, ``date``, ``timestamp``, ``double
precision``, ``bigint``, ``boolean``) — what a real warehouse holding the demo
company looks like.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ADMIN, ADMIN_PASSWORD = "sbadmin", "pg-admin-7313"
USER, PASSWORD = "sbuser", "pg-secret-4242"

#: canonical logical type -> PostgreSQL column type
PG_TYPES = {"id": "text", "str": "text", "date": "date", "timestamp": "timestamp",
            "float": "double precision", "int": "bigint", "bool": "boolean"}


class Unavailable(RuntimeError):
    """PostgreSQL cannot be started here (binaries, driver or an unprivileged user missing)."""


def binary(name: str) -> str | None:
    """The newest ``/usr/lib/postgresql/<version>/bin/<name>``, else ``name`` on the PATH."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> list[str]:
    """Command prefix running a program as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if not runuser:
        raise Unavailable("running as root and runuser is missing (PostgreSQL refuses to run as root)")
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return [runuser, "-u", user, "--"]
    raise Unavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class Server:
    """A running server; :meth:`url` gives connection URLs, :meth:`stop` removes everything."""

    root: Path
    port: int
    pg_ctl: str
    prefix: list[str] = field(default_factory=list)

    def url(self, db: str = "postgres", user: str = ADMIN, password: str | None = ADMIN_PASSWORD,
            scheme: str = "postgresql") -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"{scheme}://{auth}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres"):
        """An autocommit psycopg connection as the administrator."""
        import psycopg

        return psycopg.connect(self.url(db), autocommit=True)

    def create_database(self, name: str) -> None:
        """A fresh database ``name`` owned by the administrator; the test user may connect and read."""
        with self.connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
            c.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO {USER}')
        with self.connect(name) as c:
            c.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {USER}")

    def stop(self) -> None:
        subprocess.run(self.prefix + [self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Server:
    """initdb + pg_ctl start in a temporary folder; raises :class:`Unavailable` when that cannot work."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("the psycopg driver is not installed (pip install 'salesbench[postgres]')") from None
    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    prefix = _run_as()
    root = Path(tempfile.mkdtemp(prefix="salesbench-pg-"))
    os.chmod(root, 0o777)  # the server user writes its data folder and socket here
    pwfile = root / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    os.chmod(pwfile, 0o644)
    port = _free_port()
    server = Server(root, port, pg_ctl, prefix)
    try:
        subprocess.run(prefix + [initdb, "-D", str(root / "data"), "-U", ADMIN, "--pwfile", str(pwfile),
                                 "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"],
                       check=True, capture_output=True, text=True, timeout=120)
        pwfile.unlink()
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(prefix + [pg_ctl, "-D", str(root / "data"), "-o", opts, "-l", str(root / "log"),
                                 "-w", "-t", "60", "start"], check=True, capture_output=True, text=True, timeout=90)
        with server.connect() as c:
            c.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
        detail = getattr(exc, "stderr", "") or ""
        server.stop()
        raise Unavailable(f"cannot start a PostgreSQL server: {exc}\n{detail}\n{log}") from None
    return server


def start_or_skip() -> Server:
    """:func:`start`, or skip the test when PostgreSQL is unavailable — but fail when ``CI`` is set:
    a skipped test proves nothing in CI (``.ci/run`` installs PostgreSQL and sets ``CI=true``)."""
    from ci_guard import skip_or_fail

    try:
        return start()
    except Unavailable as exc:
        skip_or_fail("the PostgreSQL tests", str(exc))


def load_dataset(server: Server, db: str, ds) -> dict[str, int]:
    """Copy every table of ``ds`` into database ``db`` with canonical column types; ``{table: rows}``."""
    from psycopg import sql

    from salesbench.core import schema

    server.create_database(db)
    counts = {}
    with server.connect(db) as c:
        for name in ds.tables:
            spec = schema.table(name)
            t = ds.canonical_table(name)  # every row, as the source has it (table() leaves bad rows out)
            cols = [col for col in spec.columns if col.name in t.columns]
            c.execute(sql.SQL("CREATE TABLE {} ({})").format(
                sql.Identifier(name),
                sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(col.name), sql.SQL(PG_TYPES[col.type]))
                                   for col in cols)))
            rows = t.select([col.name for col in cols]).to_pyarrow().to_pylist()
            with c.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(col.name) for col in cols))) as cp:
                for row in rows:
                    cp.write_row([row[col.name] for col in cols])
            counts[name] = len(rows)
        c.execute("ANALYZE")
    return counts
