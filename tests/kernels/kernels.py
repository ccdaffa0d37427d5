#!/usr/bin/python3
"""The kernel matrix: boots Debian's own generic kernels under qemu (TCG)
with this host's root filesystem shared read-only over 9p, runs the built
spantap inside against nginx and redis-server, and checks the exact spans.

Kernel packages come from Debian's archive through a private apt
configuration (its own sources, lists and cache under CACHE): the host's
apt setup is never read for sources nor changed, and nothing is installed.
Downloads and extracted kernels are kept in CACHE between runs.

  kernels.py [--cache DIR] [--spantap BIN] KERNEL...   (5.10 6.1 6.12)
"""
import argparse
import fcntl
import glob
import gzip
import json
import lzma
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEBIAN = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITES = ("bullseye", "bookworm", "bookworm-backports")
LISTS_MAX_AGE = 7 * 86400

# name -> (Debian architecture, suite whose linux-image-<arch> is booted,
# the fallbacks spantap must report there, BPF programs it must attach).
# The fallbacks are what the kernel lacks (bpf_get_current_task_btf came in
# 5.11, bpf_task_pt_regs in 5.15); spantap finds them by probing, the test
# only checks it found the right ones.
KERNELS = {
    "5.10": ("amd64", "bullseye", {"bpf_get_current_task_btf", "bpf_task_pt_regs"}, 43),
    "6.1": ("amd64", "bookworm", set(), 38),
    "6.12": ("amd64", "bookworm-backports", set(), 38),
    # the arm64 build in an arm64 userland (Debian's packages unpacked)
    "arm64-6.1": ("arm64", "bookworm", set(), 37),  # no dup2 syscall there
}
# the arm64 guest's root: what guest.sh runs, from bookworm, unpacked
ARM64_ROOT_PACKAGES = ["busybox-static", "nginx", "curl", "redis-server", "redis-tools", "iproute2",
                       "libbpf1", "libelf1", "zlib1g", "libcurl4"]
QEMU = {
    "amd64": ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "max"],
    "arm64": ["qemu-system-aarch64", "-machine", "virt,accel=tcg", "-cpu", "cortex-a72"],
}
CONSOLE = {"amd64": "ttyS0", "arm64": "ttyAMA0"}
# modules the guest needs (with what they depend on); built-in ones are
# simply not found in the package
WANT_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]

# The spans the guest's clients cause: (kind, service, name, status or
# error type, error). Each server span must be its client's child.
EXPECTED = [
    ("client", "curl", "GET", 200, False),
    ("server", "nginx", "GET /hello", 200, False),
    ("client", "curl", "GET", 404, True),
    ("server", "nginx", "GET /missing", 404, False),
    ("client", "redis-cli", "SET", None, False),
    ("server", "redis-server", "SET", None, False),
    ("client", "redis-cli", "HSET", "WRONGTYPE", True),
    ("server", "redis-server", "HSET", "WRONGTYPE", True),
]


def log(msg):
    print("test-kernels: " + msg, flush=True)


class Apt:
    """apt-get and apt-cache on a private configuration under cache/apt."""

    def __init__(self, cache):
        self.dir = os.path.join(cache, "apt")
        for d in ("lists/partial", "archives/partial", "parts", "prefs", "conf.d"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        status = os.path.join(self.dir, "status")
        if not os.path.exists(status):
            open(status, "w").close()
        with open(os.path.join(self.dir, "sources.list"), "w") as f:
            for s in SUITES:
                f.write("deb [arch=amd64,arm64 signed-by=%s] %s %s main\n" % (KEYRING, DEBIAN, s))
        d = self.dir
        self.conf = os.path.join(d, "apt.conf")
        with open(self.conf, "w") as f:
            f.write(
                'Dir::Etc::SourceList "%s/sources.list";\n'
                'Dir::Etc::SourceParts "%s/parts";\n'
                'Dir::Etc::Parts "%s/conf.d";\n'
                'Dir::Etc::Preferences "%s/prefs/none";\n'
                'Dir::Etc::PreferencesParts "%s/prefs";\n'
                'Dir::State::Lists "%s/lists";\n'
                'Dir::State::status "%s/status";\n'
                'Dir::Cache "%s/cache";\n'
                'Dir::Cache::Archives "%s/archives";\n'
                'APT::Architecture "amd64";\n'
                'APT::Architectures { "amd64"; "arm64"; };\n'
                'APT::Sandbox::User "root";\n'
                'Acquire::Languages "none";\n' % ((d,) * 9)
            )
        self.updated = False

    def run(self, args, cwd=None):
        env = dict(os.environ, APT_CONFIG=self.conf, LC_ALL="C")
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)

    def rootfs(self, arch, packages, dest):
        """packages of bookworm for arch and all they need, unpacked into dest"""
        stamp = os.path.join(dest, ".spantap-rootfs")
        if read(stamp) == " ".join(packages):
            accounts(dest)  # a root unpacked before it was added there
            return dest
        self.update()
        arch_opt = ["-o", "APT::Architecture=" + arch, "-t", "bookworm"]
        r = self.run(["apt-get", "install", "-s", "-qq", "--no-install-recommends", *arch_opt, *packages])
        want = []
        for line in r.stdout.splitlines():
            if line.startswith("Inst "):
                f = line.split()
                want.append((f[1].split(":")[0], f[2].strip("(")))
        if r.returncode or not want:
            raise SystemExit("test-kernels: cannot resolve %s for %s:\n%s" % (packages, arch, r.stderr))
        debs = os.path.join(os.path.dirname(dest), "debs-" + arch)
        os.makedirs(debs, exist_ok=True)
        log("unpacking %d %s packages into %s" % (len(want), arch, dest))
        r = self.run(["apt-get", "download", "-q", *arch_opt, *("%s=%s" % w for w in want)], cwd=debs)
        if r.returncode:
            raise SystemExit("test-kernels: apt-get download failed:\n" + r.stdout + r.stderr)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        for name, ver in want:
            deb = glob.glob(os.path.join(debs, glob.escape("%s_%s_" % (name, ver.replace(":", "%3a"))) + "*.deb"))
            subprocess.run(["dpkg-deb", "-x", deb[0], dest], check=True)
        for d in ("proc", "sys", "dev", "tmp", "run"):  # mount points
            os.makedirs(os.path.join(dest, d), exist_ok=True)
        accounts(dest)
        with open(stamp, "w") as f:
            f.write(" ".join(packages))
        return dest

    def update(self, force=False):
        stamp = glob.glob(os.path.join(self.dir, "lists", "*Packages*"))
        fresh = stamp and time.time() - min(os.path.getmtime(p) for p in stamp) < LISTS_MAX_AGE
        if self.updated or (fresh and not force):
            return
        log("apt-get update (private lists in %s)" % self.dir)
        r = self.run(["apt-get", "update", "-q"])
        if r.returncode:
            raise SystemExit("test-kernels: apt-get update failed:\n" + r.stdout + r.stderr)
        self.updated = True

    def image_package(self, arch, suite):
        """(package, version) that linux-image-<arch> of suite depends on"""
        r = self.run(["apt-cache", "show", "linux-image-%s/%s" % (arch, suite)])
        for line in r.stdout.splitlines():
            if line.startswith("Depends:"):
                dep = line.split(":", 1)[1].split(",")[0].strip()
                name, ver = dep.split(" ", 1)
                return name, ver.strip("()= ")
        return None

    def download(self, arch, suite, debs):
        """the .deb of suite's generic kernel for arch, downloaded once"""
        self.update()
        pkg = self.image_package(arch, suite)
        if not pkg:
            self.update(force=True)
            pkg = self.image_package(arch, suite)
        if not pkg:
            raise SystemExit("test-kernels: no linux-image-%s in %s" % (arch, suite))
        name, ver = pkg
        path = os.path.join(debs, "%s_%s_%s.deb" % (name, ver.split(":")[-1], arch))
        if os.path.exists(path):
            return path
        os.makedirs(debs, exist_ok=True)
        log("downloading %s %s" % (name, ver))
        r = self.run(["apt-get", "download", "-q", "%s:%s=%s" % (name, arch, ver)], cwd=debs)
        if r.returncode or not os.path.exists(path):
            raise SystemExit("test-kernels: apt-get download %s failed:\n%s%s" % (name, r.stdout, r.stderr))
        return path


# The accounts base-passwd's master files start a Debian system with (its
# postinst writes /etc/passwd and /etc/group; dpkg-deb -x runs no script):
# without them getpwnam fails, and nginx, started as root, stops at once on
# its default user ("getpwnam("nobody") failed").
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def accounts(dest):
    """/etc/passwd and /etc/group in an unpacked root that has none"""
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        path = os.path.join(dest, "etc", name)
        if not os.path.exists(path):
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.rename(path + ".tmp", path)


def deb_members(deb):
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True).stdout
    names = subprocess.run(["tar", "-t"], input=out, capture_output=True, check=True).stdout.decode().split()
    return out, names


def module_depends(path):
    """the depends= entry of a module's .modinfo"""
    data = open(path, "rb").read()
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    j = data.index(b"\0", i + 1)
    return [m for m in data[i + 9 : j].decode().split(",") if m]


def prepare(deb, dest):
    """vmlinuz and the wanted modules (uncompressed, in load order) of deb"""
    order_file = os.path.join(dest, "modules", "order")
    if os.path.exists(order_file):
        return
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "modules"))
    tar, names = deb_members(deb)
    kos = {}
    for n in names:
        base = os.path.basename(n)
        for ext in (".ko", ".ko.xz", ".ko.zst"):
            if base.endswith(ext):
                kos[base[: -len(ext)].replace("-", "_")] = n
    vmlinuz = [n for n in names if "/boot/vmlinuz-" in n]
    order, seen = [], set()

    def extract(member):
        subprocess.run(["tar", "-x", "-C", tmp, member], input=tar, check=True, capture_output=True)
        return os.path.join(tmp, member)

    def want(mod):
        mod = mod.replace("-", "_")
        if mod in seen:
            return
        seen.add(mod)
        if mod not in kos:
            return  # built in
        p = extract(kos[mod])
        ko = os.path.join(tmp, "modules", mod + ".ko")
        if p.endswith(".xz"):
            data = lzma.open(p).read()
        elif p.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", p], capture_output=True, check=True).stdout
        else:
            data = open(p, "rb").read()
        with open(ko, "wb") as f:
            f.write(data)
        for d in module_depends(ko):
            want(d)
        order.append(mod)

    for m in WANT_MODULES:
        want(m)
    shutil.copy(extract(vmlinuz[0]), os.path.join(tmp, "vmlinuz"))
    for d in ("boot", "lib", "usr"):
        shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
    with open(os.path.join(tmp, "modules", "order"), "w") as f:
        f.write("\n".join(order) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)


def cpio_newc(entries):
    """an initramfs: entries of (path, mode, data or None for a directory)"""
    out = bytearray()
    ino = 1
    for path, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        data = data or b""
        name = path.encode() + b"\0"
        hdr = "070701" + "".join(
            "%08X" % v for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        )
        out += hdr.encode() + name
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return gzip.compress(bytes(out), 1)


def initramfs(kdir, busybox):
    entries = [(d, 0o40755, None) for d in ("bin", "proc", "sys", "dev", "modules")]
    entries.append(("bin/busybox", 0o100755, open(busybox, "rb").read()))
    for applet in ("sh", "mount", "insmod", "mkdir", "cat", "sed", "switch_root", "echo"):
        entries.append(("bin/" + applet, 0o120777, b"busybox"))
    entries.append(("init", 0o100755, open(os.path.join(HERE, "init.sh"), "rb").read()))
    for name in sorted(os.listdir(os.path.join(kdir, "modules"))):
        entries.append(("modules/" + name, 0o100644, open(os.path.join(kdir, "modules", name), "rb").read()))
    path = os.path.join(kdir, "initramfs.gz")
    with open(path, "wb") as f:
        f.write(cpio_newc(entries))
    return path


def boot(kdir, arch, rootfs, spantap, timeout):
    """boot the kernel in kdir with rootfs as its root (the host's / for
    amd64: its binaries run unchanged; the repository is shared too where it
    is not under rootfs); returns (the guest's output folder, seconds)"""
    out = tempfile.mkdtemp(prefix="spantap-kernel-")
    os.chmod(out, 0o777)
    append = "console=%s quiet loglevel=3 panic=-1 spantap.repo=%s spantap.guest=%s spantap.bin=%s" % (
        CONSOLE[arch],
        ROOT,
        os.path.join(HERE, "guest.sh"),
        spantap,
    )
    cmd = QEMU[arch] + [
        "-m", "1536", "-smp", "1", "-nographic", "-no-reboot", "-kernel", os.path.join(kdir, "vmlinuz"),
        "-initrd", initramfs(kdir, os.path.join(rootfs, "bin/busybox")), "-append", append,
        "-virtfs", "local,path=%s,mount_tag=root,security_model=none,readonly=on,multidevs=remap" % rootfs,
        "-virtfs", "local,path=%s,mount_tag=out,security_model=none" % out,
    ]  # fmt: skip
    # the repository always comes as its own share: under /tmp (a clean
    # clone's usual place) the guest's own tmpfs on /tmp would hide it
    cmd += ["-virtfs", "local,path=%s,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" % ROOT]
    t0 = time.time()
    with open(os.path.join(out, "console.log"), "w") as con:
        try:
            subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=con, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            con.write("\ntest-kernels: qemu killed after %d s\n" % timeout)
    return out, time.time() - t0


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def check(out, want_fallbacks, want_progs):
    """problems found in what the guest left in out, and a summary"""
    errs = []
    stderr = read(os.path.join(out, "stderr.txt"))
    guest = read(os.path.join(out, "guest.log"))
    errs += [l for l in guest.splitlines() if l.startswith("guest: ")]
    progs = None
    for line in stderr.splitlines():
        if "BPF programs attached" in line:
            progs = int(line.split("(")[1].split()[0])
    fallbacks = {l.split("kernel has no ")[1].split()[0] for l in stderr.splitlines() if "kernel has no " in l}
    if progs is None:
        errs.append("spantap did not attach")
    elif progs != want_progs:
        errs.append("%d programs attached, expected %d" % (progs, want_progs))
    if fallbacks != want_fallbacks:
        errs.append("fallbacks %s, expected %s" % (sorted(fallbacks) or "none", sorted(want_fallbacks) or "none"))
    if read(os.path.join(out, "rc")).strip() not in ("0",):
        errs.append("spantap exit status %r" % read(os.path.join(out, "rc")).strip())
    spans = []
    for line in read(os.path.join(out, "spans.json")).splitlines():
        try:
            spans.append(json.loads(line))
        except ValueError:
            errs.append("not JSON: " + line[:100])
    got = []
    for s in spans:
        tags = s.get("tags", {})
        status = tags.get("http.response.status_code", tags.get("error.type"))
        got.append((s["kind"], s["service"], s["name"], status, bool(s.get("error"))))
    if sorted(got, key=repr) != sorted(EXPECTED, key=repr):
        errs.append("spans differ:\n    got      %s\n    expected %s" % (sorted(got, key=repr), sorted(EXPECTED, key=repr)))
    # every server span is the child of the client span that called it
    by_id = {s["span_id"]: s for s in spans}
    for s in spans:
        if s["kind"] != "server":
            continue
        parent = by_id.get(s.get("parent_span_id"))
        if not parent or parent["kind"] != "client" or parent["trace_id"] != s["trace_id"] or parent["name"].split()[0] != s["name"].split()[0]:
            errs.append("server span %s %s not linked to its client" % (s["service"], s["name"]))
    # the links came with the TCP option (sock_ops, 5.10+), not by address
    opt = [l.split()[1] for l in stderr.splitlines() if l.split()[:1] == ["links_option"]]
    if opt != ["4"]:
        errs.append("links by TCP option %s, expected 4" % (opt or "none"))
    summary = "programs %s, fallbacks %s, spans %d/%d" % (
        progs, ",".join(sorted(fallbacks)) or "none", len(spans), len(EXPECTED)
    )
    return errs, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get("SPANTAP_KERNEL_CACHE", "/var/cache/spantap-kernels"))
    ap.add_argument("--spantap", default=os.path.join(ROOT, "build", "spantap"))
    ap.add_argument("--lock", default="/tmp/spantap-e2e.lock", help="held while a guest runs")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep the guests' output folders")
    ap.add_argument("kernels", nargs="*", default=list(KERNELS))
    a = ap.parse_args()
    spantap = os.path.abspath(a.spantap)
    if not os.access(spantap, os.X_OK):
        raise SystemExit("test-kernels: no spantap binary at %s (run make)" % spantap)
    for tool in ("qemu-system-x86_64", "qemu-system-aarch64", "dpkg-deb", "apt-get"):
        if not shutil.which(tool):
            raise SystemExit("test-kernels: %s not found (scripts/install-deps.sh installs it)" % tool)
    if not os.path.exists("/bin/busybox"):
        raise SystemExit("test-kernels: /bin/busybox not found (busybox-static)")
    apt = Apt(a.cache)
    failed = []
    for k in a.kernels:
        if k not in KERNELS:
            raise SystemExit("test-kernels: unknown kernel %r (known: %s)" % (k, " ".join(KERNELS)))
        arch, suite, fallbacks, progs = KERNELS[k]
        deb = apt.download(arch, suite, os.path.join(a.cache, "debs"))
        kdir = os.path.join(a.cache, "kernels", os.path.basename(deb)[: -len(".deb")])
        prepare(deb, kdir)
        rootfs = "/"
        if arch != "amd64":
            rootfs = apt.rootfs(arch, ARM64_ROOT_PACKAGES, os.path.join(a.cache, "rootfs-" + arch))
        with open(a.lock, "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            out, secs = boot(kdir, arch, rootfs, spantap, a.timeout)
        errs, summary = check(out, fallbacks, progs)
        release = read(os.path.join(out, "uname")).strip() or "?"
        log("%-5s %-28s %s (%.0f s) %s" % (k, release, summary, secs, "ok" if not errs else "FAILED"))
        if errs:
            failed.append(k)
            for e in errs:
                log("  " + e)
            for name in ("stderr.txt", "guest.log", "console.log"):
                text = read(os.path.join(out, name))
                if text:
                    log("  --- %s (last 40 lines)" % name)
                    print("\n".join(text.splitlines()[-40:]), flush=True)
        if a.keep or errs:
            log("  guest output kept in " + out)
        else:
            shutil.rmtree(out, ignore_errors=True)
    if failed:
        raise SystemExit("test-kernels: FAILED on " + " ".join(failed))
    log("all %d kernels passed" % len(a.kernels))


if __name__ == "__main__":
    main()
