"""Resumable feed uploads through tuspy, a tus client from PyPI, against a
real `api` process (SPEC section 8): an upload whose connection is killed
midway, and one whose `api` process is killed and restarted midway, both
resume where the server says and end in one ingest, applied once; a body
already accepted ends in 403 DUPLICATE.

    python resume.py API_BIN

Run by scripts/check-tus (which installs tuspy), from scripts/test. The
`api` runs embedded in a temporary directory, with an admin account; it is
started and killed here. A small TCP proxy between tuspy and the `api`
cuts a connection after a number of request bytes, or holds it.
"""

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

MIB = 1024 * 1024
CHUNK = 2 * MIB


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Api:
    """An embedded `api` process on fixed ports and a fixed directory, so
    a restart finds its database and spool again."""

    def __init__(self, binary, directory):
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.env = dict(
            os.environ,
            DATABASE_URL=f"sqlite://{directory}/mercato.db?mode=rwc",
            INGEST_SPOOL_DIR=f"{directory}/spool",
            PUBLIC_ADDR=f"127.0.0.1:{self.port}",
            INTERNAL_ADDR=f"127.0.0.1:{free_port()}",
            JWT_SECRET=secrets.token_hex(32),
            ADMIN_USERNAME="feeds",
            ADMIN_PASSWORD=self.password,
            OFFERS_BASE_URL="http://127.0.0.1:9",
            STOOQ_BASE_URL="http://127.0.0.1:9",
            LOG_FORMAT="json",
            RUST_LOG="warn",
        )
        self.process = None
        token = base64.b64encode(f"feeds:{self.password}".encode()).decode()
        self.authorization = f"Basic {token}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        log = open(os.path.join(self.directory, "api.log"), "ab")
        self.process = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the api exited with {self.process.returncode}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the api did not start")

    def kill(self):
        """SIGKILL: no graceful shutdown, as a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()

    def get(self, path):
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": self.authorization}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def head(self, upload_url):
        request = urllib.request.Request(
            upload_url,
            method="HEAD",
            headers={"Authorization": self.authorization, "Tus-Resumable": "1.0.0"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}

    def wait_for_ingest(self, ingest):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.get(f"/v1/products/ingests/{ingest}")
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"ingest {ingest} did not finish")


class Proxy:
    """Forwards connections to `target`. Armed with `cut_after(n)`, it
    ends the connection once n request bytes have passed (the `api` gets
    them all, then the end; the client a reset); with
    `hold_after(n)`, it stops forwarding request bytes there and signals
    `held`."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.limit = None
        self.mode = None
        self.passed = 0
        self.held = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, count):
        with self.lock:
            self.mode, self.limit, self.passed = "cut", count, 0

    def hold_after(self, count):
        with self.lock:
            self.mode, self.limit, self.passed = "hold", count, 0
            self.held.clear()

    def accept(self):
        while True:
            downstream, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self.requests, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self.answers, args=(upstream, downstream), daemon=True).start()

    @staticmethod
    def reset(*sockets):
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()
            except OSError:
                pass

    def requests(self, downstream, upstream):
        try:
            while True:
                data = downstream.recv(65536)
                if not data:
                    break
                with self.lock:
                    armed = self.mode
                    room = self.limit - self.passed if armed else len(data)
                    self.passed += len(data)
                if armed and room < len(data):
                    if room > 0:
                        upstream.sendall(data[:room])
                    with self.lock:
                        self.mode = None
                    if armed == "cut":
                        # The client is gone: the api gets every byte sent
                        # so far, then the end of the connection.
                        upstream.shutdown(socket.SHUT_WR)
                        self.reset(downstream)
                        return
                    self.held.set()
                    # Held: nothing more goes through until the far end dies.
                    while True:
                        if not upstream.recv(65536):
                            break
                    self.reset(downstream, upstream)
                    return
                upstream.sendall(data)
        except OSError:
            self.reset(downstream, upstream)

    def answers(self, upstream, downstream):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                downstream.sendall(data)
        except OSError:
            pass
        self.reset(downstream, upstream)


def write_feed(directory, prefix, count):
    """A feed of `count` products, several MB, as a file."""
    path = os.path.join(directory, f"{prefix}.json")
    with open(path, "w") as feed:
        feed.write("[")
        for i in range(count):
            if i:
                feed.write(",")
            feed.write(json.dumps({
                "id": f"{prefix}-{i}",
                "name": f"Product {i} of {prefix}",
                "description": "x" * 60,
            }))
        feed.write("]")
    return path


def uploader(api, base_url, path, url=None, retries=0):
    client = tus_client.TusClient(f"{base_url}/v1/uploads", headers={"Authorization": api.authorization})
    return client.uploader(path, url=url, chunk_size=CHUNK, retries=retries, retry_delay=1)


def check_applied_once(api, path, prefix, count, ingest):
    job = api.wait_for_ingest(ingest)
    assert job["status"] == "done", job
    assert (job["items"], job["created"], job["updated"], job["processed"]) == (count, count, 0, count), job
    assert job["size"] == os.path.getsize(path), job
    same_size = [
        listed for listed in api.get("/v1/products/ingests?page_size=100")
        if listed["size"] == job["size"]
    ]
    assert len(same_size) == 1, f"one ingest of this feed, not {len(same_size)}"
    for i in (0, count - 1):
        found = api.get(f"/products?sku={prefix}-{i}")
        assert [product["name"] for product in found] == [f"Product {i} of {prefix}"], found


def resumes_after_the_connection_is_killed(api, directory):
    prefix = f"cut-{secrets.token_hex(4)}"
    count = 60_000
    path = write_feed(directory, prefix, count)
    size = os.path.getsize(path)
    assert size > 3 * CHUNK, size
    proxy = Proxy(api.port)
    proxy.cut_after(2 * CHUNK + CHUNK // 2)
    first = uploader(api, proxy.url, path)
    try:
        first.upload()
        raise AssertionError("the connection was not cut")
    except (TusUploadFailed, TusCommunicationError):
        pass
    upload_url = first.url.replace(proxy.url, api.url)

    # The bytes of the cut PATCH that arrived count (once its commit lands).
    deadline = time.monotonic() + 30
    while int(api.head(upload_url)["upload-offset"]) <= 2 * CHUNK:
        assert time.monotonic() < deadline, "the cut PATCH's bytes were not kept"
        time.sleep(0.05)
    offset = int(api.head(upload_url)["upload-offset"])
    assert 2 * CHUNK < offset < size, offset

    resumed = uploader(api, api.url, path, url=upload_url, retries=3)
    assert resumed.offset == offset, (resumed.offset, offset)
    resumed.upload()
    ingest = resumed.request.response_headers["mercato-ingest-id"]
    check_applied_once(api, path, prefix, count, ingest)
    head = api.head(upload_url)
    assert (head["upload-offset"], head["mercato-ingest-id"]) == (str(size), ingest), head
    print(f"ok: cut at {offset} of {size} bytes, resumed, ingest {ingest} applied once")
    return path


def resumes_after_the_api_is_killed_and_restarted(api, directory):
    prefix = f"restart-{secrets.token_hex(4)}"
    count = 60_000
    path = write_feed(directory, prefix, count)
    size = os.path.getsize(path)
    proxy = Proxy(api.port)
    proxy.hold_after(CHUNK + CHUNK // 2)
    first = uploader(api, proxy.url, path)
    failed = []

    def upload():
        try:
            first.upload()
        except (TusUploadFailed, TusCommunicationError) as error:
            failed.append(error)

    sending = threading.Thread(target=upload)
    sending.start()
    assert proxy.held.wait(60), "the upload did not reach the hold"
    # Midway through the second PATCH, the process dies.
    api.kill()
    sending.join(60)
    assert failed, "the upload did not fail with the api gone"
    api.start()
    upload_url = first.url.replace(proxy.url, api.url)
    offset = int(api.head(upload_url)["upload-offset"])
    assert offset == CHUNK, f"a PATCH cut by the crash commits nothing: {offset}"

    resumed = uploader(api, api.url, path, url=upload_url, retries=3)
    resumed.upload()
    ingest = resumed.request.response_headers["mercato-ingest-id"]
    check_applied_once(api, path, prefix, count, ingest)
    print(f"ok: api killed at {CHUNK + CHUNK // 2} of {size} bytes, restarted, resumed from {offset}, ingest {ingest} applied once")


def a_body_already_accepted_ends_in_403_duplicate(api, path):
    again = uploader(api, api.url, path)
    try:
        again.upload()
        raise AssertionError("the duplicate was accepted")
    except TusUploadFailed as error:
        assert error.status_code == 403, error.status_code
        assert json.loads(error.response_content)["code"] == "DUPLICATE", error.response_content
    print("ok: the same feed uploaded again ends in 403 DUPLICATE")


def main():
    binary = os.path.abspath(sys.argv[1])
    directory = tempfile.mkdtemp(prefix="mercato-tus.")
    api = Api(binary, directory)
    try:
        api.start()
        accepted = resumes_after_the_connection_is_killed(api, directory)
        a_body_already_accepted_ends_in_403_duplicate(api, accepted)
        resumes_after_the_api_is_killed_and_restarted(api, directory)
    except BaseException:
        api.stop()
        with open(os.path.join(directory, "api.log"), errors="replace") as log:
            sys.stderr.write(log.read()[-8000:])
        raise
    api.stop()
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
