"""The real container engines for the container tests: containerd and
Docker's dockerd from Debian, started here (no init system on these
machines) with the host's network left alone, and stopped afterwards, with
every container, image and cgroup the tests made removed. Images come from
no registry: a base image is imported from a tar of empty directories and
the host's /usr and /etc are bind-mounted read-only."""
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

DOCKER = "/usr/bin/docker"  # Debian's CLI, the daemon's own version
BASE = "spantap-test-base:1"
CONTAINERD_SOCK = "/run/containerd/containerd.sock"


def have_engines():
    return all(shutil.which(b) for b in ("dockerd", "containerd", "ctr", "runc")) and os.path.exists(DOCKER)


def docker(*args, check=True, timeout=30):
    return subprocess.run([DOCKER, *args], check=check, capture_output=True, text=True, timeout=timeout)


def ctr(*args, check=True, timeout=30):
    return subprocess.run(["ctr", "-n", "k8s.io", *args], check=check, capture_output=True, text=True,
                          timeout=timeout)


def _listening(path):
    """a daemon answers on this unix socket (a stale socket file does not)"""
    import socket
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _alive(argv):
    try:
        return subprocess.run(argv, capture_output=True, timeout=3).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait(pred, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError("%s did not come up" % what)


def _base_tar():
    """a root filesystem of empty directories and Debian's merged-/usr links"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "var", "var/tmp", "root", "work"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d.endswith("tmp") else 0o755
            t.addfile(info)
        for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)
    return buf.getvalue()


class Engines:
    def __init__(self, root):
        self.root = root  # mounted read-only at the same path: the test apps
        self.procs = []
        self.logs = []
        self.containers = []  # docker names
        self.tasks = []  # ctr ids
        self.tmp = tempfile.mkdtemp(prefix="spantap-engines-")
        self.rootfs = os.path.join(self.tmp, "rootfs")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name, argv):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        self.logs.append(log)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def _start(self):
        if not _listening(CONTAINERD_SOCK):
            self._spawn("containerd", ["containerd"])
            _wait(lambda: _alive(["ctr", "version"]), "containerd")
        if not _listening("/var/run/docker.sock"):
            self._spawn("dockerd", ["dockerd", "--containerd=" + CONTAINERD_SOCK, "--bridge=none",
                                    "--iptables=false", "--ip-masq=false"])
            _wait(lambda: _alive([DOCKER, "version"]), "dockerd")
        tar = os.path.join(self.tmp, "base.tar")
        with open(tar, "wb") as f:
            f.write(_base_tar())
        docker("import", tar, BASE)
        with tarfile.open(tar) as t:
            t.extractall(self.rootfs)

    def mounts(self, root):
        return ["-v", "/usr:/usr:ro", "-v", "/etc:/etc:ro", "-v", "%s:%s:ro" % (root, root)]

    def run(self, name, argv, env=None, labels=None, cgroup_parent=None):
        """docker run -d on the host network; returns the container id"""
        args = ["run", "-d", "--name", name, "--network", "host", *self.mounts(self.root)]
        for k, v in (env or {}).items():
            args += ["-e", "%s=%s" % (k, v)]
        for k, v in (labels or {}).items():
            args += ["--label", "%s=%s" % (k, v)]
        if cgroup_parent:
            args += ["--cgroup-parent", cgroup_parent]
        self.containers.append(name)
        return docker(*args, BASE, *argv).stdout.strip()

    def rm(self, name):
        docker("rm", "-f", name, check=False)

    def ctr_run(self, cid, argv, annotations, cgroup):
        """a container made as containerd's CRI plugin makes one"""
        args = ["run", "-d", "--rootfs", "--net-host", "--cgroup", cgroup]
        for k, v in annotations.items():
            args += ["--annotation", "%s=%s" % (k, v)]
        for src in ("/usr", "/etc", self.root):
            args += ["--mount", "type=bind,src=%s,dst=%s,options=rbind:ro" % (src, src)]
        self.tasks.append(cid)
        ctr(*args, self.rootfs, cid, *argv)

    def pid_of(self, name):
        return int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout)

    def stop(self):
        for name in self.containers:
            docker("rm", "-f", name, check=False)
        for cid in self.tasks:
            ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
            for _ in range(50):
                if ctr("task", "delete", cid, check=False).returncode == 0 or \
                        cid not in ctr("task", "ls", "-q", check=False).stdout:
                    break
                time.sleep(0.1)
            ctr("container", "delete", cid, check=False)
        docker("rmi", "-f", BASE, check=False)
        # what we started, newest first (dockerd before containerd)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for log in self.logs:
            log.close()
        remove_cgroups()
        shutil.rmtree(self.tmp, ignore_errors=True)


def remove_cgroups():
    """the empty kubepods/ and docker/ cgroups runc leaves behind (parents
    of the containers' own), in every hierarchy, deepest first"""
    dirs = []
    for top, subdirs, _ in os.walk("/sys/fs/cgroup"):
        rel = os.path.relpath(top, "/sys/fs/cgroup").split("/")
        if any(part in ("kubepods", "docker") for part in rel[:2]):
            dirs.append(top)
        if len(rel) > 6:
            subdirs[:] = []
    for d in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass
