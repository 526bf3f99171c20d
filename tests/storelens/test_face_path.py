"""The one face path: the subject of a photo, one embedding whatever the entry point, a dark photo everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.config import Config
from storelens.face_path import FacePath, SubjectRule, choose_subject, face_path, subject_rule
from storelens.images import load_image
from storelens.stage_messages import Detections, Embeddings, Frame, Matches
from tests.helpers.cli import run_cli
from tests.helpers.configs import consent

RULE = SubjectRule(2.0, 0.5)
SIZE = (640, 480)


def _faces(*boxes: tuple[float, float, float, float]) -> Detections:
    n = len(boxes)
    arr = np.array(boxes, np.float32).reshape(n, 4)
    return Detections(arr, np.full(n, 0.9, np.float32), np.zeros((n, 5, 2), np.float32))


@pytest.mark.parametrize(
    ("faces", "subject"),
    [(_faces(), None),
     (_faces((270, 190, 370, 290)), 0),
     (_faces((20, 20, 60, 60), (250, 150, 390, 290)), 1),  # the member fills the middle, a face far behind
     (_faces((100, 150, 200, 250), (440, 150, 540, 250)), None),  # two of a size: nobody dominates
     (_faces((270, 190, 370, 290), (0, 0, 150, 150)), None),  # a larger face in the corner loses its claim
     (_faces((260, 180, 380, 300), (0, 0, 100, 100)), 0)],  # ... and is outweighed by a centred, larger face
    ids=["none", "one", "small-behind", "two-alike", "large-corner", "centred-wins"],
)  # fmt: skip
def test_the_subject_is_the_face_that_dominates(faces: Detections, subject: int | None) -> None:
    assert choose_subject(faces, SIZE, RULE) == subject


@pytest.mark.parametrize(("dominance", "centre"), [(0.9, 0.5), (2.0, 1.0), (2.0, -0.1)])
def test_the_subject_rule_is_bounded(dominance: float, centre: float) -> None:
    with pytest.raises(ValueError, match="SubjectRule"):
        SubjectRule(dominance, centre)


def _config(tmp_path: Path, models: Path) -> Config:
    return Config.model_validate(
        {
            "store": {"id": "s1"},
            "cameras": [{"id": "entrance", "source": "x", "analysis_fps": 5}],
            "models": {"dir": str(models)},
            "gallery": {"dir": str(tmp_path / "gallery"), "refresh_seconds": 0},
        }
    )


def _subject_vector(path: FacePath, photo: Path, config: Config) -> np.ndarray:
    found = path.find(Frame(load_image(photo)))
    row = choose_subject(found.faces, found.frame.size, subject_rule(config.enrolment))
    assert row is not None
    return path.embed(found.frame, found.faces.select(np.array([row]))).vectors[0]


class _Spy:
    """A real gallery whose ``match`` also keeps what it was asked (the edge embeds inside the pipeline)."""

    def __init__(self, gallery) -> None:
        self.inner, self.asked = gallery, []

    def match(self, embeddings: Embeddings) -> Matches:
        self.asked.append(embeddings.vectors.copy())
        return self.inner.match(embeddings)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def _edge_vectors(config: Config, face_models, gallery, image: np.ndarray, frames: int) -> tuple[list, list]:
    """What the edge pipeline embedded and the arrivals it published for ``frames`` frames of one still image."""
    from storelens.apps.edge import build_pipeline
    from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
    from storelens.edge_events import ArrivalEvent

    spy = _Spy(gallery)
    pipeline = build_pipeline(config, config.cameras[0], face_models, spy, ArrivalCooldown(30),
                              AnonymousRegistry(12, 10, 0.9))  # fmt: skip
    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    events = []
    for i in range(frames):
        events += pipeline.process(Frame(image, "entrance", i, t0 + timedelta(seconds=i * 0.2)))
    return spy.asked, [e for e in events if isinstance(e, ArrivalEvent)]


def test_one_photo_gives_one_embedding_and_verdict_through_every_entry_point(
    face_models, photos, prepared_models_dir, tmp_path
) -> None:
    from storelens.api.books import StoreBooks
    from storelens.apps.api import build_services
    from storelens.gallery.enrol import Enroller
    from storelens.gallery.factory import open_gallery

    config = _config(tmp_path, prepared_models_dir)
    path = face_path(face_models, config.detection)
    photo = photos["obama2.jpg"]
    reference = _subject_vector(path, photo, config)
    # the enrolment checks (library), and the API's enrolment (as the API process wires it)
    enroller = Enroller(path, config.enrolment, config.privacy_rules())
    assert np.abs(enroller.vector(photo).vector - reference).max() < 1e-5
    services = build_services(config, StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}"))
    services.enrol("M-api", consent(), [photo])
    assert services.check_photo(photo).problem is None
    services.close()
    # the CLI's enrolment, into a gallery of its own (the same face twice in one gallery is a look-alike)
    common = ("--gallery", str(tmp_path / "cli-gallery"), "--models-dir", str(prepared_models_dir))
    enrolled = run_cli("gallery", "enroll", *common, "--member-id", "M-cli", "--consent", "CF-1", str(photo))
    assert enrolled.returncode == 0, enrolled.stderr
    for member, where in (("M-api", tmp_path / "gallery"), ("M-cli", tmp_path / "cli-gallery")):
        held = open_gallery(config, face_models.recogniser_spec, where)
        _, vectors, _ = held.templates.member_vectors(member)
        held.close()
        assert np.abs(vectors[0] - reference).max() < 1e-5, member
    # gallery identify: the very vector enrolled (similarity 1 to four places), named
    ident = run_cli("gallery", "identify", "--json", *common, str(photo))
    face = json.loads(ident.stdout)["faces"][0]
    assert face["similarity"] == pytest.approx(1.0, abs=1e-4) and face["member_id"] == "M-cli"
    # faces compare: the pair's similarity is the reference vectors' own
    other = _subject_vector(path, photos["obama.jpg"], config)
    compared = run_cli("faces", "compare", "--json", "--models-dir", str(prepared_models_dir), str(photo),
                       str(photos["obama.jpg"]))  # fmt: skip
    assert json.loads(compared.stdout)["similarity"] == pytest.approx(float(reference @ other), abs=1e-4)
    # the edge: the vector its pipeline embedded for the same pixels, and its verdict
    gallery = open_gallery(config, face_models.recogniser_spec)
    asked, arrivals = _edge_vectors(config, face_models, gallery, load_image(photo), 10)
    assert asked and np.abs(asked[0][0] - reference).max() < 1e-5
    assert [a.member_id for a in arrivals] == ["M-api"]
    gallery.close()


def test_a_dark_photo_the_edge_recognises_is_recognised_by_the_commands_too(
    face_models, photos, prepared_models_dir, tmp_path
) -> None:
    from storelens.gallery.enrol import Enroller, enroll_photos
    from storelens.gallery.factory import open_gallery
    from storelens.gallery.records import MemberInfo

    config = _config(tmp_path, prepared_models_dir)
    path = face_path(face_models, config.detection)
    gallery = open_gallery(config, face_models.recogniser_spec)
    enroller = Enroller(path, config.enrolment, config.privacy_rules())
    enroll_photos(gallery, enroller, MemberInfo(member_id="M-obama"), consent(), [photos["obama.jpg"]])
    dark = np.clip(load_image(photos["obama2.jpg"]).astype(np.float32) * 0.12, 0, 255).astype(np.uint8)
    assert float(dark.mean()) < config.detection.lift_dark_below
    dark_photo = tmp_path / "dark.png"
    cv2.imwrite(str(dark_photo), dark)
    _, arrivals = _edge_vectors(config, face_models, gallery, dark, 10)
    assert [a.member_id for a in arrivals] == ["M-obama"]
    gallery.close()
    common = ("--gallery", str(tmp_path / "gallery"), "--models-dir", str(prepared_models_dir))
    ident = run_cli("gallery", "identify", "--json", *common, str(dark_photo))
    assert [f["member_id"] for f in json.loads(ident.stdout)["faces"]] == ["M-obama"], ident.stdout
    compared = run_cli("faces", "compare", "--json", "--models-dir", str(prepared_models_dir), str(dark_photo),
                       str(photos["obama.jpg"]))  # fmt: skip
    assert json.loads(compared.stdout)["same_person"] is True, compared.stdout
