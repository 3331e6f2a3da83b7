"""mqtts:// URLs: the sync connects over TLS to a broker whose certificate its CA signed."""

from __future__ import annotations

import getpass
import os
import queue
import subprocess
from pathlib import Path

import pytest

from agent.sync.connection import connect, make_client, parse_mqtt_url
from tests.support import free_port, wait_until
from tests.sync.sync_support import MOSQUITTO, port_open, stop_process

pytestmark = pytest.mark.broker


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> None:
    """A CA, and a server certificate for 127.0.0.1 signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=Firefly test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
            cwd=directory)


def connects(url_text: str) -> str:
    url = parse_mqtt_url(url_text)
    assert url is not None and url.tls
    events: queue.SimpleQueue[str] = queue.SimpleQueue()
    client = make_client(url, "st-tls")
    client.on_connect = lambda _c, _u, _f, reason, _p: events.put(f"connected {reason}")
    client.on_connect_fail = lambda _c, _u: events.put("failed")
    connect(client, url, clean_start=True, session_expiry=0)
    client.loop_start()
    try:
        return events.get(timeout=20)
    finally:
        client.loop_stop()
        client.disconnect()


# paho leaves the socket of a refused TLS handshake for the garbage collector to close.
@pytest.mark.filterwarnings("ignore:Exception ignored in. <ssl.SSLSocket"
                            ":pytest.PytestUnraisableExceptionWarning")
def test_the_sync_connects_over_tls_with_the_stations_ca(tmp_path: Path) -> None:
    make_certificates(tmp_path)
    port = free_port()
    run_as = f"user {getpass.getuser()}\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "tls.conf"
    conf.write_text(f"{run_as}listener {port} 127.0.0.1\nallow_anonymous true\n"
                    f"cafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\n"
                    f"keyfile {tmp_path / 'server.key'}\ntls_version tlsv1.2\n"
                    f"log_dest file {tmp_path / 'broker.log'}\n")
    with open(tmp_path / "broker.out", "wb") as out:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, (tmp_path / "broker.out").read_text()
        ca = tmp_path / "ca.crt"
        assert connects(f"mqtts://127.0.0.1:{port}?ca={ca}") == "connected Success"
        # Without the station's CA the broker's certificate is not trusted.
        assert connects(f"mqtts://127.0.0.1:{port}") == "failed"
    finally:
        stop_process(proc)
