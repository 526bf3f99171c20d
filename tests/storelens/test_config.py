"""Configuration: the minimal file is valid; every error names its path, value and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.config import load_config, load_hq_config
from storelens.errors import ConfigError
from tests.helpers.cli import run_cli

MINIMAL = '[store]\nid = "paris-01"\n\n[[cameras]]\nid = "entrance"\nsource = "rtsp://10.0.0.5/stream1"\n'


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "storelens.toml"
    p.write_text(text)
    return p


def test_minimal_file_is_valid_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.store.id == "paris-01"
    assert cfg.cameras[0].analysis_fps == 5.0
    assert cfg.models.pack == "default"
    assert cfg.models.runtime.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (MINIMAL + "[models]\npack = 'default'\ncolour = 'red'\n", ["models.colour", "Extra inputs are not permitted"]),
        (MINIMAL.replace('"paris-01"', '"bad id!"'), ["store.id", "'bad id!'", "pattern"]),
        (MINIMAL + "[[cameras]]\nid = 'c2'\nsource = 'x'\nanalysis_fps = 0\n",
         ["cameras[1].analysis_fps", "value: 0", "greater than 0"]),
        (MINIMAL + "[models.runtime]\nproviders = ['MagicExecutionProvider']\n",
         ["models.runtime.providers[0]", "MagicExecutionProvider"]),
        ('[store]\nid = "x"\n', ["cameras", "Field required"]),
        ("[store\n", ["not valid TOML"]),
        (MINIMAL.replace('id = "paris-01"', 'id = "paris-01"\ntimezone = "Europe/Pariss"'),
         ["store.timezone", "Europe/Pariss", "unknown IANA time zone"]),
        (MINIMAL + "[edge]\nmin_votes = 2\n", ["edge.min_votes", "Extra inputs are not permitted"]),
        (MINIMAL + "[edge]\nmin_evidence = 0\n", ["edge.min_evidence", "value: 0", "greater than 0"]),
        (MINIMAL + "[edge]\nmax_embeddings_per_track = 0\n", ["edge.max_embeddings_per_track", "value: 0"]),
        (MINIMAL + "[edge]\nembed_interval_seconds = -1\n", ["edge.embed_interval_seconds", "value: -1"]),
        (MINIMAL + "[edge]\nmin_face_quality = 1.5\n", ["edge.min_face_quality", "value: 1.5", "less than or equal"]),
        (MINIMAL + "[detection]\nlift_dark_below = -1\n", ["detection.lift_dark_below", "value: -1"]),
        (MINIMAL + "[detection]\nlift_dark_below = nan\n", ["detection.lift_dark_below", "finite number"]),
        (MINIMAL + "[edge]\nmotion_min_share = 0\n", ["edge.motion_min_share", "value: 0", "greater than 0"]),
        (MINIMAL + "[edge]\nfull_detection_seconds = 0.1\n", ["edge.full_detection_seconds", "value: 0.1"]),
        (MINIMAL + "[recognition]\nlookalike_threshold = 2\n", ["recognition.lookalike_threshold", "value: 2"]),
        (MINIMAL + "entry_line = { start = [nan, 420], end = [1200, 420], inside = [640, 700] }\n",
         ["cameras[0].entry_line.start[0]", "finite number"]),
        (MINIMAL + "entry_line = { start = [80, 420], end = [inf, 420], inside = [640, 700] }\n",
         ["cameras[0].entry_line.end[0]", "finite number"]),
        (MINIMAL + "roi = [[0, 0], [100, 0], [100, -inf]]\n", ["cameras[0].roi", "finite number"]),
        (MINIMAL + "[enrolment]\npitch_range = [1.0, 0.2]\n", ["enrolment", "pitch_range", "low end must be below"]),
        (MINIMAL + "[edge]\ndrain_timeout_seconds = inf\n", ["edge.drain_timeout_seconds", "finite number"]),
        (MINIMAL + "[edge]\nvisit_gap_minutes = nan\n", ["edge.visit_gap_minutes", "finite number"]),
        (MINIMAL + "[api]\ntls_cert_file = '/etc/storelens/api.crt'\n", ["api", "go together"]),
        (MINIMAL + "[enrolment]\nmax_photo_pixels = 1000000000\n", ["enrolment.max_photo_pixels", "less than"]),
        (MINIMAL + "[gallery]\nretention_days = -1\n", ["gallery.retention_days", "value: -1"]),
        (MINIMAL + "[enrolment]\npurpose = '" + "p" * 100 + "'\n", ["enrolment.purpose", "at most 80"]),
        (MINIMAL + "[edge]\nembed_better_by = 1.5\n", ["edge.embed_better_by", "value: 1.5"]),
        (MINIMAL + "[edge]\ndoubt_margin = -0.1\n", ["edge.doubt_margin", "value: -0.1"]),
        (MINIMAL + "[models.runtime]\nengine = 'tensorflow'\n", ["models.runtime.engine", "tensorflow"]),
        (MINIMAL.replace('id = "paris-01"', 'id = "paris-01"\nlocale = "xx_YY"'), ["store.locale", "unknown locale"]),
        (MINIMAL.replace('id = "paris-01"', 'id = "paris-01"\nlocale = "fr FR"'), ["store.locale", "pattern"]),
        (MINIMAL + "[privacy]\nsign_locales = ['fr_FR', 'fr-FR']\n", ["privacy.sign_locales", "named twice"]),
        (MINIMAL + "[privacy]\nsign_locales = ['fr', 'en', 'zh']\n", ["privacy.sign_locales", "at most 2"]),
    ],
    ids=["extra", "pattern", "bounds", "provider", "missing", "toml", "timezone", "min_votes_gone", "evidence",
         "attempts", "interval", "quality", "lift-negative", "lift-nan", "motion-share-zero", "full-detection-short",
         "lookalike", "line-nan", "line-inf", "roi-inf", "pitch-inverted",
         "drain-inf", "gap-nan", "tls-half", "pixels", "retention-negative", "purpose-long", "better-by-high",
         "doubt-negative", "engine-unknown", "locale-unknown", "locale-pattern", "sign-twice", "sign-three"],
)  # fmt: skip
def test_errors_name_path_value_reason(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_validate_config_cli(tmp_path: Path) -> None:
    good = run_cli("--validate-config", str(write(tmp_path, MINIMAL)))
    assert good.returncode == 0 and "valid" in good.stdout
    bad = run_cli("--validate-config", str(write(tmp_path, MINIMAL + "[detection]\nmin_face_px = 2\nfoo = 1\n")))
    assert bad.returncode == 2
    assert "detection.min_face_px: Input should be greater than or equal to 8 (value: 2)" in bad.stderr
    assert "detection.foo" in bad.stderr
    missing = run_cli("--validate-config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "configuration file not found" in missing.stderr


def test_relative_paths_of_a_file_resolve_against_its_folder_not_the_current_one(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "store"
    folder.mkdir(parents=True)
    (folder / "store.toml").write_text(
        '[store]\nid = "s"\n[[cameras]]\nid = "c"\nsource = "clips/door.mp4"\n'
        '[[cameras]]\nid = "d"\nsource = "rtsp://cam/1"\n[[cameras]]\nid = "e"\nsource = "0"\n'
        '[models]\ndir = "../models"\n[api]\ndatabase_url = "sqlite:///data/events.sqlite"\n'
        '[mqtt]\nca_file = "ca.pem"\n'
    )
    config = load_config(folder / "store.toml")
    assert [c.source for c in config.cameras] == [str(folder / "clips/door.mp4"), "rtsp://cam/1", "0"]
    assert config.models.dir == str(folder / "../models") and config.mqtt.ca_file == str(folder / "ca.pem")
    assert config.api.database_url == f"sqlite:///{folder / 'data/events.sqlite'}"
    # defaults too, for sections the file leaves out
    assert config.gallery.dir == str(folder / "storelens-gallery") and config.edge.outbox == str(
        folder / "outbox.sqlite"
    )
    assert config.api.photos_dir == str(folder / "member-photos")
    hq = tmp_path / "hq.toml"
    hq.write_text('database_url = "sqlite:///hq.sqlite"\n')
    assert load_hq_config(hq).database_url == f"sqlite:///{tmp_path / 'hq.sqlite'}"


def test_commands_find_the_models_from_any_folder(tmp_path: Path, prepared_models_dir: Path) -> None:
    proc = run_cli("models", "list", "--json", cwd=tmp_path)  # no --models-dir, another folder
    assert proc.returncode == 0 and '"status":"ready"' in proc.stdout, proc.stderr
