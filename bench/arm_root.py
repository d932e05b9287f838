"""The arm64 side of bench/arm_check.py: the tools (qemu-aarch64-static, debootstrap), the
cached Debian arm64 root, the aarch64 wheels and the project's wheel under .cache/arm64, and the
commands that run the root's Python under emulation with a fake /proc/cpuinfo (see arm_check's
docstring for why). Standard library only: the emulated worker imports this module too."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "arm64"
HERE = Path(__file__).resolve().parent
SUITE = "bookworm"
PY = "python3.11"
PLATFORMS = ["manylinux_2_35_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"]
BACKEND_EXTRAS = ("onnxruntime", "openvino")
# executable -> the Debian package that provides it
TOOLS = {"qemu-aarch64-static": "qemu-user-static", "debootstrap": "debootstrap"}
# name -> (qemu -cpu model, fake /proc/cpuinfo, board, core describe() must name, features it must list)
CPUS = {
    "a72": ("cortex-a72", HERE / "arm" / "cpuinfo-a72.txt", "Raspberry Pi 4", "Cortex-A72", ["NEON"]),
    "a76": (
        "cortex-a76",
        HERE / "arm" / "cpuinfo-a76.txt",
        "Raspberry Pi 5",
        "Cortex-A76",
        ["NEON", "dotprod", "fp16"],
    ),
}
CHECKED_FEATURES = ("NEON", "dotprod", "i8mm", "fp16")
PROJECT_SOURCES = ("pyproject.toml", "README.md", "runtime", "export", "quantize", "profiles")


def log(msg: str) -> None:
    print(f"arm-check: {msg}", flush=True)


class CheckError(RuntimeError):
    """A setup step that cannot go on (missing tool, failed download, broken root)."""


# --------------------------------------------------------------------------------------------
# Host tools


def missing_packages() -> list[str]:
    """Debian packages whose tools this check needs and that are not installed."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return sorted({pkg for exe, pkg in TOOLS.items() if shutil.which(exe, path=path) is None})


def install_command(packages: list[str]) -> str:
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y {' '.join(packages)}"


def ensure_tools(install: bool = True) -> None:
    """Install qemu-user-static and debootstrap with apt-get when they are missing."""
    missing = missing_packages()
    if not missing:
        return
    cmd = install_command(missing)
    if not install:
        raise CheckError(f"the ARM64 check needs the Debian packages {' '.join(missing)}; run: {cmd}")
    log(f"installing the Debian packages {' '.join(missing)} (aarch64 emulation and root building): {cmd}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    ok = subprocess.run([*sudo, "apt-get", "update", "-qq"], env=env).returncode == 0
    ok = ok and subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], env=env).returncode == 0
    if not ok or missing_packages():
        raise CheckError(f"could not install {' '.join(missing)}; run: {cmd}")


def tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if not found:
        raise CheckError(f"{name} not found; run: {install_command([TOOLS.get(name, name)])}")
    return found


def apt_mirror() -> str:
    """The Debian mirror apt is configured with for bookworm (one-line .list or deb822 .sources)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line and not line.startswith("#") and ":" in line:
                        k, _, v = line.partition(":")
                        fields[k.strip().lower()] = v.split()
                if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) and fields.get("uris"):
                    return fields["uris"][0]
        else:
            for line in text.splitlines():
                parts = [p for p in line.split() if not p.startswith("[")] if not line.startswith("#") else []
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                    return parts[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def cache_lock(cache: Path):
    """One ARM check at a time per cache (they share the root and the site folder)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another ARM check that holds {cache / '.lock'}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------------------------
# The arm64 root


def ensure_root(cache: Path, mirror: str | None = None) -> Path:
    """A bookworm arm64 root with Python 3.11, built once (debootstrap --foreign + dpkg -x)."""
    root = cache / "root"
    if (root / ".edgeasr-root-ok").is_file():
        return root
    mirror = mirror or apt_mirror()
    part = cache / "root.partial"
    shutil.rmtree(part, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    log(f"building a Debian {SUITE} arm64 root in {root} from {mirror} (once; about a minute)")
    cmd = [
        tool("debootstrap"),
        "--foreign",
        "--arch=arm64",
        "--variant=minbase",
        "--include=python3,python3-venv",
        SUITE,
        str(part),
        mirror,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise CheckError(f"debootstrap failed ({res.returncode}):\n{(res.stdout + res.stderr)[-3000:]}")
    debs = sorted((part / "var/cache/apt/archives").glob("*.deb"))
    if not any(d.name.startswith("python3.11-minimal_") for d in debs):
        raise CheckError(f"debootstrap downloaded no python3.11 package into {part}/var/cache/apt/archives")
    dpkg = tool("dpkg")
    for deb in debs:
        res = subprocess.run([dpkg, "-x", str(deb), str(part)], capture_output=True, text=True)
        if res.returncode != 0:
            raise CheckError(f"dpkg -x {deb.name} failed: {res.stderr.strip()}")
        deb.unlink()
    part.rename(root)
    out = run_emulated(root, None, ["-c", "import sys, platform; print(platform.machine(), sys.version.split()[0])"])
    if out.returncode != 0 or "aarch64" not in out.stdout:
        raise CheckError(f"the arm64 root does not run Python:\n{out.stdout}{out.stderr}")
    (root / ".edgeasr-root-ok").write_text(out.stdout)
    log(f"arm64 root ready: Python {out.stdout.split()[1]} ({len(debs)} packages, {time.perf_counter() - t:.0f} s)")
    return root


# --------------------------------------------------------------------------------------------
# aarch64 wheels


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The runtime's dependencies as pinned in pyproject.toml, plus both backends' pins."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in BACKEND_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return reqs


def _pip() -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _platform_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args


def ensure_site(cache: Path) -> Path:
    """aarch64 wheels of the runtime's dependencies, downloaded once, installed into site/."""
    site = cache / "site"
    reqs = requirements()
    stamp = "\n".join(reqs) + "\n"
    if (site / ".edgeasr-reqs").is_file() and (site / ".edgeasr-reqs").read_text() == stamp:
        return site
    wheels = cache / "wheels"
    t = time.perf_counter()
    log(f"downloading aarch64 wheels into {wheels}: {' '.join(reqs)}")
    res = subprocess.run([*_pip(), "download", "-q", "--dest", str(wheels), *_platform_args(), *reqs])
    if res.returncode != 0:
        raise CheckError("pip download of the aarch64 wheels failed (see above)")
    part = cache / "site.partial"
    shutil.rmtree(part, ignore_errors=True)
    cmd = [*_pip(), "install", "-q", "--no-index", "--find-links", str(wheels), "--target", str(part)]
    res = subprocess.run([*cmd, *_platform_args(), *reqs])
    if res.returncode != 0:
        raise CheckError("pip install --target of the aarch64 wheels failed (see above)")
    shutil.rmtree(site, ignore_errors=True)
    part.rename(site)
    (site / ".edgeasr-reqs").write_text(stamp)
    log(f"aarch64 site ready in {site} ({time.perf_counter() - t:.0f} s)")
    return site


def _source_hash() -> str:
    h = hashlib.sha256()
    for name in PROJECT_SOURCES:
        p = REPO / name
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        for f in files:
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_project(cache: Path, site: Path) -> str:
    """The project's pure-Python wheel (`pip wheel --no-deps`), built from a copy of its sources
    (the working tree gets no build/ folder) and installed into site/ when the sources changed."""
    digest = _source_hash()
    stamp = site / ".edgeasr-project"
    if stamp.is_file() and stamp.read_text() == digest:
        return digest
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgeasr-wheel-") as tmp:
        src = Path(tmp) / "src"
        for name in PROJECT_SOURCES:
            p = REPO / name
            if p.is_file():
                src.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, src / name)
            else:
                shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(tmp) / "dist"
        try:
            import setuptools  # noqa: F401

            isolation = ["--no-build-isolation"]  # the venv's setuptools: no download
        except ImportError:
            isolation = []
        cmd = [*_pip(), "wheel", "-q", "--no-deps", *isolation, "-w", str(out), str(src)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        built = sorted(out.glob("edgeasr-*.whl"))
        if res.returncode != 0 or not built:
            raise CheckError(f"pip wheel --no-deps . failed:\n{(res.stdout + res.stderr)[-3000:]}")
        if not built[0].name.endswith("-py3-none-any.whl"):
            raise CheckError(f"the project wheel is not pure Python: {built[0].name}")
        wheels = cache / "wheels" / "project"
        wheels.mkdir(parents=True, exist_ok=True)
        for old in wheels.glob("edgeasr-*.whl"):
            old.unlink()
        wheel = Path(shutil.copy2(built[0], wheels / built[0].name))
    cmd = [*_pip(), "install", "-q", "--no-deps", "--no-index", "--upgrade", "--target", str(site), str(wheel)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise CheckError(f"installing {wheel.name} into {site} failed:\n{res.stdout}{res.stderr}")
    stamp.write_text(digest)
    log(f"installed {wheel.name} into {site}")
    return digest


def prepare(cache: Path = CACHE, install_tools: bool = True, mirror: str | None = None) -> tuple[Path, Path]:
    """Everything the emulated runs need; returns (root, site). Call with the cache lock held."""
    ensure_tools(install_tools)
    root = ensure_root(cache, mirror)
    site = ensure_site(cache)
    ensure_project(cache, site)
    return root, site


# --------------------------------------------------------------------------------------------
# Running Python: emulated aarch64 or native


def emulated_command(root: Path, cpu: str | None, args: list[str]) -> list[str]:
    """`unshare -m` + a fake /proc/cpuinfo bind-mounted + qemu-aarch64-static running the root's
    Python 3.11 with `args`; cpu None runs qemu's default core with the host's /proc/cpuinfo."""
    qemu = [tool("qemu-aarch64-static")]
    if cpu is None:
        return [*qemu, "-L", str(root), str(root / "usr/bin" / PY), *args]
    model, fake = CPUS[cpu][0], CPUS[cpu][1]
    qemu += ["-cpu", model, "-L", str(root), str(root / "usr/bin" / PY), *args]
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    script = 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"'
    return [*unshare, "sh", "-c", script, "sh", str(fake), *qemu]


def run_emulated(
    root: Path, cpu: str | None, args: list[str], site: Path | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QEMU_"))}
    env["PYTHONNOUSERSITE"] = "1"
    # OpenVINO's compiled-model cache keys on the graph's path: the emulated CPU gets its own
    # folder (beside the arm64 root) so x86 and ARM compilations of one artifact never meet
    env["EDGEASR_OV_CACHE"] = str(root.parent / "ov-cache" / (cpu or "default"))
    from edgeasr.runtime.model import ARM_OVERRIDE

    env[ARM_OVERRIDE] = "1"  # run what the runtime refuses on ARM: is it still wrong?
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run(
        emulated_command(root, cpu, args), env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def run_native(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
