#!/usr/bin/env python3
"""A small HTTP/1.1 keep-alive server for the end-to-end tests.

Routes: /hello, /status/<code>, /chunked?n=<chunks>, /big?size=<bytes>,
/slow?ms=<ms>, POST /upload (reads the body, answers its size),
/call?port=<p>&path=<path>&redis=<port>: from the handling thread, GET
http://127.0.0.1:<p><path> and send a Redis GET, then answer.
Usage: httpapp.py PORT [BIND_ADDRESS]   (default 127.0.0.1; "::" is dual-stack)
With TLS_DIR set (cert.pem and key.pem in it), it serves HTTPS, and /call
calls over HTTPS, trusting cert.pem.
"""
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/hello":
            self.send_body(200, b"hello\n")
        elif url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            self.send_body(code, b"status %d\n" % code)
        elif url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(q.get("n", ["3"])[0])):
                data = b"chunk %d\n" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/big":
            self.send_body(200, b"x" * int(q.get("size", ["1000000"])[0]))
        elif url.path == "/call":
            import http.client
            port = int(q["port"][0])
            if TLS_DIR:
                import ssl
                ctx = ssl.create_default_context(cafile=os.path.join(TLS_DIR, "cert.pem"))
                c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
            else:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", q.get("path", ["/hello"])[0])
            status = c.getresponse().status
            c.close()
            if "redis" in q:
                with socket.create_connection(("127.0.0.1", int(q["redis"][0]))) as r:
                    r.sendall(b"*2\r\n$3\r\nGET\r\n$7\r\ncounter\r\n")
                    r.recv(1024)
            self.send_body(200, b"called %d\n" % status)
        elif url.path == "/slow":
            time.sleep(int(q.get("ms", ["100"])[0]) / 1000)
            self.send_body(200, b"slow\n")
        else:
            self.send_body(404, b"not found\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        left = n
        while left > 0:
            left -= len(self.rfile.read(min(left, 65536)))
        self.send_body(200, b"%d\n" % n)


TLS_DIR = os.environ.get("TLS_DIR")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


if __name__ == "__main__":
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if ":" in host:
        Server.address_family = socket.AF_INET6
    srv = Server((host, int(sys.argv[1])), Handler)
    if TLS_DIR:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(TLS_DIR, "cert.pem"), os.path.join(TLS_DIR, "key.pem"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
