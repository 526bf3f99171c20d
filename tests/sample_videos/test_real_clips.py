"""Counting on real footage against truth annotated by hand (sample_videos/real_clips.json).

Entries and exits must be exact where fewer than 20 people cross, and within 5 % otherwise; each
annotated crossing must be matched by a counted one in the same direction within a second.
"""

from __future__ import annotations

import pytest

from storelens.bench.counting import count_clip, matched
from storelens.sample_videos.real_clips import clips, fetch_clip

LINES = [(c, line) for c in clips() for line in c["lines"]]


@pytest.mark.parametrize(("clip", "line"), LINES, ids=[f"{c['name']}-{line['id']}" for c, line in LINES])
def test_people_counted_through_the_line_match_the_truth(clip, line, face_models, person_detector) -> None:
    video = fetch_clip(clip["name"])
    counted = count_clip(video, clip, line, face_models, person_detector)
    truth = line["crossings"]
    want_in = sum(c["direction"] == "in" for c in truth)
    want_out = len(truth) - want_in
    if line["people"] < 20:
        assert (counted.entries, counted.exits) == (want_in, want_out), counted.crossings
    else:
        assert abs(counted.entries - want_in) <= 0.05 * want_in and abs(counted.exits - want_out) <= 0.05 * want_out
    assert matched(counted.crossings, truth, clip["fps"]) == len(truth), counted.crossings  # each in its second
    assert counted.face_detections == 0  # a count-only camera looks for no face


def test_an_unknown_clip_is_refused_in_one_line() -> None:
    from storelens.errors import PrepareError

    with pytest.raises(PrepareError, match="unknown clip 'nope'"):
        fetch_clip("nope")


def test_without_apt_the_package_comes_from_the_archive_s_pool(tmp_path, monkeypatch) -> None:
    """No apt-get (or no package lists): the .deb straight from Debian's pool over HTTPS, checked by sha256."""
    from storelens.errors import PrepareError
    from storelens.sample_videos import real_clips

    hello = {"name": "hello", "package": "hello", "version": "2.10-3", "archive": "hello_2.10-3_amd64.deb",
             "archive_url": "https://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb",
             "archive_sha256": "2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a"}  # fmt: skip
    monkeypatch.setattr(real_clips.shutil, "which", lambda name: None)
    got = real_clips._apt_download(hello, tmp_path)
    assert got.read_bytes()[:8] == b"!<arch>\n"  # a Debian package
    with pytest.raises(PrepareError, match="must be an https:// address"):
        real_clips._apt_download(hello | {"archive_url": "http://deb.debian.org/x.deb"}, tmp_path / "again")
