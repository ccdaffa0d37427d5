"""The command line as an on-call engineer meets it: default text output,
one-line errors for bad flags."""
import subprocess
import time

from conftest import SPANTAP, run


def test_default_output_is_one_text_line_per_span(httpapp):
    import os, signal, tempfile, time
    app = httpapp()
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        p = subprocess.Popen([SPANTAP, "--port", str(app.port)], stdout=out, stderr=err)
        deadline = time.time() + 30
        while b"tracing" not in open(err.name, "rb").read():
            assert p.poll() is None and time.time() < deadline
            time.sleep(0.05)
        run("curl", "-s", "-o", "/dev/null", "-H", "Authorization: Bearer SECRETTEXT1", "-H",
            "Cookie: s=SECRETTEXT2", "http://127.0.0.1:%d/status/503?token=SECRETTEXT3" % app.port)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
        out.seek(0)
        lines = out.read().decode().splitlines()
        stderr = open(err.name).read()
    assert len(lines) == 2, lines
    server = [l for l in lines if " SERVER " in l]
    client = [l for l in lines if " CLIENT " in l]
    assert len(server) == 1 and len(client) == 1
    assert "httpapp" in server[0] and "GET /status/503" in server[0] and " 503" in server[0]
    assert "ERROR" in server[0] and "ERROR" in client[0]
    assert "curl" in client[0] and "http://127.0.0.1:%d/status/503?token=?" % app.port in client[0]
    # both ends of the request are one trace, and the lines say so
    assert server[0].split("trace=")[1] == client[0].split("trace=")[1] and len(server[0].split("trace=")[1]) == 8
    # secrets stay out of the terminal too
    assert "SECRETTEXT" not in "\n".join(lines) + stderr
    # counters are printed on exit
    assert "spans" in stderr and "lost_events" in stderr


def bad(*args):
    p = subprocess.run([SPANTAP, *args], capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr.strip().splitlines()


def test_bad_flags_get_one_line_error():
    for args, words in [
        (["--bogus"], "unknown option '--bogus'"),
        (["--port", "70000"], "invalid value '70000' for --port"),
        (["--port"], "needs a value"),
        (["--pid", "abc"], "invalid value 'abc' for --pid"),
        (["-o", "xml"], "invalid value 'xml' for --output"),
        (["--capture-bytes", "20"], "invalid value '20' for --capture-bytes"),
        (["--ringbuf-mb", "3"], "expected a power of two"),
        (["extra"], "unexpected argument 'extra'"),
        (["--limit", "foo=1"], "invalid value 'foo=1' for --limit"),
        (["--limit", "held"], "invalid value 'held' for --limit"),
        (["--limit", "held=0"], "invalid value '0' for --limit"),
    ]:
        rc, out, err = bad(*args)
        assert rc == 2 and out == "" and len(err) == 1 and words in err[0], (args, err)


def test_help_and_version():
    p = subprocess.run([SPANTAP, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--port" in p.stdout and "--output" in p.stdout
    p = subprocess.run([SPANTAP, "--limit", "help"], capture_output=True, text=True)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 14 and "kernel-conns" in p.stdout
    assert "series" in p.stdout and "containers" in p.stdout
    p = subprocess.run([SPANTAP, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("spantap ")


def test_spans_appear_while_running(tracer, httpapp):
    """a quiet host still sees its spans at once, not when spantap exits"""
    app = httpapp()
    t = tracer("--port", str(app.port))
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    t0 = time.time()
    lines = t.wait_lines(2, timeout=3.0)
    assert len(lines) == 2 and time.time() - t0 < 1.0
    t.stop()


def spantap_progs():
    import json
    out = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return [p for p in out if p.get("type") == "tracepoint" and
            p.get("name", "").startswith(("enter_", "exit_", "sched_exit"))]


def test_sigkill_leaves_nothing_attached():
    import signal
    assert spantap_progs() == []
    p = subprocess.Popen([SPANTAP, "-o", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert "tracing" in p.stderr.readline()
    assert len(spantap_progs()) >= 20
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    # programs and links are held by spantap's file descriptors only
    deadline = time.time() + 5
    while spantap_progs() and time.time() < deadline:
        time.sleep(0.1)
    assert spantap_progs() == []


def with_caps(caps, uid=None):
    """setpriv: run with exactly these capabilities (and as uid, if given)"""
    c = ",".join("+" + x for x in caps)
    who = ["--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] if uid is not None else []
    return ["setpriv", *who, "--inh-caps=-all," + c, "--ambient-caps=-all," + c, "--bounding-set=-all," + c, "--"]


NOBODY = 65534


def test_runs_with_capabilities_instead_of_root(tracer, httpapp):
    app = httpapp(env_extra={"OTEL_SERVICE_NAME": "checkout"})
    caps = ["bpf", "perfmon", "dac_read_search", "sys_ptrace"]
    t = tracer("--port", str(app.port), wrap=with_caps(caps, NOBODY))
    run("curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    assert sorted((s["kind"], s["name"], s["service"]) for s in spans) == [
        ("client", "GET", "curl"), ("server", "GET /hello", "checkout")]
    # without CAP_SYS_PTRACE it traces the same (CAP_PERFMON reads other
    # users' environment); only other users' executable paths are out of
    # reach, and it says so in one line
    t = tracer("--port", str(app.port), wrap=with_caps(caps[:3], NOBODY))
    run("curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    assert sorted((s["kind"], s["service"]) for s in spans) == [("client", "curl"), ("server", "checkout")]
    assert len([l for l in t.stderr.splitlines() if "CAP_SYS_PTRACE" in l]) == 1


def test_missing_capability_named_in_one_line():
    cases = [(["perfmon", "dac_read_search"], NOBODY, "CAP_BPF"),
             (["bpf", "dac_read_search"], NOBODY, "CAP_PERFMON"),
             (["bpf", "perfmon"], NOBODY, "CAP_DAC_READ_SEARCH"),
             (["perfmon"], None, "CAP_BPF")]
    for caps, uid, missing in cases:
        r = subprocess.run(with_caps(caps, uid) + [SPANTAP, "-d", "1"], capture_output=True, text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1, (caps, r.stderr)
        assert lines[0].startswith("spantap: missing capability " + missing), lines
    assert spantap_progs() == []
