"""A store with two entrances in one config: members announced once per store, footfall per camera and store."""

from __future__ import annotations

import shutil
from collections import Counter

from storelens.apps.edge import EdgeApp
from storelens.config import Config
from storelens.web.reports import footfall_rows
from tests.helpers.configs import edge_config


def test_two_entrances_one_store(
    video, truth, members_gallery, broker, collector, face_models, tmp_path, prepared_models_dir
) -> None:
    gallery = tmp_path / "g"
    shutil.copytree(members_gallery, gallery)
    data = edge_config(tmp_path, str(video), gallery, broker.url, truth, prepared_models_dir)
    second = dict(data["cameras"][0], id="second-entrance")
    data["cameras"].append(second)
    runner = EdgeApp(Config.model_validate(data), face_models)
    assert runner.run() == 0
    assert collector.wait_for(lambda c: len(c.events("footfall")) >= 2, 10)
    arrivals = collector.events("vip_arrival")
    assert Counter(a["member_id"] for a in arrivals) == {"M-OBAMA": 1, "M-BIDEN": 1}  # once per store, not per camera
    footfall = collector.events("footfall")
    per_camera = Counter()
    for f in footfall:
        per_camera[f["camera_id"]] += f["entries"]
    expected = truth["expected"]["entries"]
    assert all(abs(per_camera[c] - expected) <= 1 for c in ("entrance", "second-entrance")), per_camera
    rows = footfall_rows(footfall, "1d")
    store_row = next(r for r in rows if r.camera_id == "all")
    assert store_row.entries == per_camera["entrance"] + per_camera["second-entrance"]
    # both cameras see the same people: the store counts each once, not once per door
    per_camera_unique = {r.camera_id: r.unique_visitors for r in rows}
    assert abs(store_row.unique_visitors - truth["expected"]["unique_visitors"]) <= 1, per_camera_unique
    assert store_row.unique_visitors < per_camera_unique["entrance"] + per_camera_unique["second-entrance"]
