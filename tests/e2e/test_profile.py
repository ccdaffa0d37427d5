"""The latency profile, the live view and the Prometheus endpoint, on a
server of known latencies (tests/apps/latencyapp.py: 10 ms and 100 ms
routes, one that fails) driven by tests/apps/loadgen.py."""
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

from conftest import APPS, PY, SPANTAP, Server, free_port, wait_port

LOAD = {"/fast": 800, "/slow": 150, "/fail": 50}  # 1,000 requests
HIST_ERROR = 0.016  # a bucket's midpoint is within 1/64 of its values


@pytest.fixture
def latencyapp():
    port = free_port()
    s = Server([PY, os.path.join(APPS, "latencyapp.py"), str(port)], port)
    yield s
    s.stop()


def load(port, threads=20, **counts):
    spec = counts or LOAD
    out = subprocess.run([PY, os.path.join(APPS, "loadgen.py"), str(port), str(threads),
                          *["%s=%d" % (p, n) for p, n in spec.items()]],
                         check=True, capture_output=True, timeout=120)
    return json.loads(out.stdout)


def quantile(values, q):
    """HdrHistogram's definition: the ceil(q*n)-th smallest value"""
    v = sorted(values)
    return v[max(1, math.ceil(q * len(v))) - 1]


def test_profile_matches_spans(tracer, latencyapp):
    t = tracer("--port", str(latencyapp.port), "--summary", "--print")
    statuses = load(latencyapp.port)
    assert statuses == {"200": 950, "500": 50}
    # SIGUSR1: the profile so far, while tracing goes on
    time.sleep(0.5)
    t.proc.send_signal(signal.SIGUSR1)
    lines = t.wait_lines(2001)
    assert any('"profile"' in l for l in lines[-5:])
    docs = [s for s in t.stop() if "profile" in s]
    spans = [s for s in t.spans if "profile" not in s]
    assert len(docs) == 2  # SIGUSR1, then exit
    prof = docs[-1]["profile"]
    assert prof["spans"] == 2000 and prof["series_overflow_spans"] == 0
    rows = {(r["service"], r["side"], r["operation"]): r for r in prof["operations"]}
    assert len(rows) == 6, rows.keys()
    for path, n in LOAD.items():
        for svc, side in (("latencyapp", "server"), ("loadgen", "client")):
            r = rows[(svc, side, "GET %s/{id}" % path)]
            mine = [s for s in spans if s["kind"] == side and s["service"] == svc and
                    s["tags"]["url.path"].startswith(path + "/")]
            assert r["count"] == n == len(mine)
            assert r["errors"] == (n if path == "/fail" else 0) == sum(s["error"] for s in mine)
            assert r["protocol"] == "http"
            durs = [s["duration_us"] for s in mine]
            for q, key in ((0.5, "p50_us"), (0.9, "p90_us"), (0.99, "p99_us"), (1.0, "max_us")):
                truth = quantile(durs, q)
                # the spans print whole microseconds; the histogram saw nanoseconds
                assert abs(r[key] - truth) <= truth * HIST_ERROR + 1, (path, side, key, r[key], truth)
            assert r["sum_us"] == pytest.approx(sum(durs), rel=0.001)
    # the latencies are the server's sleeps
    assert 10000 <= rows[("latencyapp", "server", "GET /fast/{id}")]["p50_us"] < 15000 * (1 + HIST_ERROR)
    assert 100000 * (1 - HIST_ERROR) <= rows[("latencyapp", "server", "GET /slow/{id}")]["p50_us"] < 130000


def test_profile_text_table(latencyapp):
    """--summary alone: no span lines, one table"""
    p = subprocess.Popen([SPANTAP, "--port", str(latencyapp.port), "--summary"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while b"tracing" not in _peek_err(p) and time.time() < deadline:
            time.sleep(0.05)
        load(latencyapp.port, threads=10, **{"/fast": 30, "/slow": 10, "/nothere": 5})
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
    lines = out.splitlines()
    assert lines[0].startswith("spantap: latency profile over ") and "90 spans, 6 operations" in lines[0], out
    assert lines[1].split() == ["SERVICE", "SIDE", "OPERATION", "COUNT", "ERRORS", "RATE/s", "P50", "P90", "P99",
                                "MAX"]
    table = [l.split() for l in lines[2:]]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in table] == [
        ("latencyapp", "server", "GET", "/fast/{id}", "30", "0"),
        ("latencyapp", "server", "GET", "/nothere/{id}", "5", "0"),  # a 404 is not a server error
        ("latencyapp", "server", "GET", "/slow/{id}", "10", "0"),
        ("loadgen", "client", "GET", "/fast/{id}", "30", "0"),
        ("loadgen", "client", "GET", "/nothere/{id}", "5", "5"),  # it is the client's
        ("loadgen", "client", "GET", "/slow/{id}", "10", "0"),
    ], out
    assert table[2][7].endswith("ms") and 99 <= float(table[2][7][:-2]) <= 130


_errs = {}


def _peek_err(p):
    """what p wrote on stderr so far, without blocking"""
    import fcntl
    fd = p.stderr.fileno()
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    try:
        chunk = os.read(fd, 65536)
        _errs[p.pid] = _errs.get(p.pid, b"") + chunk
    except BlockingIOError:
        pass
    return _errs.get(p.pid, b"")


@pytest.fixture
def prometheus():
    """a real Prometheus from Debian on loopback, with its own config and
    data directory, removed afterwards"""
    made = []

    def start(target):
        d = tempfile.mkdtemp(prefix="spantap-prom-")
        port = free_port()
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: spantap\n    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        log = open(os.path.join(d, "log"), "w")
        p = subprocess.Popen(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(d, "data"),
                              "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=log)
        made.append((p, d, log))
        wait_port(port, timeout=30)
        return "http://127.0.0.1:%d" % port

    yield start
    for p, d, log in made:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def promql(base, query):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return {json.dumps(x["metric"], sort_keys=True): float(x["value"][1]) for x in doc["data"]["result"]}


def wait_query(base, query, want, timeout=20):
    deadline = time.time() + timeout
    while True:
        got = promql(base, query)
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.5)


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers, r.read().decode()


def test_prometheus_scrapes_metrics(tracer, latencyapp, prometheus):
    mport = free_port()
    t = tracer("--port", str(latencyapp.port), "--metrics-listen", "127.0.0.1:%d" % mport)
    wait_port(mport)
    prom = prometheus("127.0.0.1:%d" % mport)
    assert load(latencyapp.port) == {"200": 950, "500": 50}

    def series(route, code, extra=""):
        return json.dumps({"__name__": "http_server_request_duration_seconds_count", "instance": "127.0.0.1:%d" % mport,
                           "job": "spantap", "service_name": "latencyapp", "http_request_method": "GET",
                           "http_route": route, "http_response_status_code": code, **(extra or {})},
                          sort_keys=True)

    want = {series("/fast/{id}", "200"): 800.0, series("/slow/{id}", "200"): 150.0,
            series("/fail/{id}", "500", {"error_type": "500"}): 50.0}
    got = wait_query(prom, 'http_server_request_duration_seconds_count{job="spantap"}', want)
    assert got == want
    # the histogram's buckets: every slow request above 50 ms, none above 250 ms
    got = promql(prom, 'http_server_request_duration_seconds_bucket{http_route="/slow/{id}",le=~"0.05|0.25|\\\\+Inf"}')
    assert sorted(got.values()) == [0.0, 150.0, 150.0], got
    got = promql(prom, 'sum(http_client_request_duration_seconds_count{service_name="loadgen",'
                 'server_address="127.0.0.1",server_port="%d"})' % latencyapp.port)
    assert list(got.values()) == [1000.0]
    got = promql(prom, 'sum(http_client_request_duration_seconds_count{error_type="500"})')
    assert list(got.values()) == [50.0]
    # spantap's own counters and process metrics
    got = promql(prom, 'spantap_spans_total')
    assert list(got.values()) == [2000.0]
    for name in ("spantap_events_lost_total", "process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "up"):
        assert len(promql(prom, name + '{job="spantap"}')) == 1, name
    assert list(promql(prom, 'up{job="spantap"}').values()) == [1.0]

    # the exposition passes promtool's own checks
    status, headers, body = get("http://127.0.0.1:%d/metrics" % mport)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    chk = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert 'http_route="/fast/{id}"' in body and "/fast/1000" not in body
    # other paths and methods
    with pytest.raises(urllib.error.HTTPError) as e:
        get("http://127.0.0.1:%d/nothing" % mport)
    assert e.value.code == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport, data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    t.stop()
    assert t.counter("metrics_scrapes") >= 2  # Prometheus at least once, and the GET above
    # with --metrics-listen, spans are not printed unless --print
    assert t.spans == []


def test_metrics_listen_bad_address():
    for bad in ("9464", "127.0.0.1:", "127.0.0.1:99999", "nosuchhost.invalid:9464"):
        p = subprocess.run([SPANTAP, "--metrics-listen", bad, "-d", "1"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (bad, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and bad in lines[0] and "metrics" in lines[0], p.stderr


class Tmux:
    """a private tmux server (its own socket), killed afterwards"""

    def __init__(self):
        self.sock = "spantap-test-%d" % os.getpid()

    def __call__(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], check=True, capture_output=True, text=True).stdout

    def lines(self):
        return self("capture-pane", "-p", "-t", "t").rstrip("\n").split("\n")

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while True:
            lines = self.lines()
            if pred(lines) or time.time() > deadline:
                return lines
            time.sleep(0.2)

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.kill()


class Background:
    """the load, over and over until stopped"""

    def __init__(self, port):
        import threading
        self.stop_ = threading.Event()
        self.th = threading.Thread(target=self.run, args=(port,))
        self.th.start()

    def run(self, port):
        while not self.stop_.is_set():
            load(port, threads=10, **{"/fast": 160, "/slow": 30, "/fail": 10})

    def stop(self):
        self.stop_.set()
        self.th.join()


def rows_of(lines):
    """(service, side, operation) of the table's rows"""
    i = next(i for i, l in enumerate(lines) if l.startswith("SERVICE"))
    return [tuple(l.split()[:4]) for l in lines[i + 1:] if l.strip() and not l.startswith("EXITED")]


def test_live_view(tmux, latencyapp):
    port = latencyapp.port
    tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24",
         "%s top --port %d; echo EXITED $?; sleep 60" % (SPANTAP, port))
    bg = Background(port)
    try:
        six = lambda ls: any(l.startswith("SERVICE") for l in ls) and len(rows_of(ls)) == 6
        lines = tmux.wait(six, timeout=30)
        assert lines[0].startswith("spantap top ") and "sort: rate" in lines[0], lines
        assert lines[1].startswith("spantap: spans ") and " lost 0 " in lines[1] and "drops" in lines[1], lines
        assert lines[3].split() == ["SERVICE", "SIDE", "OPERATION", "RATE/s", "ERR%", "P50", "P99"], lines
        assert all(len(l) <= 80 for l in lines) and len(lines) <= 24
        # busiest first; the same rate on both sides: by service
        assert rows_of(lines) == [("latencyapp", "srv", "GET", "/fast/{id}"), ("loadgen", "cli", "GET", "/fast/{id}"),
                                  ("latencyapp", "srv", "GET", "/slow/{id}"), ("loadgen", "cli", "GET", "/slow/{id}"),
                                  ("latencyapp", "srv", "GET", "/fail/{id}"), ("loadgen", "cli", "GET", "/fail/{id}")]
        row = {r[:4]: l.split() for r, l in zip(rows_of(lines), lines[4:])}
        assert row[("latencyapp", "srv", "GET", "/fail/{id}")][5] == "100.0"  # ERR%
        assert row[("latencyapp", "srv", "GET", "/fast/{id}")][5] == "0.0"
        # slowest first
        tmux("send-keys", "-t", "t", "9")
        lines = tmux.wait(lambda ls: "sort: p99" in ls[0])
        assert [r[3] for r in rows_of(lines)][:2] == ["/slow/{id}", "/slow/{id}"], lines
        slow_p99 = lines[4].split()[6]
        assert slow_p99.endswith("ms") and 99 <= float(slow_p99[:-2]) < 200, lines
        # most errors first
        tmux("send-keys", "-t", "t", "e")
        lines = tmux.wait(lambda ls: "sort: errors" in ls[0])
        assert [r[3] for r in rows_of(lines)][:2] == ["/fail/{id}", "/fail/{id}"], lines
        # a smaller terminal: the rows that fit
        tmux("resize-window", "-t", "t", "-x", "60", "-y", "8")
        lines = tmux.wait(lambda ls: len(ls) <= 8 and len(rows_of(ls)) == 4)
        assert len(rows_of(lines)) == 4 and all(len(l) <= 60 for l in lines), lines
        # a wider one: the operation column grows
        tmux("resize-window", "-t", "t", "-x", "120", "-y", "30")
        lines = tmux.wait(lambda ls: len(rows_of(ls)) == 6 and ls[3].index("RATE/s") > 80)
        assert len(rows_of(lines)) == 6 and lines[3].index("RATE/s") > 80, lines
        tmux("send-keys", "-t", "t", "q")
        lines = tmux.wait(lambda ls: any(l.startswith("EXITED") for l in ls))
        assert "EXITED 0" in lines, lines
    finally:
        bg.stop()


def test_live_view_plain_when_piped(latencyapp):
    bg = Background(latencyapp.port)
    try:
        p = subprocess.run([SPANTAP, "top", "--port", str(latencyapp.port), "-d", "4", "--sort", "p99"],
                           capture_output=True, text=True, timeout=60)
    finally:
        bg.stop()
    assert p.returncode == 0 and "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    assert "\033" not in p.stdout
    frames = [f for f in p.stdout.split("\n\n") if f.strip()]
    assert len(frames) >= 3, p.stdout
    last = frames[-1].splitlines()
    assert last[0].startswith("spantap top") and "sort: p99" in last[0]
    assert [r[3] for r in rows_of(last)][:2] == ["/slow/{id}", "/slow/{id}"], p.stdout


def test_summary_default_on_terminal(tmux, latencyapp):
    """a bounded run on a terminal ends with the profile, after the spans"""
    tmux("new-session", "-d", "-s", "t", "-x", "150", "-y", "300",
         "%s -d 3 --port %d; echo EXITED $?; sleep 60" % (SPANTAP, latencyapp.port))
    # the load once spantap traces (loading its programs takes a while)
    tmux.wait(lambda ls: any("tracing HTTP" in l for l in ls), timeout=30)
    load(latencyapp.port, threads=2, **{"/fast": 4})
    lines = tmux.wait(lambda ls: any(l.startswith("EXITED") for l in ls), timeout=30)
    assert "EXITED 0" in lines, lines
    i = next(i for i, l in enumerate(lines) if l.startswith("spantap: latency profile over"))
    assert sum("SERVER GET /fast/100" in l for l in lines[:i]) == 4, lines
    assert rows_of(lines[i:])[:2] == [("latencyapp", "server", "GET", "/fast/{id}"),
                                      ("loadgen", "client", "GET", "/fast/{id}")], lines
