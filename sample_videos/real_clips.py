"""Real footage for counting, fetched from registry packages (never committed) with truth annotated by hand.

``real_clips.json`` lists each clip's package, checksums, entry lines and every crossing (frame and
direction). :func:`fetch_clip` downloads the package from Debian's archive (``apt-get download`` with the
machine's sources; where that cannot, e.g. no package lists or a newer version in them, straight from the
archive's pool over HTTPS), checks it and the clip by sha256, and caches the clip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from importlib import resources
from pathlib import Path
from typing import Any

from storelens.atomic import download_dir, replacing
from storelens.errors import PrepareError
from storelens.models.prepare import cache_dir, failure_reason, https_download, verify_archive
from storelens.models.verify import sha256_file


def clips() -> list[dict[str, Any]]:
    """The annotated clips (``real_clips.json``)."""
    text = resources.files("storelens.sample_videos").joinpath("real_clips.json").read_text(encoding="utf-8")
    found: list[dict[str, Any]] = json.loads(text)["clips"]
    return found


def _apt_download(clip: dict[str, Any], cache: Path) -> Path:
    path = cache / clip["archive"]
    if not path.is_file():
        with download_dir(cache) as folder:  # a private folder: two processes may fetch it at once
            apt = shutil.which("apt-get")
            reason = "apt-get is not available"
            if apt is not None:
                proc = subprocess.run(
                    [apt, "download", f"{clip['package']}={clip['version']}"],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=600,
                )
                reason = failure_reason(proc)
            if not (folder / clip["archive"]).is_file():
                _from_pool(clip, folder / clip["archive"], reason)
            (folder / clip["archive"]).replace(path)
    return verify_archive(path, clip["archive_sha256"])


def _from_pool(clip: dict[str, Any], out: Path, reason: str) -> None:
    """The package straight from the archive's pool (``archive_url``, https only)."""
    url = str(clip["archive_url"])
    if not url.startswith("https://"):
        raise PrepareError(f"{clip['name']}: archive_url must be an https:// address")
    https_download(url, out, f"cannot fetch {clip['package']} from Debian's archive ({reason}; {url})")


def fetch_clip(name: str, cache: Path | None = None) -> Path:
    """The clip called ``name``, cached and checked by sha256.

    Raises:
        PrepareError: unknown clip, the archive cannot be fetched, or a checksum differs.
    """
    by_name = {c["name"]: c for c in clips()}
    if name not in by_name:
        raise PrepareError(f"unknown clip {name!r}: known are {', '.join(sorted(by_name))}")
    clip = by_name[name]
    cache = cache or cache_dir()
    out = cache / "clips" / Path(clip["member"]).name
    if out.is_file() and sha256_file(out) == clip["member_sha256"]:
        return out
    deb = _apt_download(clip, cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A .deb holds its files in a tar stream that dpkg-deb unpacks; tarfile reads the stream.
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        if proc.stdout is None:
            raise PrepareError(f"{deb}: dpkg-deb gave no output")
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for member in tar:
                if member.name == clip["member"]:
                    src = tar.extractfile(member)
                    if src is None:
                        break
                    with replacing(out) as part:
                        part.write_bytes(src.read())
                    break
    if not out.is_file():
        raise PrepareError(f"{deb}: has no {clip['member']}")
    if sha256_file(out) != clip["member_sha256"]:
        out.unlink()
        raise PrepareError(f"{out}: checksum differs from real_clips.json")
    return out
