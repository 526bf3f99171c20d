"""The edge pipeline on the sample video against its ground truth, with a real broker."""

from __future__ import annotations

import shutil
from collections import Counter

from storelens.apps.edge import EdgeApp
from storelens.config import Config
from storelens.edge.outbox import Outbox
from tests.helpers.configs import edge_config


def test_sample_video_matches_truth(
    video, truth, members_gallery, broker, collector, face_models, tmp_path, prepared_models_dir
) -> None:
    gallery = tmp_path / "gallery"
    shutil.copytree(members_gallery, gallery)
    config = Config.model_validate(edge_config(tmp_path, str(video), gallery, broker.url, truth, prepared_models_dir))
    runner = EdgeApp(config, face_models)
    assert runner.run() == 0
    assert collector.wait_for(lambda c: c.events("footfall"), 10)

    arrivals = collector.events("vip_arrival")
    announced = Counter(a["member_id"] for a in arrivals)
    assert sorted(announced) == truth["expected"]["arrivals"]
    assert set(announced.values()) == {1}, "every enrolled member announced exactly once"
    assert (
        sorted(member for member, _ in runner.times.greeted) == truth["expected"]["arrivals"]
    )  # PUBACKs, for time to greet
    enrolled = {m["member_id"] for m in truth["members"]}
    assert set(announced) <= enrolled, "no stranger announced as a member"

    footfall = collector.events("footfall")
    entries = sum(f["entries"] for f in footfall)
    # the people who entered, each once: frames are stamped from now, so a run may span two 15-minute intervals,
    # and a person seen in both is in both intervals' counts but has one token
    unique = len({t for f in footfall for t in f["visitor_tokens"]})
    assert entries == truth["expected"]["entries"], footfall  # people counted from their bodies
    assert sum(f["exits"] for f in footfall) == truth["expected"]["exits"], footfall
    assert sum(f["passers_by"] for f in footfall) == truth["expected"]["passers_by"], footfall
    assert unique == truth["expected"]["unique_visitors"], footfall
    assert footfall[-1]["partial"] is True and sum(f["vip_arrivals"] for f in footfall) == len(arrivals)

    visitors = collector.events("visitor")
    strangers = len(truth["expected"]["strangers_never_members"])
    assert abs(len(visitors) - strangers) <= 1
    assert not any(v["returning"] for v in visitors)  # the returning stranger is the same visit: no new event
    for event in collector.events():
        assert event["store_id"] == "store-1" and event["camera_id"] == "entrance" and event["v"] == 1
    assert Outbox(tmp_path / "outbox.sqlite").depth() == 0  # everything acknowledged
