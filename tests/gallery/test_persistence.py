"""Durability, erasure without trace, live refresh, retention, index kinds."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from storelens.clock import utc_now
from storelens.errors import GalleryError
from storelens.gallery.enrol import enroll_photos
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import NewVector
from storelens.stage_messages import Embeddings, Matches
from tests.helpers.cli import run_cli
from tests.helpers.configs import consent, make_config, member


def test_erasure_leaves_no_trace_on_disk(gallery, enroller, photos) -> None:
    enroll_photos(
        gallery,
        enroller,
        member("M-4711", "Barack Obama"),
        consent("CONSENT-XYZ-42"),
        [photos["obama.jpg"], photos["obama3.jpg"]],
    )
    enroll_photos(gallery, enroller, member("M-0001", "Joe Biden"), consent("CF-B"), [photos["biden.jpg"]])
    _, vecs, _ = gallery.templates.member_vectors("M-4711")
    receipt = gallery.remove("M-4711")
    assert (receipt.removed_vectors, receipt.removed_consents) == (2, 1)
    blobs = b"".join(p.read_bytes() for p in gallery.directory.rglob("*") if p.is_file())
    for secret in (b"M-4711", b"Barack Obama", b"CONSENT-XYZ-42", vecs[0].tobytes()[:64], vecs[1].tobytes()[:64]):
        assert secret not in blobs, secret
    assert b"Joe Biden" in blobs  # the other member is untouched
    assert [m.member_id for m in gallery.members()] == ["M-0001"]
    with pytest.raises(GalleryError, match="not enrolled"):
        gallery.remove("M-4711")


def test_a_running_reader_sees_changes_without_restart(gallery, face_models, photos, config, prepared_models_dir):
    reader = open_gallery(config, face_models.recogniser_spec, gallery.directory)
    from storelens.images import load_image
    from storelens.stage_messages import Frame

    frame = Frame(load_image(photos["obama2.jpg"]))
    emb = face_models.embedder.embed(frame, face_models.detector.detect(frame))
    assert reader.match(emb).member_ids == (None,)
    proc = run_cli(
        "gallery",
        "enroll",
        "--gallery",
        str(gallery.directory),
        "--models-dir",
        str(prepared_models_dir),
        "--member-id",
        "obama",
        "--consent",
        "CF",
        str(photos["obama.jpg"]),
    )
    assert proc.returncode == 0, proc.stderr
    assert reader.match(emb).member_ids == ("obama",)  # another process enrolled; no reopen
    proc = run_cli("gallery", "remove", "--gallery", str(gallery.directory), "--member-id", "obama")
    assert proc.returncode == 0, proc.stderr
    assert reader.match(emb).member_ids == (None,)
    reader.close()


@pytest.mark.parametrize("damage", ["stale", "deleted", "truncated", "garbage"])
def test_damaged_or_stale_index_is_rebuilt(gallery, enroller, face_models, photos, config, damage) -> None:
    enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"]])
    index_file = gallery.directory / "index.faiss"
    old = index_file.read_bytes()
    enroll_photos(gallery, enroller, member("biden"), consent(), [photos["biden.jpg"]])
    probe = Embeddings(np.stack([gallery.templates.member_vectors(m)[1][0] for m in ("obama", "biden")]), gallery.model)
    expected = gallery.match(probe)
    gallery.close()
    if damage == "stale":  # a crash between the database commit and the index rename
        index_file.write_bytes(old)
    elif damage == "deleted":
        index_file.unlink()
    elif damage == "truncated":
        index_file.write_bytes(index_file.read_bytes()[:100])
    else:
        index_file.write_bytes(b"\0" * 1000)
    reopened = open_gallery(config, face_models.recogniser_spec, gallery.directory)
    got = reopened.match(probe)
    assert got.member_ids == expected.member_ids == ("obama", "biden")
    assert np.allclose(got.similarities, expected.similarities)
    reopened.close()


def test_other_model_is_refused(gallery, face_models, config) -> None:
    from storelens.gallery.gallery import Gallery, MatchPolicy

    name = face_models.recogniser_spec.name
    with pytest.raises(GalleryError, match=rf"enrolled with {name} .*configured recogniser is buffalo_l.*enrol the"):
        Gallery(gallery.directory, "buffalo_l/w600k_r50", 512, MatchPolicy(0.4, 0.05), config.gallery)


def test_retention_purges_members_not_seen(gallery, enroller, photos) -> None:
    enroll_photos(gallery, enroller, member("old"), consent(), [photos["obama.jpg"]])
    enroll_photos(gallery, enroller, member("recent"), consent(), [photos["biden.jpg"]])
    now = utc_now()
    gallery.touch("old", now - timedelta(days=1200))
    gallery.touch("recent", now - timedelta(days=3))
    gallery.templates.db.execute("UPDATE members SET enrolled_at = '2020-01-01T00:00:00.000Z'")
    receipts = gallery.purge_expired(1095, now=now)
    assert [(r.member_id, r.reason) for r in receipts] == [("old", "retention: not seen for 1095 days")]
    assert [m.member_id for m in gallery.members()] == ["recent"]


def _synthetic(n_members: int, per: int, dim: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_members, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = centres[:, None, :] + 0.015 * rng.standard_normal((n_members, per, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=2, keepdims=True)
    return centres, vecs


@pytest.mark.parametrize("setting", ["ivf", "auto"])
def test_large_gallery_uses_ivf_and_still_erases(face_models, tmp_path, setting) -> None:
    # near_duplicate above the synthetic vectors' spread (cosine ~0.97 within a member), so all 4 are kept
    cfg = make_config(index=setting, ivf_min_vectors=1000, refresh_seconds=0, near_duplicate=0.999)
    g = open_gallery(cfg, face_models.recogniser_spec, tmp_path / "big")
    centres, vecs = _synthetic(300, 4, 128)
    for i in range(300):
        news = [NewVector(v, f"sha-{i}-{j}", tmp_path / f"{i}-{j}.jpg") for j, v in enumerate(vecs[i])]
        g.enroll(member(f"m{i:03d}"), consent(), news)
    assert g.index.kind == "ivf" and len(g) == 1200
    rng = np.random.default_rng(7)
    probes = centres + 0.02 * rng.standard_normal(centres.shape).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    got = g.match(Embeddings(probes.astype(np.float32), g.model))
    assert sum(m == f"m{i:03d}" for i, m in enumerate(got.member_ids)) >= 297
    g.remove("m005")
    after = g.match(Embeddings(probes[5:6].astype(np.float32), g.model))
    assert after.best_ids[0] != "m005" and after.member_ids == (None,)
    g.close()
    reopened = open_gallery(cfg, face_models.recogniser_spec, tmp_path / "big")
    again = reopened.match(Embeddings(probes.astype(np.float32), g.model))
    assert again.member_ids[:5] == got.member_ids[:5] and again.member_ids[5] is None
    assert reopened.index.kind == "ivf"
    reopened.close()


def test_margin_rule_refuses_ambiguous_faces(face_models, tmp_path) -> None:
    from storelens.gallery.gallery import Gallery, MatchPolicy

    g = Gallery(tmp_path / "m", "dlib_resnet_v1", 128, MatchPolicy(0.9, 0.03), make_config().gallery)
    v = np.zeros(128, np.float32)
    v[0] = 1
    w = np.zeros(128, np.float32)
    w[:2] = [0.999, 0.0447]
    w /= np.linalg.norm(w)
    g.enroll(member("a"), consent(), [NewVector(v, "s1", tmp_path / "a.jpg")])
    g.enroll(member("b"), consent(), [NewVector(w, "s2", tmp_path / "b.jpg")])
    got = g.match(Embeddings(v[None], "dlib_resnet_v1"))
    assert got.best_ids == ("a",) and got.member_ids == (None,)  # b is within the margin
    g.close()


def test_matches_message_checks_columns() -> None:
    with pytest.raises(ValueError, match=r"Matches.similarities: expected shape \(2,\)"):
        Matches(("a", None), np.zeros(3, np.float32), np.zeros(2, np.float32), ("a", None))


def test_camera_threads_share_one_gallery(gallery, enroller, photos) -> None:
    """Each camera thread of an edge process records sightings on the same gallery at once."""
    import threading

    enroll_photos(gallery, enroller, member("M-1"), consent(), [photos["obama.jpg"]])
    errors: list[BaseException] = []

    def sightings() -> None:
        try:
            for _ in range(200):
                gallery.touch("M-1")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=sightings) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gallery.members()[0].last_seen_at is not None
