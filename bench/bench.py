#!/usr/bin/env python3
"""spantap's overhead benchmark: what tracing costs a busy server, measured
side by side with an untraced run in the same run, rounds alternating
(A B C A B C ...) to cancel machine drift, reported as ratios.

  1. nginx (one worker, a small fixed response) saturated by wrk: untraced,
     spantap exporting to a local UDP Jaeger receiver that counts datagrams,
     and bpftrace merely counting the same syscalls (the floor reference);
  2. redis-server under redis-benchmark, GET and SET, -P 1 and -P 16;
  2b. nginx over TLS (keep-alive) under wrk: untraced and spantap, whose
     uprobes on OpenSSL see the plaintext; the uprobe programs' in-kernel
     cost per SSL call;
  3. in-kernel cost per hooked syscall (kernel.bpf_stats_enabled), spantap's
     programs and empty programs on the same hooks;
  4. spantap's CPU time per 1000 spans and its peak RSS;
  5. completeness: spans exported per request, drop counters.

Usage: bench.py [--quick] [--out FILE]   (root; run by `make bench`)
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPANTAP = os.environ.get("SPANTAP", os.path.join(ROOT, "build", "spantap"))
HZ = os.sysconf("SC_CLK_TCK")

# the syscalls spantap hooks, as bpftrace tracepoints
HOOKS = ["read", "recvfrom", "readv", "recvmsg", "recvmmsg", "write", "sendto", "writev", "sendmsg",
         "sendmmsg", "sendfile64", "accept", "accept4", "connect", "close"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing on port %d" % port)


class UdpCounter:
    """A Jaeger agent stand-in that only counts datagrams and bytes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = self.bytes = 0
        self.run = True
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while self.run:
            try:
                d = self.sock.recv(70000)
            except socket.timeout:
                continue
            self.datagrams += 1
            self.bytes += len(d)

    def close(self):
        self.run = False
        self.t.join()
        self.sock.close()


class Spantap:
    def __init__(self, *args):
        self.err = tempfile.NamedTemporaryFile(prefix="bench-spantap-", delete=False)
        self.proc = subprocess.Popen([SPANTAP, *args], stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 30
        while b"tracing" not in open(self.err.name, "rb").read():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("spantap did not start: " + open(self.err.name).read())
            time.sleep(0.05)
        self.ticks0 = self.ticks()

    def ticks(self):
        f = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def stop(self):
        self.cpu_s = (self.ticks() - self.ticks0) / HZ
        self.peak_rss_kb = int(re.search(r"VmHWM:\s+(\d+)", open("/proc/%d/status" % self.proc.pid).read()).group(1))
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        text = open(self.err.name).read()
        os.unlink(self.err.name)
        self.counters = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s", text, re.M)}
        return self


LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
# the uprobes spantap attaches to libssl, as bpftrace probes
SSL_PROBES = ",".join("uprobe:%s:%s,uretprobe:%s:%s" % (LIBSSL, f, LIBSSL, f)
                      for f in ("SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex"))


class Bpftrace:
    """bpftrace on the same hooks: counting (the floor reference) or empty."""

    def __init__(self, action, probes=None):
        probes = probes or ",".join("tracepoint:syscalls:sys_enter_%s,tracepoint:syscalls:sys_exit_%s" % (h, h)
                                    for h in HOOKS)
        self.proc = subprocess.Popen(["bpftrace", "-e", "%s { %s }" % (probes, action)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        while True:  # warnings (RLIMIT_MEMLOCK...) may come first
            line = self.proc.stdout.readline()
            seen.append(line)
            if "Attaching" in line:
                break
            if not line or len(seen) > 20:
                raise RuntimeError("bpftrace did not start: " + "".join(seen))
        # "Attaching N probes" comes before the attaching itself
        time.sleep(3.0)

    def stop(self):
        # a signal during attach can be missed: escalate rather than hang
        for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            self.proc.send_signal(sig)
            try:
                self.proc.communicate(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


NGINX_CONF = """
daemon off; master_process on; worker_processes 1; user root;
pid %(d)s/nginx.pid; error_log %(d)s/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:%(p)d; location / { return 200 "hello world\\n"; } } }
"""


def wrk(port, seconds, scheme="http"):
    out = subprocess.run(["wrk", "-t1", "-c32", "-d%ds" % seconds, "%s://127.0.0.1:%d/" % (scheme, port)],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, reqs


SPANTAP_PROGS = ("enter_", "exit_", "sched_exit", "sched_fork")
BPFTRACE_PROGS = ("sys_enter_", "sys_exit_")


def bpf_stats(prefixes, newest_of=None, types=("tracepoint", "raw_tracepoint")):
    """{(id, name): (run_time_ns, run_cnt)} of the tracepoint programs whose
    names start with prefixes: other tracers on the host do not count; with
    newest_of, only the programs of the object that loaded the newest
    program of that name (this run's spantap, not another one)"""
    out = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    btf = None
    if newest_of:
        mine = [p for p in out if p.get("name") == newest_of]
        btf = max(mine, key=lambda p: p["id"]).get("btf_id") if mine else None
    return {(p["id"], p.get("name", "")): (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in out
            if p.get("type") in types and p.get("name", "").startswith(prefixes)
            and (btf is None or p.get("btf_id") == btf)}


def per_call_ns(before, after):
    ns = cnt = 0
    for k, (t, c) in after.items():
        t0, c0 = before.get(k, (0, 0))
        ns += t - t0
        cnt += c - c0
    return (ns / cnt if cnt else 0.0), cnt


def bench_nginx(rounds, seconds, res):
    d = tempfile.mkdtemp(prefix="bench-nginx-")
    port = free_port()
    open(d + "/nginx.conf", "w").write(NGINX_CONF % {"d": d, "p": port})
    ngx = subprocess.Popen(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"])
    wait_port(port)
    runs = {"untraced": [], "spantap": [], "bpftrace": [], "no_option": []}
    cpu = spans = reqs = 0.0
    rss = 0
    kernel = []
    drops = {"lost_events": 0, "export_dropped": 0}
    try:
        wrk(port, 1)  # warm up
        for _ in range(rounds):
            runs["untraced"].append(wrk(port, seconds)[0])

            agent = UdpCounter()
            st = Spantap("--jaeger-agent", "127.0.0.1:%d" % agent.port)
            b0 = bpf_stats(SPANTAP_PROGS, "exit_read")
            rps, n = wrk(port, seconds)
            kernel.append(per_call_ns(b0, bpf_stats(SPANTAP_PROGS, "exit_read")))
            st.stop()
            agent.close()
            runs["spantap"].append(rps)
            cpu += st.cpu_s
            spans += st.counters.get("export_spans", 0)
            reqs += n
            rss = max(rss, st.peak_rss_kb)
            for k in drops:
                drops[k] += st.counters.get(k, 0)

            # what the TCP option costs: the same without it
            agent = UdpCounter()
            st = Spantap("--jaeger-agent", "127.0.0.1:%d" % agent.port, "--propagation", "none")
            runs["no_option"].append(wrk(port, seconds)[0])
            st.stop()
            agent.close()

            bt = Bpftrace("@c = count();")
            runs["bpftrace"].append(wrk(port, seconds)[0])
            bt.stop()
        # the same hooks with empty programs: the cost of being attached at all
        bt = Bpftrace("")
        b0 = bpf_stats(BPFTRACE_PROGS)
        wrk(port, seconds)
        empty = per_call_ns(b0, bpf_stats(BPFTRACE_PROGS))
        bt.stop()
    finally:
        ngx.terminate()
        ngx.wait()
    med = {k: statistics.median(v) for k, v in runs.items()}
    res["nginx"] = {
        "untraced_rps": med["untraced"], "spantap_rps": med["spantap"], "bpftrace_rps": med["bpftrace"],
        "spantap_ratio": med["spantap"] / med["untraced"], "bpftrace_ratio": med["bpftrace"] / med["untraced"],
        "no_option_rps": med["no_option"], "no_option_ratio": med["no_option"] / med["untraced"],
        # wrk is traced too: a request makes a client span and a server span
        "spans_per_request": spans / reqs / 2 if reqs else 0,
        "cpu_us_per_span": cpu * 1e6 / spans if spans else 0,
        "peak_rss_mb": rss / 1024,
        "kernel_ns_per_call": statistics.median([k[0] for k in kernel]),
        "empty_ns_per_call": empty[0],
        "drops": drops,
    }


NGINX_TLS_CONF = """
daemon off; master_process on; worker_processes 1; user root;
pid %(d)s/nginx.pid; error_log %(d)s/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:%(p)d ssl; ssl_certificate %(d)s/cert.pem;
       ssl_certificate_key %(d)s/key.pem; location / { return 200 "hello world\\n"; } } }
"""


def bench_nginx_tls(rounds, seconds, res):
    """nginx over TLS, wrk keeping its connections: the uprobes' cost"""
    d = tempfile.mkdtemp(prefix="bench-nginx-tls-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", d + "/key.pem", "-out", d + "/cert.pem", "-days", "1", "-subj",
                    "/CN=localhost"], check=True, capture_output=True)
    port = free_port()
    open(d + "/nginx.conf", "w").write(NGINX_TLS_CONF % {"d": d, "p": port})
    ngx = subprocess.Popen(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"])
    wait_port(port)
    runs = {"untraced": [], "spantap": [], "bpftrace": []}
    kernel, spans, reqs = [], 0, 0
    try:
        wrk(port, 1, "https")  # warm up
        for _ in range(rounds):
            runs["untraced"].append(wrk(port, seconds, "https")[0])
            agent = UdpCounter()
            st = Spantap("--jaeger-agent", "127.0.0.1:%d" % agent.port)
            b0 = bpf_stats(("ssl_",), "ssl_exit", ("kprobe",))
            rps, n = wrk(port, seconds, "https")
            kernel.append(per_call_ns(b0, bpf_stats(("ssl_",), "ssl_exit", ("kprobe",))))
            st.stop()
            agent.close()
            runs["spantap"].append(rps)
            spans += st.counters.get("export_spans", 0)
            reqs += n
            # the floor: uprobes on the same functions that only count
            bt = Bpftrace("@c = count();", SSL_PROBES)
            runs["bpftrace"].append(wrk(port, seconds, "https")[0])
            bt.stop()
    finally:
        ngx.terminate()
        ngx.wait()
        subprocess.run(["rm", "-rf", d])
    med = {k: statistics.median(v) for k, v in runs.items()}
    res["nginx_tls"] = {
        "untraced_rps": med["untraced"], "spantap_rps": med["spantap"],
        "ratio": med["spantap"] / med["untraced"],
        "bpftrace_rps": med["bpftrace"], "bpftrace_ratio": med["bpftrace"] / med["untraced"],
        "spans_per_request": spans / reqs / 2 if reqs else 0,
        # entry and return programs both count: per SSL call, the two together
        "kernel_ns_per_ssl_call": 2 * statistics.median([k[0] for k in kernel]),
    }


def redis_bench(port, pipeline, n):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "32", "-t", "set,get", "--csv",
                          "-P", str(pipeline)], capture_output=True, text=True, check=True).stdout
    rps = {}
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] in ("SET", "GET"):
            rps[cells[0]] = float(cells[1])
    return rps


def bench_redis(rounds, n, res, n_pipelined):
    """n requests per test without pipelining; n_pipelined with -P 16, long
    enough to run past the rate limit's first-second burst: the sampling
    row measures overload control, not the burst"""
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_port(port)
    try:
        for p, n in ((1, n), (16, n_pipelined)):
            runs = {m: {"SET": [], "GET": []} for m in ("untraced", "spantap", "bpftrace")}
            drops = spans = skipped = kskipped = 0
            for _ in range(rounds):
                for k, v in redis_bench(port, p, n).items():
                    runs["untraced"][k].append(v)
                agent = UdpCounter()
                st = Spantap("--jaeger-agent", "127.0.0.1:%d" % agent.port)
                for k, v in redis_bench(port, p, n).items():
                    runs["spantap"][k].append(v)
                st.stop()
                agent.close()
                drops += st.counters.get("lost_events", 0) + st.counters.get("export_dropped", 0)
                spans += st.counters.get("export_spans", 0)
                skipped += st.counters.get("spans_skipped", 0)
                kskipped += st.counters.get("kernel_skipped_exchanges", 0)
                bt = Bpftrace("@c = count();")
                for k, v in redis_bench(port, p, n).items():
                    runs["bpftrace"][k].append(v)
                bt.stop()
            # SET and GET, n requests each, a client and a server span per request
            expected = rounds * 2 * n * 2
            for k in ("SET", "GET"):
                med = {m: statistics.median(runs[m][k]) for m in runs}
                res["redis_%s_P%d" % (k, p)] = {
                    "untraced_rps": med["untraced"], "spantap_rps": med["spantap"], "bpftrace_rps": med["bpftrace"],
                    "ratio": med["spantap"] / med["untraced"], "bpftrace_ratio": med["bpftrace"] / med["untraced"],
                    "drops": drops, "spans_per_expected": spans / expected, "skipped_per_expected": skipped / expected,
                    # a batch of 16 at each end: its 32 spans, left out whole
                    "kernel_skipped_per_expected": kskipped * 16 / expected}
    finally:
        srv.terminate()
        srv.wait()


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "unknown"


def report(res, quick):
    n = res["nginx"]
    lines = [
        "## %s, commit %s%s" % (datetime.date.today().isoformat(), commit(), " (quick)" if quick else ""),
        "",
        "Machine: %s, %d cores, kernel %s." % (platform.machine(), os.cpu_count(), platform.release()),
        "",
        "| measure | untraced | traced | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        "| nginx + wrk, spantap exporting to UDP | %.0f req/s | %.0f req/s | %.2f | >= bpftrace; goal 0.90 |"
        % (n["untraced_rps"], n["spantap_rps"], n["spantap_ratio"]),
        "| nginx + wrk, spantap with `--propagation none` (no TCP option) | %.0f req/s | %.0f req/s | %.2f | "
        "(what the option costs) |" % (n["untraced_rps"], n["no_option_rps"], n["no_option_ratio"]),
        "| nginx + wrk, bpftrace counting the same syscalls | %.0f req/s | %.0f req/s | %.2f | (floor reference) |"
        % (n["untraced_rps"], n["bpftrace_rps"], n["bpftrace_ratio"]),
    ]
    t = res.get("nginx_tls")
    if t:
        lines.append("| nginx over TLS + wrk (keep-alive), spantap | %.0f req/s | %.0f req/s | %.2f | >= 0.85 |"
                     % (t["untraced_rps"], t["spantap_rps"], t["ratio"]))
        lines.append("| nginx over TLS + wrk, bpftrace uprobes counting the same SSL calls | %.0f req/s | %.0f req/s "
                     "| %.2f | (floor reference) |" % (t["untraced_rps"], t["bpftrace_rps"], t["bpftrace_ratio"]))
    for key in sorted(k for k in res if k.startswith("redis_")):
        r = res[key]
        _, cmd, p = key.split("_")
        target = ">= bpftrace; goal 0.90" if p == "P1" else ">= 0.80 sampled (default rate limit)"
        lines.append("| redis-benchmark %s -%s, spantap | %.0f req/s | %.0f req/s | %.2f | %s |"
                     % (cmd, p.replace("P", "P "), r["untraced_rps"], r["spantap_rps"], r["ratio"], target))
        lines.append("| redis-benchmark %s -%s, bpftrace counting | %.0f req/s | %.0f req/s | %.2f | (floor reference) |"
                     % (cmd, p.replace("P", "P "), r["untraced_rps"], r["bpftrace_rps"], r["bpftrace_ratio"]))
    lines += [
        "",
        "| measure | value | target |",
        "| --- | ---: | --- |",
        "| in-kernel cost per hooked syscall, spantap (bpf_stats) | %.0f ns | <= 250 ns; goal 150 |" % n["kernel_ns_per_call"],
        "| in-kernel cost per hooked syscall, empty programs | %.0f ns | |" % n["empty_ns_per_call"],
        "| spantap CPU per exported span (nginx) | %.2f us | <= 1 us |" % n["cpu_us_per_span"],
        "| in-kernel cost per SSL call, uprobe programs (bpf_stats; nginx over TLS) | %.0f ns | |"
        % res["nginx_tls"]["kernel_ns_per_ssl_call"],
        "| spans exported per span expected (nginx over TLS) | %.4f | >= 0.99 |"
        % res["nginx_tls"]["spans_per_request"],
        "| spantap peak RSS | %.1f MB | <= 64 MB |" % n["peak_rss_mb"],
        "| spans exported per span expected (nginx) | %.4f | >= 0.99 |" % n["spans_per_request"],
        "| spans exported per span expected (redis -P 1, SET and GET) | %.4f | >= 0.99 |"
        % res["redis_GET_P1"]["spans_per_expected"],
        "| spans exported / skipped by sampling per span expected (redis -P 16; skipped in user space + in the kernel) "
        "| %.3f / %.3f + %.3f | |"
        % (res["redis_GET_P16"]["spans_per_expected"], res["redis_GET_P16"]["skipped_per_expected"],
           res["redis_GET_P16"]["kernel_skipped_per_expected"]),
        "| events lost in the kernel / spans dropped by the exporter (nginx) | %d / %d | 0 |"
        % (n["drops"]["lost_events"], n["drops"]["export_dropped"]),
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one short round, to keep the benchmark working")
    ap.add_argument("--out", help="append the table to this file")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF, bpf_stats)")
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    res = {}
    try:
        rounds, seconds, n, n_pipelined = (1, 2, 20000, 400000) if a.quick else (3, 10, 200000, 2000000)
        bench_nginx(rounds, seconds, res)
        bench_nginx_tls(rounds, seconds, res)
        bench_redis(rounds, n, res, n_pipelined)
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
    text = report(res, a.quick)
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
