"""The gallery's must-show sequence on registry photos, through the Python API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from storelens.gallery.enrol import enroll_photos
from storelens.gallery.factory import open_gallery
from storelens.images import load_image
from storelens.stage_messages import Frame
from tests.helpers.cli import run_cli
from tests.helpers.configs import consent, member


def identify(gallery, face_models, photo: Path) -> list[str | None]:
    frame = Frame(load_image(photo))
    faces = face_models.detector.detect(frame)
    return list(gallery.match(face_models.embedder.embed(frame, faces)).member_ids)


def test_enrol_identify_remove_reopen(gallery, enroller, face_models, photos, config, tmp_path) -> None:
    enroll_photos(gallery, enroller, member("obama", "Barack Obama"), consent(), [photos["obama.jpg"]])
    assert identify(gallery, face_models, photos["obama2.jpg"]) == ["obama"]
    assert identify(gallery, face_models, photos["obama3.jpg"]) == ["obama"]
    assert identify(gallery, face_models, photos["biden.jpg"]) == [None]

    enroll_photos(gallery, enroller, member("biden", "Joe Biden"), consent("CF-2"), [photos["biden.jpg"]])
    answers = {n: identify(gallery, face_models, photos[n]) for n in ("obama2.jpg", "obama3.jpg", "biden.jpg")}
    assert answers == {"obama2.jpg": ["obama"], "obama3.jpg": ["obama"], "biden.jpg": ["biden"]}

    receipt = gallery.remove("obama")
    assert (receipt.member_id, receipt.removed_vectors, receipt.removed_metadata) == ("obama", 1, True)
    assert identify(gallery, face_models, photos["obama2.jpg"]) == [None]
    assert identify(gallery, face_models, photos["biden.jpg"]) == ["biden"]
    before = {n: identify(gallery, face_models, photos[n]) for n in ("obama2.jpg", "obama3.jpg", "biden.jpg")}
    sims_before = gallery.match(
        face_models.embedder.embed(
            Frame(load_image(photos["biden.jpg"])), face_models.detector.detect(Frame(load_image(photos["biden.jpg"])))
        )
    ).similarities
    gallery.close()

    reopened = open_gallery(config, face_models.recogniser_spec, gallery.directory)
    after = {n: identify(reopened, face_models, photos[n]) for n in ("obama2.jpg", "obama3.jpg", "biden.jpg")}
    assert after == before
    frame = Frame(load_image(photos["biden.jpg"]))
    sims_after = reopened.match(face_models.embedder.embed(frame, face_models.detector.detect(frame))).similarities
    assert sims_after.tolist() == sims_before.tolist()
    assert [m.member_id for m in reopened.members()] == ["biden"]
    reopened.close()


def test_solvay_group_photo_has_no_members(gallery, enroller, face_models, photos) -> None:
    enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"]])
    enroll_photos(gallery, enroller, member("biden"), consent("CF-2"), [photos["biden.jpg"]])
    found = identify(gallery, face_models, photos["solvay_conference_1927.jpg"])
    assert len(found) == 29
    assert found == [None] * 29


def test_cli_sequence(photos, prepared_models_dir: Path, tmp_path: Path) -> None:
    g = str(tmp_path / "g")
    common = ["--gallery", g, "--models-dir", str(prepared_models_dir)]

    def ident(*names: str) -> dict[str, list[str | None]]:
        proc = run_cli("gallery", "identify", "--json", *common, *(str(photos[n]) for n in names))
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        for r in rows:
            for f in r["faces"]:
                assert set(f) == {"bbox", "det_score", "quality", "member_id", "similarity"} and len(f["bbox"]) == 4
        return {Path(r["photo"]).name: [f["member_id"] for f in r["faces"]] for r in rows}

    enrol = run_cli(
        "gallery",
        "enroll",
        *common,
        "--member-id",
        "M-obama",
        "--consent",
        "CF-9",
        "--name",
        "Barack Obama",
        str(photos["obama.jpg"]),
    )
    assert enrol.returncode == 0, enrol.stderr
    assert ident("obama2.jpg", "obama3.jpg", "biden.jpg") == {
        "obama2.jpg": ["M-obama"],
        "obama3.jpg": ["M-obama"],
        "biden.jpg": [None],
    }
    listing = run_cli("gallery", "list", "--json", *common)
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [(r["member_id"], r["name"], r["consent_reference"]) for r in rows] == [("M-obama", "Barack Obama", "CF-9")]
    removed = run_cli("gallery", "remove", "--json", *common, "--member-id", "M-obama")
    assert removed.returncode == 0, removed.stderr
    receipt = json.loads(removed.stdout)
    assert receipt["member_id"] == "M-obama" and receipt["removed_vectors"] == 1 and receipt["at"].endswith("Z")
    assert ident("obama2.jpg") == {"obama2.jpg": [None]}
    again = run_cli("gallery", "remove", *common, "--member-id", "M-obama")
    assert again.returncode == 2 and "not enrolled" in again.stderr
    assert "M-obama" not in run_cli("gallery", "list", *common).stdout


def test_strangers_in_every_group_photo_are_never_named(gallery, enroller, face_models, photos, group_photos) -> None:
    """Seven members enrolled from one photo each; 57 strangers' faces (Solvay 29, t1 6, face-api 22) name no one,
    and the members' other photos, years apart, name the right member or no one."""
    enrolled = {
        "obama": "obama.jpg",
        "biden": "biden.jpg",
        "macron": "person_a_1.jpg",
        "ardern": "person_b_1.jpg",
        "sunak": "impostor_2.jpg",
        "gauss": "gauss.png",
        "newton": "newton.png",
    }
    for i, (who, photo) in enumerate(enrolled.items()):
        enroll_photos(gallery, enroller, member(who), consent(f"CF-{i}"), [photos[photo]])
    strangers = [photos["solvay_conference_1927.jpg"], photos["t1.jpg"], *group_photos.values()]
    named = [identify(gallery, face_models, p) for p in strangers]
    assert sum(len(n) for n in named) == 57
    assert all(m is None for n in named for m in n)
    again = {
        n: identify(gallery, face_models, photos[n])
        for n in ("person_a_2.jpg", "person_b_2.jpg", "impostor_1.jpg", "obama3.jpg")
    }
    # Macron in 2014 against 2025 is the weakest genuine pair of the registry photos (0.611, under 0.62): missed,
    # never named as someone else. The edge's tracks make several attempts, each with its own chance.
    assert again == {
        "person_a_2.jpg": [None],
        "person_b_2.jpg": ["ardern"],
        "impostor_1.jpg": ["obama"],
        "obama3.jpg": ["obama"],
    }
