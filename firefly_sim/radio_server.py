"""One TCP server per station radio, speaking the Meshtastic stream API.

Each accepted connection is a :class:`ClientSession` with a reader thread
(frames -> ``ToRadio`` -> :meth:`Mesh.handle_to_radio`) and a writer thread
draining an outbound queue, so the mesh never blocks on a slow client.
Several clients may be connected at once and over time (a station
reconnecting after a drop).  :meth:`RadioServer.drop` closes every connection
and, for ``seconds > 0``, closes the listening socket too, so connection
attempts are refused until it reopens.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import threading
import time
from typing import Any

from google.protobuf.message import DecodeError
from meshtastic.protobuf import mesh_pb2

from firefly_sim import packets
from firefly_sim.framing import FrameDecoder, encode_frame
from firefly_sim.mesh import Mesh

log = logging.getLogger(__name__)

#: A client with this many unsent frames is considered dead and disconnected.
MAX_PENDING_FRAMES = 2000
ACCEPT_POLL_S = 0.2

_session_ids = itertools.count(1)


class ClientSession:
    """One TCP client of a station radio."""

    def __init__(self, sock: socket.socket, addr: Any, port: int, mesh: Mesh) -> None:
        self.sock = sock
        self.addr = addr
        self.port = port
        self.mesh = mesh
        self.session_id = next(_session_ids)
        self.connected_at = time.time()
        self._out: queue.Queue[bytes | None] = queue.Queue()
        self._closed = threading.Event()
        self._id_lock = threading.Lock()
        self._from_radio_id = 0
        self._reader = threading.Thread(
            target=self._read_loop, name=f"radio-{port}-read-{self.session_id}", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_loop, name=f"radio-{port}-write-{self.session_id}", daemon=True
        )

    @property
    def label(self) -> str:
        return f"radio {self.port} client #{self.session_id} {self.addr}"

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def start(self) -> None:
        self.mesh.attach(self.port, self)
        self._writer.start()
        self._reader.start()

    def send(self, message: Any) -> None:
        if self._closed.is_set():
            return
        with self._id_lock:
            self._from_radio_id += 1
            copy = mesh_pb2.FromRadio()
            copy.CopyFrom(message)
            copy.id = self._from_radio_id
        self._out.put(encode_frame(copy.SerializeToString()))
        if self._out.qsize() > MAX_PENDING_FRAMES:
            log.warning("%s is not reading; disconnecting", self.label)
            self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._out.put(None)

    def join(self, timeout: float | None = None) -> None:
        self._reader.join(timeout)
        self._writer.join(timeout)

    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        try:
            while not self._closed.is_set():
                try:
                    data = self.sock.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                for frame in decoder.feed(data):
                    try:
                        msg = packets.parse_to_radio(frame)
                    except DecodeError:
                        log.warning("%s sent a malformed ToRadio (%d bytes)", self.label, len(frame))
                        continue
                    try:
                        self.mesh.handle_to_radio(self.port, self, msg)
                    except Exception:
                        log.exception("%s: error handling ToRadio", self.label)
        finally:
            log.info("%s disconnected", self.label)
            self.mesh.detach(self.port, self)
            self.close()
            self._writer.join(5.0)
            with contextlib.suppress(OSError):
                self.sock.close()

    def _write_loop(self) -> None:
        while True:
            data = self._out.get()
            if data is None:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()
                return


class RadioServer:
    """The TCP API of one station radio."""

    def __init__(self, mesh: Mesh, port: int, host: str = "127.0.0.1") -> None:
        self.mesh = mesh
        self.port = port
        self.host = host
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._refuse_until = 0.0
        self._stop = threading.Event()
        self._sessions: list[ClientSession] = []
        self._thread = threading.Thread(target=self._serve, name=f"radio-{port}", daemon=True)

    def start(self) -> None:
        """Bind now (so a port in use fails at start-up) and start accepting."""
        self._listener = self._open_listener()
        log.info("radio %d listening on %s:%d", self.port, self.host, self.port)
        self._thread.start()

    def _open_listener(self) -> socket.socket:
        sock = socket.create_server((self.host, self.port), backlog=16)
        sock.settimeout(ACCEPT_POLL_S)
        return sock

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                refusing = time.monotonic() < self._refuse_until
                if refusing and self._listener is not None:
                    self._close_listener()
                if not refusing and self._listener is None:
                    try:
                        self._listener = self._open_listener()
                        log.info("radio %d accepting connections again", self.port)
                    except OSError as exc:
                        log.warning("radio %d cannot listen yet: %s", self.port, exc)
                listener = self._listener
            if listener is None:
                self._stop.wait(0.05)
                continue
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                self._stop.wait(0.05)
                continue
            with self._lock:
                refusing = time.monotonic() < self._refuse_until or self._stop.is_set()
            if refusing:
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = ClientSession(conn, addr, self.port, self.mesh)
            log.info("%s connected", session.label)
            with self._lock:
                self._sessions = [s for s in self._sessions if not s.closed]
                self._sessions.append(session)
            session.start()

    def drop(self, seconds: float = 0.0) -> int:
        """Close every client connection; refuse new ones for ``seconds``.

        Returns the number of connections closed.
        """
        with self._lock:
            if seconds > 0:
                self._refuse_until = time.monotonic() + seconds
                self._close_listener()
            sessions = [s for s in self._sessions if not s.closed]
            self._sessions = []
        for s in sessions:
            s.close()
        log.info("radio %d: dropped %d connection(s), refusing for %.1f s", self.port, len(sessions), seconds)
        return len(sessions)

    def refusing_for(self) -> float:
        with self._lock:
            return max(0.0, self._refuse_until - time.monotonic())

    def listening(self) -> bool:
        """True when the port accepts connections (false while refusing after a drop)."""
        with self._lock:
            return self._listener is not None

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_listener()
            sessions = list(self._sessions)
            self._sessions = []
        for s in sessions:
            s.close()
        if self._thread.is_alive():
            self._thread.join(2.0)
        for s in sessions:
            s.join(2.0)
