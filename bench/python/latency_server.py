#!/usr/bin/env python3
"""A static-file HTTP server on 127.0.0.1 that adds a fixed delay to every request.

    python3 bench/python/latency_server.py ROOT [--latency-ms 50] [--port 0]

Serves files under ROOT (GET and HEAD, single `Range: bytes=...` requests answered with 206,
HTTP/1.1 keep-alive), sleeping --latency-ms before answering each request (404s included), as a
stand-in for a remote object store. Prints `listening on http://127.0.0.1:PORT` on its first
line of stdout once it accepts connections. `GET /__stats` (no delay) answers
{"requests": n, "bytes": n, "not_found": n}; `GET /__stats?reset=1` also zeroes them.
Bound to 127.0.0.1 only. Stops on SIGTERM / SIGINT.

`bench/python/segment_bench.py --latency-ms X` runs it as a child process (a separate process, so
its request handling does not compete for the benchmark process's GIL with dask).
"""

import argparse
import json
import os
import posixpath
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.not_found = 0

    def add(self, nbytes, missing=False):
        with self.lock:
            self.requests += 1
            self.bytes += nbytes
            self.not_found += int(missing)

    def snapshot(self, reset=False):
        with self.lock:
            s = {"requests": self.requests, "bytes": self.bytes, "not_found": self.not_found}
            if reset:
                self.requests = self.bytes = self.not_found = 0
        return s


def make_handler(root, latency_s, stats):
    root = os.path.realpath(root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "omeflow-bench-latency/1"

        def log_message(self, format, *args):  # quiet
            pass

        def _path(self):
            url = urllib.parse.urlsplit(self.path)
            parts = [p for p in posixpath.normpath(urllib.parse.unquote(url.path)).split("/")
                     if p and p not in (".", "..")]
            full = os.path.realpath(os.path.join(root, *parts))
            if full != root and not full.startswith(root + os.sep):
                return None, url
            return full, url

        def _send(self, code, body=b"", headers=(), head=False):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and not head:
                self.wfile.write(body)

        def _serve(self, head):
            full, url = self._path()
            if url.path == "/__stats":
                reset = "reset=1" in (url.query or "")
                body = json.dumps(stats.snapshot(reset)).encode()
                return self._send(200, body, [("Content-Type", "application/json")], head)
            if latency_s > 0:
                time.sleep(latency_s)
            if full is None or not os.path.isfile(full):
                stats.add(0, missing=True)
                return self._send(404, b"not found\n", [("Content-Type", "text/plain")], head)
            size = os.path.getsize(full)
            start, end = 0, size - 1
            code = 200
            rng = self.headers.get("Range")
            if rng:
                m = _RANGE.match(rng.strip())
                if m and (m.group(1) or m.group(2)):
                    a, b = m.group(1), m.group(2)
                    if a == "":  # suffix: last b bytes
                        n = int(b)
                        start, end = max(0, size - n), size - 1
                    else:
                        start = int(a)
                        end = min(int(b), size - 1) if b else size - 1
                    if start >= size or start > end:
                        stats.add(0)
                        return self._send(416, b"", [("Content-Range", f"bytes */{size}")], head)
                    code = 206
                # anything else (multi-range, junk): whole file, 200
            headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
            if code == 206:
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            if head:
                stats.add(0)
                return self._head(code, headers, end - start + 1)
            with open(full, "rb") as f:
                f.seek(start)
                body = f.read(end - start + 1)
            stats.add(len(body))
            return self._send(code, body, headers)

        def _head(self, code, headers, length):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def do_GET(self):
            self._serve(head=False)

        def do_HEAD(self):
            self._serve(head=True)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def serve(root, latency_ms, port=0):
    """Start in a background thread; return (server, url, stats). Call server.shutdown() to stop."""
    stats = Stats()
    httpd = Server(("127.0.0.1", port), make_handler(root, latency_ms / 1000.0, stats))
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}", stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    args = ap.parse_args(argv)
    httpd, url, _ = serve(args.root, args.latency_ms, args.port)
    print(f"listening on {url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
