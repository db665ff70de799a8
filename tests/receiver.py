"""A real local HTTP receiver for the signed HTTP push channel, with scripted faults.

It applies each idempotency key at most once (a repeat gets 409, like a well-behaved site), and counts what it got,
so tests can prove "every delivery arrived, none twice".
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from channels.http_push import KEY_HEADER, SIGNATURE_HEADER, verify_signature


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind; that is the point of the test.
        pass


class Receiver:
    def __init__(self, secret: str = "s3cret", delay: float = 0.0, reply_delay: float = 0.0):
        self.secret = secret
        self.delay = delay  # before applying
        self.reply_delay = reply_delay  # after applying, before answering (a slow commit, a slow network)
        self.lock = threading.Lock()
        self.applied: dict[str, dict] = {}
        self.requests: Counter[str] = Counter()  # every POST per key, duplicates and failures included
        self.duplicates: Counter[str] = Counter()
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.bad_signatures = 0
        # Scripted responses per title substring: list of (status, headers, hang_seconds) consumed in order.
        self.scripts: dict[str, list[tuple[int, dict, float]]] = {}
        # Per title substring: seconds to wait before applying normally (a slow but healthy site).
        self.slow_titles: dict[str, float] = {}
        # hold(): every request waits at the gate (already read, not yet applied) until release().
        self.gate = threading.Event()
        self.gate.set()
        self.held: set[str] = set()  # keys of requests waiting at the gate now
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/receive"

    def script(self, marker: str, *responses: tuple[int, dict, float]) -> None:
        self.scripts[marker] = list(responses)

    def slow(self, marker: str, seconds: float) -> None:
        self.slow_titles[marker] = seconds

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_held(self, n: int, timeout: float) -> bool:
        """Wait until n requests are waiting at the gate (senders blocked mid-request)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.held) >= n:
                    return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get(KEY_HEADER, "")
                with receiver.lock:
                    receiver.requests[key] += 1
                    receiver.times[key].append(time.monotonic())
                if not verify_signature(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, "")):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    return self._reply(401, {"error": "bad signature"})
                payload = json.loads(body)
                if not receiver.gate.is_set():
                    with receiver.lock:
                        receiver.held.add(key)
                    receiver.gate.wait()
                    with receiver.lock:
                        receiver.held.discard(key)
                scripted = None
                with receiver.lock:
                    for marker, responses in receiver.scripts.items():
                        if marker in payload.get("title", "") and responses:
                            scripted = responses.pop(0)
                            break
                if scripted:
                    status, headers, hang = scripted
                    if hang:
                        time.sleep(hang)
                    return self._reply(status, {"error": "scripted"}, headers)
                if receiver.delay:
                    time.sleep(receiver.delay)
                for marker, seconds in receiver.slow_titles.items():
                    if marker in payload.get("title", ""):
                        time.sleep(seconds)
                with receiver.lock:
                    if key in receiver.applied:
                        receiver.duplicates[key] += 1
                        return self._reply(409, {"id": key, "duplicate": True})
                    receiver.applied[key] = payload
                if receiver.reply_delay:
                    time.sleep(receiver.reply_delay)
                return self._reply(201, {"id": key, "url": f"http://127.0.0.1/{key}"})

        return Handler


# --- the receiver in its own process (benchmarks: no GIL shared with the code under test) --------------------

def _serve_forever(secret: str) -> None:
    """Run a Receiver plus a small stats endpoint; print the two ports on stdout."""
    import sys
    from urllib.parse import parse_qs, urlparse

    rec = Receiver(secret=secret).__enter__()

    class Stats(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            q = parse_qs(urlparse(self.path).query)
            prefix = q.get("prefix", [""])[0]
            with rec.lock:
                keys = [k for k in rec.applied if k.startswith(prefix)]
                body = {"applied": len(keys), "duplicates": sum(rec.duplicates.values()),
                        "first": {k: rec.times[k][0] for k in keys} if "times" in q else {}}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    stats = ThreadingHTTPServer(("127.0.0.1", 0), Stats)
    print(rec.server.server_address[1], stats.server_address[1], flush=True)
    try:
        stats.serve_forever()
    finally:
        rec.__exit__()
    sys.exit(0)


class RemoteReceiver:
    """A Receiver in a subprocess: ``url``/``secret`` for senders, ``stats(prefix)`` for the bench."""

    def __init__(self, secret: str = "s3cret"):
        self.secret = secret
        self.proc = None
        self.port = self.stats_port = 0

    def __enter__(self) -> RemoteReceiver:
        import subprocess
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parent.parent
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.receiver", self.secret], cwd=root,
                                     stdout=subprocess.PIPE, text=True)
        self.port, self.stats_port = map(int, self.proc.stdout.readline().split())
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/receive"

    def stats(self, prefix: str = "", times: bool = False) -> dict:
        import urllib.parse
        import urllib.request

        q = urllib.parse.urlencode({"prefix": prefix, **({"times": "1"} if times else {})})
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/?{q}", timeout=10) as resp:
            return json.loads(resp.read())


if __name__ == "__main__":
    import sys

    _serve_forever(sys.argv[1] if len(sys.argv) > 1 else "s3cret")
