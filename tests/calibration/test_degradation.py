"""Recognition on real registry faces degraded as poor cameras degrade them: strangers never pass, the lift helps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from storelens.calibration.degradation import measure
from storelens.calibration.degrade import DEGRADATIONS, Degradation
from storelens.config import default_config
from storelens.exposure import DarkFrameLift
from storelens.face_path import FacePath
from storelens.images import load_image
from tests.helpers.cli import run_cli

PICK = {d.name: d for d in DEGRADATIONS}
TRIED = tuple(PICK[n] for n in ("clean", "JPEG 15", "very dark x0.15, noise 10", "size 0.25, blur, JPEG 20"))


@pytest.mark.parametrize(
    ("lift_below", "dark_accepted"),
    [(default_config().detection.lift_dark_below, (4, 6)), (0.0, (0, 1))],
    ids=["lift", "no-lift"],
)
def test_degraded_registry_faces(labelled: Path, face_models, lift_below: float, dark_accepted: tuple[int, int]):
    """Obama x3 (6 ordered same-person pairs) among 31 people: no stranger accepted under any degradation; in the
    very dark, noisy frame, most of Obama's pairs are recognised only when dark frames are lifted."""
    report = measure(labelled, FacePath(face_models, DarkFrameLift(lift_below)), face_models.match_threshold, TRIED)
    rows = {r.name: r for r in report.rows}
    assert report.people == 31 and report.photos == 33
    assert all(r.impostor_accepted == 0 and r.impostor_pairs == 33 * 32 - 6 for r in report.rows)
    assert rows["clean"].genuine_accepted == rows["clean"].genuine_pairs == 6
    assert rows["JPEG 15"].genuine_accepted == 6
    low, high = dark_accepted
    assert low <= rows["very dark x0.15, noise 10"].genuine_accepted <= high
    assert rows["size 0.25, blur, JPEG 20"].not_found > 0  # the 1927 faces vanish at a quarter size


def test_degradations_are_deterministic_and_bounded(photos) -> None:
    image = load_image(photos["obama.jpg"])
    box = np.array([100, 100, 300, 300], np.float32)
    for d in DEGRADATIONS:
        first, again = d.apply(image, box, "obama.jpg"), d.apply(image, box, "obama.jpg")
        assert np.array_equal(first, again), d.name
        assert first.shape[1] == max(8, round(image.shape[1] * d.scale)), d.name
    dark = PICK["very dark x0.15, noise 10"].apply(image, None, "obama.jpg")
    assert dark.mean() < 0.3 * image.mean()
    for bad in ({"scale": 0.0}, {"gain": 0.0}, {"jpeg": 101}, {"noise_sigma": -1.0}, {"backlight": 2.0}):
        with pytest.raises(ValueError):
            Degradation("bad", **bad)  # type: ignore[arg-type]


def test_cli_prints_and_writes(small_labelled: Path, prepared_models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        "calibrate", "degradation", "--json", "--labelled", str(small_labelled), "--out", str(out),
        "--models-dir", str(prepared_models_dir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["people"] == 2 and result["photos"] == 4 and result["threshold"] == pytest.approx(0.626)
    assert set(result["rows"]) == {d.name for d in DEGRADATIONS}
    assert all(row["impostor"] == [0, 6] for row in result["rows"].values())  # biden against obama x3, both ways
    assert result["rows"]["clean"]["genuine"] == [6, 6]
    assert (out / "degradation.png").stat().st_size > 10_000
    assert json.loads((out / "degradation.json").read_text())["rows"][0]["name"] == "clean"
