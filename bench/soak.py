#!/usr/bin/env python3
"""Soak: spantap exporting to a local UDP agent for a long time under a
moderate, steady load (HTTP on nginx and a Python app, keep-alive and new
connections, Redis commands including a list hop), sampling spantap's RSS.
Memory must stay flat: every table is bounded, nothing may grow with time.

  sudo bench/soak.py [--minutes 30] [--rate 400] [--out bench/RESULTS.md]

Reports RSS after warm-up, at the end and at its peak, the drift, spans
exported and every drop counter. Not a CI test: it takes half an hour.
"""
import argparse
import datetime
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import NGINX_CONF, ROOT, Spantap, UdpCounter, free_port, wait_port  # noqa: E402

APP = os.path.join(ROOT, "tests", "apps", "httpapp.py")


def rss_kb(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % pid).read()).group(1))


class Load:
    """rate requests/s per worker kind, until stopped"""

    def __init__(self, rate, nginx_port, app_port, redis_port):
        self.rate, self.run, self.count, self.errors = rate, True, 0, 0
        self.lock = threading.Lock()
        kinds = [self.http_keepalive, self.http_new_conn, self.redis]
        self.threads = [threading.Thread(target=self.loop, args=(k, p), daemon=True)
                        for k, p in zip(kinds, (nginx_port, app_port, redis_port))]
        for t in self.threads:
            t.start()

    def loop(self, fn, port):
        period = 1.0 / self.rate
        state = {}
        nxt = time.time()
        i = 0
        while self.run:
            try:
                fn(port, state, i)
                with self.lock:
                    self.count += 1
            except Exception:  # noqa: BLE001 - counted, the soak goes on
                state.clear()
                with self.lock:
                    self.errors += 1
            i += 1
            nxt += period
            time.sleep(max(0, nxt - time.time()))

    @staticmethod
    def http_keepalive(port, state, i):
        if "c" not in state or i % 1000 == 0:
            state["c"] = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        state["c"].request("GET", "/item/%d?q=%d" % (i % 5000, i))
        state["c"].getresponse().read()

    @staticmethod
    def http_new_conn(port, state, i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/hello?i=%d" % i)
        c.getresponse().read()
        c.close()

    @staticmethod
    def redis(port, state, i):
        if "s" not in state:
            state["s"] = socket.create_connection(("127.0.0.1", port))
        s = state["s"]
        cmds = [("SET", "k%d" % (i % 10000), "v%d" % i), ("GET", "k%d" % (i % 10000)), ("LPUSH", "q", "job%d" % i),
                ("RPOP", "q")]
        for cmd in cmds:
            s.sendall(("*%d\r\n" % len(cmd) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in cmd)).encode())
            s.recv(4096)

    def stop(self):
        self.run = False
        for t in self.threads:
            t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=400, help="requests/s for each of the 3 load kinds")
    ap.add_argument("--warmup", type=float, default=60, help="seconds before the RSS baseline")
    ap.add_argument("--out", help="append the result to this file")
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="soak-")
    nginx_port, app_port, redis_port = free_port(), free_port(), free_port()
    open(d + "/nginx.conf", "w").write(NGINX_CONF % {"d": d, "p": nginx_port})
    procs = [subprocess.Popen(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"]),
             subprocess.Popen(["/usr/bin/python3", APP, str(app_port)]),
             subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)]
    for p in (nginx_port, app_port, redis_port):
        wait_port(p)
    agent = UdpCounter()
    st = Spantap("--jaeger-agent", "127.0.0.1:%d" % agent.port, "--port", str(nginx_port), "--port",
                 str(app_port), "--port", str(redis_port))
    load = Load(a.rate, nginx_port, app_port, redis_port)
    samples = []
    t0 = time.time()
    try:
        while time.time() - t0 < a.minutes * 60:
            time.sleep(10)
            samples.append((time.time() - t0, rss_kb(st.proc.pid)))
            print("%6.0f s  rss %7d kB  requests %d  errors %d" % (samples[-1] + (load.count, load.errors)),
                  flush=True)
    finally:
        load.stop()
        st.stop()
        agent.close()
        for p in procs:
            p.terminate()
            p.wait()
    base = [r for t, r in samples if t >= a.warmup]
    start, end, peak = base[0], base[-1], max(base)
    drift = (end - start) / start
    lines = [
        "", "## soak %s (%s, %.0f min, %.0f req/s x 3)" % (
            datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.uname().release, a.minutes, a.rate),
        "",
        "| measure | result |", "| --- | --- |",
        "| RSS after %.0f s warm-up | %.1f MB |" % (a.warmup, start / 1024),
        "| RSS at the end | %.1f MB |" % (end / 1024),
        "| RSS peak after warm-up | %.1f MB |" % (peak / 1024),
        "| drift (end / start - 1) | %+.1f%% |" % (drift * 100),
        "| peak / start - 1 | %+.1f%% |" % ((peak - start) / start * 100),
        "| requests made (errors) | %d (%d) |" % (load.count, load.errors),
        "| spans exported | %d |" % st.counters.get("export_spans", 0),
        "| lost events, export drops, evictions | %d, %d, %d |" % (
            st.counters.get("lost_events", 0), st.counters.get("export_dropped", 0),
            st.counters.get("conns_evicted", 0)),
        "| flat within 10%% | %s |" % ("yes" if abs(peak - start) <= 0.1 * start else "NO"),
    ]
    print("\n".join(lines))
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if abs(peak - start) <= 0.1 * start else 1


if __name__ == "__main__":
    sys.exit(main())
