#!/usr/bin/env python3
"""A pre-fork HTTP server: the master listens, then forks WORKERS processes
that accept on the shared socket (gunicorn's model), once it reads a line
on stdin. GET /call?port=P asks http://127.0.0.1:P/hello from the worker.
Usage: prefork.py PORT WORKERS
"""
import http.client
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        body = b"worker %d\n" % os.getpid()
        if url.path == "/call":
            c = http.client.HTTPConnection("127.0.0.1", int(parse_qs(url.query)["port"][0]), timeout=5)
            c.request("GET", "/hello")
            c.getresponse().read()
            c.close()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    sys.stdin.readline()
    workers = []
    for _ in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            server.serve_forever()
            os._exit(0)
        workers.append(pid)
    print(" ".join(map(str, workers)), flush=True)
    sys.stdin.readline()
    for pid in workers:
        os.kill(pid, 15)
