"""Shared fixtures for the end-to-end tests: they run the real spantap in the
real kernel against real servers and clients, and read its --output json."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPANTAP = os.environ.get("SPANTAP", os.path.join(ROOT, "build", "spantap"))
APPS = os.path.join(ROOT, "tests", "apps")
PY = "/usr/bin/python3"


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="end-to-end tests load BPF programs: run as root")
        for item in items:
            item.add_marker(skip)


def cgroup2_mount():
    """where the cgroup v2 hierarchy is mounted (None: nowhere)"""
    with open("/proc/mounts") as f:
        for line in f:
            dev, path, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return path
    return None


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on port %d" % port)


class Tracer:
    """spantap running with --output json; stop() returns its spans."""

    def __init__(self, *args, wrap=()):
        self.out = tempfile.NamedTemporaryFile(prefix="spantap-out-", delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix="spantap-err-", delete=False)
        self.proc = subprocess.Popen([*wrap, SPANTAP, "-o", "json", *args], stdout=self.out, stderr=self.err)
        deadline = time.time() + 30
        while True:
            with open(self.err.name) as f:
                text = f.read()
            if "tracing" in text:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                raise RuntimeError("spantap did not start: " + text)
            time.sleep(0.05)
        self.spans = None
        self.stderr = ""

    def wait_lines(self, n, timeout=3.0):
        """lines printed so far, waiting until there are n (spantap still running)"""
        deadline = time.time() + timeout
        while True:
            with open(self.out.name) as f:
                lines = [l for l in f.read().splitlines() if l.strip()]
            if len(lines) >= n or time.time() > deadline:
                return lines
            time.sleep(0.05)

    def stop(self, settle=0.5):
        time.sleep(settle)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=20)
        with open(self.out.name) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        with open(self.err.name) as f:
            self.stderr = f.read()
        os.unlink(self.out.name)
        os.unlink(self.err.name)
        self.spans = [json.loads(l) for l in lines]
        self.raw = "\n".join(lines)
        # a clean exit; under ASan/UBSan any report makes this fail
        assert self.proc.returncode == 0, self.stderr[-4000:]
        assert "Sanitizer" not in self.stderr and "runtime error" not in self.stderr, self.stderr[-4000:]
        return self.spans

    def counter(self, name):
        for line in self.stderr.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == name:
                return int(parts[1])
        raise KeyError(name)


@pytest.fixture
def tracer():
    started = []

    def start(*args, wrap=()):
        t = Tracer(*args, wrap=wrap)
        started.append(t)
        return t

    yield start
    for t in started:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


class Server:
    def __init__(self, argv, port, env=None, cwd=None):
        self.port = port
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def httpapp():
    servers = []

    def start(env_extra=None, bind="127.0.0.1"):
        port = free_port()
        env = dict(os.environ)
        env.pop("OTEL_SERVICE_NAME", None)
        env.update(env_extra or {})
        s = Server([PY, os.path.join(APPS, "httpapp.py"), str(port), bind], port, env=env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def redis_server():
    port = free_port()
    s = Server(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
               port)
    yield s
    s.stop()


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


def by(spans, **kw):
    """spans whose fields (or tags, with a tag_ prefix) equal the given values"""
    out = []
    for s in spans:
        ok = True
        for k, v in kw.items():
            got = s["tags"].get(k[4:].replace("__", ".")) if k.startswith("tag_") else s.get(k)
            if got != v:
                ok = False
                break
        if ok:
            out.append(s)
    return out


def within(inner, outer, slack_us=2000):
    """inner span lies inside outer in time (same host clock), with slack"""
    return (inner["start_us"] >= outer["start_us"] - slack_us and
            inner["start_us"] + inner["duration_us"] <= outer["start_us"] + outer["duration_us"] + slack_us)
