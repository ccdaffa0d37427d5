#!/usr/bin/env python3
"""An HTTP/1.1 keep-alive server of known latencies, for the profile tests.

Routes (any last segment, an id): /fast/<id> sleeps 10 ms, /slow/<id>
100 ms, /fail/<id> 10 ms then answers 500; anything else 404 at once.
Each response is one write, so Nagle's algorithm adds nothing.
Usage: latencyapp.py PORT
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {"fast": (0.010, 200), "slow": (0.100, 200), "fail": (0.010, 500)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split("/")
        delay, code = ROUTES.get(parts[1] if len(parts) > 2 else "", (0, 404))
        if delay:
            time.sleep(delay)
        body = b"ok\n"
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[code]
        self.wfile.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" %
                         (code, reason.encode(), len(body), body))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
