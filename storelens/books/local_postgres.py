"""A PostgreSQL server of its own, for benchmarks and tests: the books on a real PostgreSQL, never a shared one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from storelens.errors import BrokerError
from storelens.transport.local import free_port


class LocalPostgres:
    """A PostgreSQL server of its own: initdb in a temporary directory, on a free port, trust auth.

    For tests and benchmarks (Debian's ``postgresql`` binaries); a chain runs its own PostgreSQL service.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise BrokerError("PostgreSQL server binaries not found under /usr/lib/postgresql (Debian: postgresql)")
        self.bin = Path(bins[-1])
        self.port = free_port()
        # its own directory straight under /tmp: the server user cannot enter pytest's root-only tree
        self.dir = Path(tempfile.mkdtemp(prefix=f"storelens-pg-{self.port}-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """Its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> LocalPostgres:
        """Run initdb, then start the server on 127.0.0.1."""
        data = self.dir / "data"
        subprocess.run(
            [*self.prefix, str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        return self.serve()

    def serve(self) -> LocalPostgres:
        """Start the server (again, after :meth:`halt`) on 127.0.0.1, its files as they were."""
        data = self.dir / "data"
        subprocess.run(
            [
                *self.prefix,
                str(self.bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.dir / "log"),
                "-w",
                "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return self

    def database(self, name: str) -> str:
        """Create a database; its URL."""
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def halt(self) -> None:
        """Stop the server and keep its files (a database that goes away; :meth:`serve` brings it back)."""
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=True,
        )

    def stop(self) -> None:
        """Stop the server and remove its files."""
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)
