"""Configuration: the minimal file is valid; every error names its path, value and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.config import load_config
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
        (MINIMAL + "[recognition]\nlookalike_threshold = 2\n", ["recognition.lookalike_threshold", "value: 2"]),
    ],
    ids=["extra", "pattern", "bounds", "provider", "missing", "toml", "timezone", "min_votes_gone", "evidence",
         "attempts", "interval", "quality", "lookalike"],
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
