"""Helpers for the fault tests: a database that stops, refuses connections or refuses writes.

- :class:`TcpProxy`: the shared PostgreSQL server cannot be stopped by a test, so a test points
  DATABASE_URL at this proxy instead (``127.0.0.1:<proxy.port>``), which forwards to the real
  server. :meth:`TcpProxy.stop` closes the listening socket *and* every live connection, as a
  server shutting down does (clients see their connections drop and new ones refused);
  :meth:`TcpProxy.start` listens again on the same port, as the server coming back.
- :func:`closed_port`: a local port nothing listens on.
- :func:`read_only_database` (PostgreSQL ``default_transaction_read_only``) and
  :func:`read_only_folder` (a DuckDB database's folder that refuses new files).
- :func:`street_csv`: a small police.uk street-level file in LSOAs of the sample data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

STREET_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
                 "LSOA name,Crime type,Last outcome category,Context")
FORCE = "West Midlands Police"


class TcpProxy:
    """Forwards connections from ``127.0.0.1:port`` (ephemeral, fixed at first start) to
    ``target``; usable as a context manager (started on entry, stopped on exit)."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0  # connections accepted since the proxy was made
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> "TcpProxy":
        """Listen (again) on the proxy's port; the first start picks a free port."""
        if self.running:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)  # the accept loop notices stop() within 50 ms
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._listener = listener
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        """Refuse new connections and drop every open one, like a server shutting down."""
        listener, self._listener = self._listener, None
        self._stopping.set()
        if listener is not None:
            listener.close()
        with self._lock:
            live, self._sockets = list(self._sockets), set()
            threads, self._threads = self._threads, []
        for sock in live:
            _close(sock)
        for thread in threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="tcp-proxy")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed by stop()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    _close(client), _close(upstream)
                    return
                self._sockets.update((client, upstream))
                self.accepted += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        # One side finished or failed: drop both, so the other pump ends too.
        _close(source)
        _close(sink)
        with self._lock:
            self._sockets.discard(source)
            self._sockets.discard(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def closed_port() -> int:
    """A local port nothing listens on (taken from the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_of(url: str) -> tuple[str, int]:
    """The (host, port) a PostgreSQL URL names, for the proxy to forward to."""
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def with_port(url: str, port: int) -> str:
    """``url`` pointed at 127.0.0.1:``port`` (the proxy), password kept."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def street_csv(path: Path, month: str = "2026-09", lsoas: int = 6, per_lsoa: int = 5) -> Path:
    """A police.uk street-level file of ``lsoas * per_lsoa`` burglaries in LSOAs SL0001... of
    the sample data."""
    lines = [STREET_HEADER]
    for n in range(1, lsoas + 1):
        for k in range(per_lsoa):
            lines.append(f"{month}-{n:03d}-{k:02d},{month},{FORCE},{FORCE},-1.8904,52.4862,"
                         f"On or near Broad Street,SL{n:04d},Birmingham SL{n:04d},Burglary,"
                         "Under investigation,")
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def read_only_database(url: str):
    """Make new connections to ``url``'s PostgreSQL database read-only (as a standby or a
    locked-down database is), and writable again afterwards."""
    name = make_url(url).database
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("SET default_transaction_read_only = off")
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        admin.dispose()


@contextlib.contextmanager
def read_only_folder(folder: Path):
    """Make ``folder`` refuse new files (chmod, and the immutable flag for root, who ignores
    modes); skips the test when this machine can do neither."""
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)],
                                   capture_output=True).returncode == 0
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("cannot make a read-only folder here (root without chattr +i)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(mode)
