"""Threshold calibration on registry photos: distributions, curves, recommendation, config writing."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from storelens.calibration.threshold import Scores, embed_labelled, recommend, write_into_config
from storelens.config import default_config, load_config
from storelens.exposure import DarkFrameLift
from storelens.face_path import FacePath, subject_rule
from tests.helpers.cli import run_cli

CONFIG = """# store config
[store]
id = "paris-01"  # kept

[[cameras]]
id = "entrance"
source = "rtsp://10.0.0.5/s1"
"""

RULE = subject_rule(default_config().enrolment)


@pytest.mark.parametrize(
    ("models", "genuine_min", "separates"),
    [("face_models", 0.70, True),  # the default, SFace: every stranger below every same-person pair
     ("dlib_models", 0.95, False)],  # dlib: the 1927 faces reach into the genuine range
)  # fmt: skip
def test_scores_on_registry_photos(labelled: Path, request, models, genuine_min, separates) -> None:
    scores = embed_labelled(labelled, FacePath(request.getfixturevalue(models), DarkFrameLift(0)), RULE)
    assert scores.people == 31 and scores.photos == 33 and not scores.skipped
    assert len(scores.genuine) == 3 and len(scores.impostor) == 33 * 32 // 2 - 3
    assert scores.genuine.min() >= genuine_min  # obama against obama
    assert (scores.impostor.max() < scores.genuine.min() - 0.1) == separates


def test_unreachable_target_is_said_and_not_written(labelled: Path, prepared_models_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "store.toml"
    cfg.write_text(CONFIG)
    dlib = tmp_path / "dlib.toml"  # the earlier default recogniser, which cannot keep the 1927 faces out
    dlib.write_text(CONFIG + '\n[models]\npack = "scrfd_dlib"\n')
    proc = run_cli(
        "calibrate",
        "threshold",
        "--labelled",
        str(labelled),
        "--out",
        str(tmp_path / "out"),
        "--gallery-size",
        "1000",
        "--target",
        "0.001",
        "--models-dir",
        str(prepared_models_dir),
        "--config",
        str(dlib),
    )
    assert proc.returncode == 0, proc.stderr
    assert "TARGET NOT REACHABLE" in proc.stdout and "equal-error threshold" in proc.stdout
    refused = run_cli(
        "calibrate",
        "threshold",
        "--labelled",
        str(labelled),
        "--out",
        str(tmp_path / "out"),
        "--write-config",
        str(cfg),
        "--models-dir",
        str(prepared_models_dir),
        "--config",
        str(dlib),
    )
    assert refused.returncode == 2 and "not reachable" in refused.stderr
    assert cfg.read_text() == CONFIG
    data = json.loads((tmp_path / "out" / "threshold.json").read_text())
    assert data["recommendation"]["reachable"] is False
    assert len(data["curve"]["threshold"]) == len(data["curve"]["far"]) == len(data["curve"]["frr"])
    png = (tmp_path / "out" / "far_frr.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_reachable_target_is_written_into_the_config(
    small_labelled: Path, prepared_models_dir, face_models, tmp_path
) -> None:
    cfg = tmp_path / "store.toml"
    cfg.write_text(CONFIG)
    proc = run_cli(
        "calibrate",
        "threshold",
        "--json",
        "--labelled",
        str(small_labelled),
        "--out",
        str(tmp_path / "o"),
        "--gallery-size",
        "5",
        "--target",
        "0.05",
        "--write-config",
        str(cfg),
        "--models-dir",
        str(prepared_models_dir),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["reachable"] is True and result["frr"] == 0.0
    scores = embed_labelled(small_labelled, FacePath(face_models, DarkFrameLift(0)), RULE)
    assert scores.impostor.max() < result["threshold"] < scores.genuine.min()  # between strangers and members
    text = cfg.read_text()
    assert text.startswith("# store config") and 'id = "paris-01"  # kept' in text
    config = load_config(cfg)
    assert config.recognition.match_threshold == pytest.approx(result["threshold"], abs=1e-3)
    assert config.recognition.match_margin == pytest.approx(result["margin"], abs=1e-3)


def synthetic(genuine_mean: float, impostor_mean: float, n: int = 4000) -> Scores:
    rng = np.random.default_rng(3)
    return Scores(rng.normal(genuine_mean, 0.02, n), rng.normal(impostor_mean, 0.03, n), 100, 200, [])


@pytest.mark.parametrize(
    ("genuine", "impostor", "gallery", "target", "reachable"),
    [(0.96, 0.75, 10, 0.01, True), (0.96, 0.75, 1000, 0.001, True), (0.96, 0.75, 100_000, 0.001, True),
     (0.86, 0.80, 1000, 0.001, False)],
)  # fmt: skip
def test_recommend_on_synthetic_distributions(
    genuine: float, impostor: float, gallery: int, target: float, reachable: bool
) -> None:
    scores = synthetic(genuine, impostor)
    rec = recommend(scores, gallery, target)
    assert rec.reachable is reachable
    assert rec.far_target == pytest.approx(target / gallery)
    if reachable:
        assert rec.far_at_threshold <= rec.far_target
        assert rec.false_announcements_per_visitor <= target * 1.0001
        lower = recommend(scores, gallery * 10, target)
        assert lower.threshold >= rec.threshold  # a bigger gallery needs a stricter threshold


@pytest.mark.parametrize(
    "text",
    [CONFIG, CONFIG + "\n[recognition]\nmatch_margin = 0.5\n", CONFIG + "\n[recognition]\nmatch_threshold = 0.1\n\n"
     "[gallery]\ndir = 'g'\n"],
    ids=["no-section", "partial-section", "section-then-another"],
)  # fmt: skip
def test_write_into_config(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    rec = recommend(synthetic(0.96, 0.75), 10, 0.01)
    write_into_config(cfg, rec)
    data = tomllib.loads(cfg.read_text())
    assert data["recognition"] == {"match_threshold": rec.threshold, "match_margin": rec.margin}
    assert data["store"]["id"] == "paris-01"
    if "[gallery]" in text:
        assert data["gallery"] == {"dir": "g"}


def test_too_few_people_is_a_clear_error(small_labelled: Path, prepared_models_dir, tmp_path: Path) -> None:
    one = tmp_path / "one"
    (one / "obama").mkdir(parents=True)
    for p in (small_labelled / "obama").iterdir():
        (one / "obama" / p.name).write_bytes(p.read_bytes())
    proc = run_cli("calibrate", "threshold", "--labelled", str(one), "--models-dir", str(prepared_models_dir))
    assert proc.returncode == 2 and "at least two people" in proc.stderr


def test_default_threshold_is_the_one_derived_from_the_registry_set(face_models, prepared_models_dir, tmp_path) -> None:
    """The manifest's threshold and margin for the default recogniser are what `calibrate threshold` recommends
    on every labelled registry photo for 1,000 members and 1 false announcement in 1,000 visitors."""
    common = ["--models-dir", str(prepared_models_dir)]
    made = run_cli("calibrate", "registry-set", "--json", "--out", str(tmp_path / "set"), *common)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) | {"dir": ""} == {"dir": "", "people": 42, "photos": 47, "genuine_pairs": 8}
    proc = run_cli(
        "calibrate",
        "threshold",
        "--json",
        "--labelled",
        str(tmp_path / "set"),
        "--out",
        str(tmp_path / "o"),
        "--gallery-size",
        "1000",
        "--target",
        "0.001",
        *common,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    spec = face_models.recogniser_spec
    assert result["reachable"] and (result["genuine_pairs"], result["impostor_pairs"]) == (8, 1073)
    assert result["threshold"] == pytest.approx(spec.match_threshold, abs=0.005)
    assert result["margin"] == pytest.approx(spec.match_margin, abs=0.005)
    scores = embed_labelled(tmp_path / "set", FacePath(face_models, DarkFrameLift(0)), RULE)
    assert scores.impostor.max() < spec.match_threshold  # no stranger pair accepted at the default
    assert (scores.genuine >= spec.match_threshold).sum() == 7  # one pair of 8 missed per attempt (Macron 2014/2025)


@pytest.mark.parametrize("kind", ["file", "foreign"])
def test_registry_set_never_empties_a_directory_it_did_not_make(kind, prepared_models_dir, tmp_path) -> None:
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("keep me")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("keep me")
    proc = run_cli("calibrate", "registry-set", "--out", str(out), "--models-dir", str(prepared_models_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(out) in proc.stderr
    assert (out.read_text() if kind == "file" else (out / "thesis.tex").read_text()) == "keep me"


def test_the_store_s_verdicts_raise_the_threshold_written(small_labelled: Path, prepared_models_dir, tmp_path) -> None:
    """`--outcomes`: the associates' "Not this person" above the photos' threshold raises it, and what is
    written into the config is the raised one."""
    from storelens.api.books import StoreBooks
    from storelens.edge_events import ArrivalEvent

    database = tmp_path / "events.sqlite"
    cfg = tmp_path / "store.toml"
    cfg.write_text(CONFIG + f'\n[api]\ndatabase_url = "sqlite:///{database}"\n')
    common = ["--json", "--labelled", str(small_labelled), "--gallery-size", "5", "--target", "0.05",
              "--models-dir", str(prepared_models_dir), "--config", str(cfg)]  # fmt: skip
    plain = run_cli("calibrate", "threshold", *common, "--out", str(tmp_path / "a"))
    assert plain.returncode == 0, plain.stderr
    floor = json.loads(plain.stdout)["threshold"]
    books = StoreBooks(f"sqlite:///{database}")
    said = [(floor + 0.2 + i / 200, "take") for i in range(24)] + [(floor + 0.05, "reject"), (floor - 0.1, "reject")]
    for similarity, verdict in said:
        event = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M-1",
                             similarity=min(similarity, 1.0), track_id=1)  # fmt: skip
        books.events.add(event.model_dump())
        books.events.judge(event.event_id, "confirmed" if verdict == "take" else "rejected", "ipad-1")
    books.close()
    done = run_cli("calibrate", "threshold", *common, "--out", str(tmp_path / "b"), "--outcomes",
                   "--write-config", str(cfg))  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    store = result["store_outcomes"]
    counts = (store["decision"], store["confirmed"], store["rejected"], store["rejected_at_floor"])
    assert counts == ("raised", 24, 2, 1)
    assert result["threshold"] == pytest.approx(round(floor + 0.051, 3)) and store["rejected_left"] == 0
    assert load_config(cfg).recognition.match_threshold == pytest.approx(result["threshold"], abs=1e-3)
    refused = run_cli("calibrate", "threshold", "--labelled", str(small_labelled), "--outcomes")
    assert refused.returncode == 2 and "--outcomes reads the store's database" in refused.stderr
