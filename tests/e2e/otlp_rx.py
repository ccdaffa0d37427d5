"""An OTLP/HTTP receiver for the tests, and the decoder that judges what
spantap sends: the OpenTelemetry project's own generated protobuf code from
the npm package @opentelemetry/otlp-transformer (pinned: later versions no
longer ship build/src/generated/root.js), run by tests/otlp/decode.js. The
package is installed once into a cache folder outside the repository."""
import fcntl
import gzip
import json
import os
import socket
import struct
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DECODE_JS = os.path.join(os.path.dirname(HERE), "otlp", "decode.js")
PACKAGE = "@opentelemetry/otlp-transformer"
VERSION = "0.208.0"
CACHE = os.environ.get("SPANTAP_NPM_CACHE", "/var/cache/spantap/npm")
PKG_DIR = os.path.join(CACHE, "otlp-transformer-" + VERSION)
MODULE = os.path.join(PKG_DIR, "node_modules", *PACKAGE.split("/"))


def ensure_decoder():
    """npm install the pinned package into the cache, once (a file lock
    keeps two sessions from installing at the same time)"""
    root_js = os.path.join(MODULE, "build", "src", "generated", "root.js")
    if os.path.exists(root_js):
        return MODULE
    os.makedirs(PKG_DIR, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(root_js):
            subprocess.run(["npm", "install", "--prefix", PKG_DIR, "--no-save", "--no-audit", "--no-fund",
                            "--ignore-scripts", "--loglevel=error", "%s@%s" % (PACKAGE, VERSION)],
                           check=True, capture_output=True, timeout=300)
    assert os.path.exists(root_js), "the npm package has no generated decoder: " + root_js
    return MODULE


def decode(bodies, kind="request"):
    """each body decoded by OpenTelemetry's code: a list of dicts"""
    module = ensure_decoder()
    data = b"".join(struct.pack(">I", len(b)) + b for b in bodies)
    p = subprocess.run(["node", DECODE_JS, module, kind], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return json.loads(p.stdout)


def attr_value(v):
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    raise AssertionError("unexpected AnyValue %r" % v)


def attrs(kvs):
    out = {}
    for kv in kvs or []:
        assert kv["key"] not in out, "attribute %s twice" % kv["key"]
        out[kv["key"]] = attr_value(kv["value"])
    return out


def spans_of(requests):
    """(resource attributes, scope, span) for every span in the decoded requests"""
    out = []
    for r in requests:
        assert "error" not in r, r
        for rs in r.get("resourceSpans", []):
            res = attrs(rs.get("resource", {}).get("attributes"))
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    out.append((res, ss.get("scope", {}), s))
    return out


class OtlpReceiver:
    """POST /v1/traces: answers the given statuses first (with the given
    headers, e.g. Retry-After), then 200; keeps what it accepted."""

    def __init__(self, statuses=(), port=0, path="/v1/traces", response_body=b"", tls=None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        ensure_decoder()
        outer = self
        self.statuses = list(statuses)  # ints, or (status, {header: value})
        self.accepted = []  # request bodies, decompressed
        self.requests = []  # (status, headers, path, time)
        self.lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if tls:
                    outer.peer_certs.append(self.connection.getpeercert())
                with outer.lock:
                    st = outer.statuses.pop(0) if outer.statuses else 200
                    status, extra = (st, {}) if isinstance(st, int) else st
                    outer.requests.append((status, dict(self.headers), self.path, time.time()))
                    if status == 200:
                        if self.headers.get("Content-Encoding") == "gzip":
                            body = gzip.decompress(body)
                        outer.accepted.append(body)
                reply = response_body if status == 200 else b""
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.server.daemon_threads = True
        self.peer_certs = []
        if tls:  # an ssl.SSLContext
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.url = self.base + path
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self):
        with self.lock:
            return len(self.accepted)

    def spans(self):
        with self.lock:
            bodies = list(self.accepted)
        return spans_of(decode(bodies))


def hostname():
    return socket.gethostname()


NATIVE = ("span.kind", "error")  # carried by Span.kind and Span.status, not as attributes


def assert_same_as_json(jspans, received):
    """every printed span arrived exactly once, field for field"""
    got = {}
    for res, scope, s in received:
        assert s["spanId"] not in got, "span %s received twice" % s["spanId"]
        got[s["spanId"]] = (res, scope, s)
    assert set(got) == {j["span_id"] for j in jspans}
    for j in jspans:
        res, scope, s = got[j["span_id"]]
        assert s["traceId"] == j["trace_id"]
        if j["parent_span_id"] == "0" * 16:
            assert not s.get("parentSpanId"), s
        else:
            assert s["parentSpanId"] == j["parent_span_id"]
        assert s["name"] == j["name"]
        assert s["kind"] == {"server": 2, "client": 3}[j["kind"]]
        start, end = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
        assert start // 1000 == j["start_us"] and (end - start) // 1000 == j["duration_us"]
        want = {k: v for k, v in j["tags"].items() if k not in NATIVE}
        want["thread.id"] = j["tid"]
        assert attrs(s.get("attributes")) == want
        if j["error"]:
            assert s["status"] == {"code": 2, "message": j["tags"]["error.type"]}
        else:
            assert not s.get("status"), s
        if "follows_from" in j:
            assert [(l["traceId"], l["spanId"], l["flags"]) for l in s["links"]] == \
                [(j["follows_from"]["trace_id"], j["follows_from"]["span_id"], 1)]
        else:
            assert not s.get("links"), s
        remote = 0x200 if j["kind"] == "server" and j["parent_span_id"] != "0" * 16 else 0
        assert s["flags"] == 0x101 | remote
        for k in ("traceState", "events", "droppedAttributesCount", "droppedEventsCount", "droppedLinksCount"):
            assert not s.get(k), (k, s)
        assert res["service.name"] == j["service"]
        assert res["process.pid"] == j["pid"]
        assert res["host.name"] == hostname()
        assert scope["name"] == "spantap" and scope["version"]


if __name__ == "__main__":
    # scripts/install-deps.sh: fetch the decoder ahead of the tests
    print("otlp decoder:", ensure_decoder())
