"""``storelens calibrate camera | threshold``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from storelens.cli.args import add_models_dir, existing_dir, existing_file, new_or_dir, number
from storelens.errors import CalibrationError, ConfigError


def cmd_camera(args: argparse.Namespace, emit: Any) -> int:
    """Snapshot with overlays and the camera's verdicts (geometry, recognition, counting); exit 1 when one fails.

    What is judged follows the camera's role: a camera that recognises is surveyed for faces, one that counts
    for people crossing its line; a camera that does not recognise is never asked for a face.
    """
    from pydantic import ValidationError

    from storelens.apps.faces import load_face_models, load_person_detector
    from storelens.calibration.camera import gating_note, snapshot, survey
    from storelens.calibration.counting import count_survey
    from storelens.cli.doctor import camera_role
    from storelens.config import config_errors, load_config
    from storelens.exposure import DarkFrameLift
    from storelens.face_path import face_path
    from storelens.i18n import Translator, operator_locale
    from storelens.manifest import models_dir

    tr = Translator(operator_locale())  # the snapshot's words, in the installer's language
    config = load_config(Path(args.config))
    cameras = {c.id: c for c in config.cameras}
    if args.camera not in cameras:
        raise ConfigError(f"--camera {args.camera!r}: no such camera (cameras: {', '.join(cameras)})")
    camera = cameras[args.camera]
    where = models_dir(args.models_dir or config.models.dir or None)
    recognises = config.recognises(camera)
    fm = load_face_models(config, where) if recognises else None
    people = load_person_detector(config, where) if camera.counts else None
    min_px = config.min_face_px_for(camera)
    role = camera_role(config, camera, tr)
    try:
        result = snapshot(camera, fm, min_px, Path(args.out), args.at, gating_note(config.edge, tr), tr, people)
    except ValidationError as exc:
        lines = config_errors(exc, camera.model_dump())
        raise ConfigError(f"cameras[{camera.id}]: " + "; ".join(lines)) from exc
    path = face_path(fm, config.detection) if fm is not None else None
    lift = path.lift if path is not None else DarkFrameLift(config.detection.lift_dark_below)
    edge = config.edge
    faces = survey(camera, path, edge.min_embed_face_px, edge.min_face_quality, args.seconds, args.at) if path else None
    counting = None
    if people is not None:
        settle = max(1, round(edge.line_settle_seconds * camera.analysis_fps))
        counting = count_survey(camera, people, path, lift, edge.min_embed_face_px, edge.min_face_quality,
                                args.seconds, args.at, settle, edge.line_band_px, tr)  # fmt: skip
    if args.json:
        emit(
            {
                "camera": camera.id,
                "role": camera.role,
                "does": role,
                "snapshot": args.out,
                "ok": result.ok,
                "verdict": result.verdict,
                "frame_size": result.frame_size,
                "faces_px": [round(w) for w in result.faces],
                "near_line_px": [round(w) for w in result.near_line],
                "min_face_px": result.min_face_px,
                "detector": gating_note(config.edge, tr),
                "recognition": None
                if faces is None
                else {
                    "works": faces.works,
                    "verdict": faces.verdict,
                    "frames": faces.frames,
                    "faces": faces.faces,
                    "passing": faces.passing,
                    "face_px": round(faces.width_px),
                    "brightness": round(faces.brightness, 1),
                    "signal_to_noise": round(faces.snr, 2),
                    "scene_brightness": round(faces.scene_brightness, 1),
                    "sharpness": round(faces.sharpness, 1),
                    "yaw": round(faces.yaw, 3),
                    "blockiness": round(faces.blockiness, 2),
                },
                "counting": None
                if counting is None
                else {
                    "placed_to_count": counting.ok,
                    "verdict": counting.verdict,
                    "frames": counting.frames,
                    "people": counting.people,
                    "crossing": counting.crossing,
                    "at_edge": counting.at_edge,
                    "with_face": counting.with_face,
                    "face_share": None if counting.face_share is None else round(counting.face_share, 3),
                },
            }
        )
    else:
        print(f"camera {camera.id}: {role}")
        print(f"camera {camera.id}: {result.verdict}")
        if faces is not None:
            print(
                f"faces over {faces.frames} frames: {faces.faces} seen, median {faces.width_px:.0f} px wide, "
                f"brightness {faces.brightness:.0f} (scene {faces.scene_brightness:.0f}), contrast/noise "
                f"{faces.snr:.1f}, sharpness {faces.sharpness:.0f}, yaw {faces.yaw:.2f}, compression blocks "
                f"{faces.blockiness:.2f}"
            )
            print(f"camera {camera.id}: {faces.verdict}")
        if counting is not None:
            print(f"camera {camera.id}: {counting.verdict}")
            if counting.face_share is not None:
                share = tr.gettext(
                    "{share} of the people crossing ({n} of {of}) showed a face good enough to decide who they are",
                    share=tr.percent(counting.face_share),
                    n=counting.with_face,
                    of=counting.crossing,
                )
                print(f"camera {camera.id}: {share}")
        print(f"camera {camera.id}: {gating_note(config.edge, tr)}")
        print(f"snapshot: {args.out}")
    works = faces.works if faces is not None else True
    placed = counting.ok if counting is not None else True
    return 0 if result.ok and works and placed else 1


def cmd_registry_set(args: argparse.Namespace, emit: Any) -> int:
    """Lay the registry packages' labelled face photos out as DIR/person/photo for `calibrate threshold`."""
    from storelens.apps.faces import load_face_models
    from storelens.config import default_config, load_config
    from storelens.manifest import models_dir
    from storelens.sample_videos.photos import build_labelled_set
    from storelens.stage_messages import Frame

    config = load_config(Path(args.config)) if args.config else default_config()
    fm = load_face_models(config, models_dir(args.models_dir or config.models.dir or None))
    counts = build_labelled_set(Path(args.out), lambda image: fm.detector.detect(Frame(image)).boxes)
    photos = sum(counts.values())
    genuine = sum(n * (n - 1) // 2 for n in counts.values())
    if args.json:
        emit({"dir": args.out, "people": len(counts), "photos": photos, "genuine_pairs": genuine})
    else:
        print(f"{args.out}: {photos} photos of {len(counts)} people ({genuine} same-person pairs)")
    return 0


def cmd_threshold(args: argparse.Namespace, emit: Any) -> int:
    """FAR/FRR from labelled photos and the recommended threshold and margin."""
    from storelens.apps.faces import load_face_models
    from storelens.calibration.threshold import (
        at_threshold,
        embed_labelled,
        plot,
        recommend,
        write_into_config,
        write_json,
    )
    from storelens.config import default_config, load_config
    from storelens.face_path import face_path, subject_rule
    from storelens.manifest import models_dir

    if args.outcomes and not args.config:
        raise ConfigError("--outcomes reads the store's database: give the store's --config")
    config = load_config(Path(args.config)) if args.config else default_config()
    fm = load_face_models(config, models_dir(args.models_dir or config.models.dir or None))
    scores = embed_labelled(Path(args.labelled), face_path(fm, config.detection), subject_rule(config.enrolment))
    rec = recommend(scores, args.gallery_size, args.target)
    store = _store_outcomes(config, args.outcomes_days, rec.threshold) if args.outcomes else None
    if store is not None and store.decision == "raised":
        rec = at_threshold(scores, rec, store.threshold)  # FAR and FRR said at the threshold written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(scores, rec, out / "far_frr.png")
    write_json(scores, rec, out / "threshold.json")
    if args.write_config and not rec.reachable:
        raise CalibrationError(
            f"target of {rec.target:g} false announcements per visitor with {rec.gallery_size} members is not "
            f"reachable on these photos (every member would be missed); {args.write_config} left unchanged"
        )
    if args.write_config:
        write_into_config(Path(args.write_config), rec)  # validated first, then replaced in one step
    for note in scores.skipped:
        sys.stderr.write(f"storelens: skipped {note}\n")
    if args.json:
        emit(
            {
                "threshold": rec.threshold,
                "margin": rec.margin,
                "far": rec.far_at_threshold,
                "reachable": rec.reachable,
                "eer_threshold": rec.eer_threshold,
                "eer": rec.eer,
                "far_source": rec.far_source,
                "frr": rec.frr_at_threshold,
                "false_announcements_per_visitor": rec.false_announcements_per_visitor,
                "genuine_pairs": len(scores.genuine),
                "impostor_pairs": len(scores.impostor),
                "plot": str(out / "far_frr.png"),
                "curve": str(out / "threshold.json"),
                "store_outcomes": dataclasses.asdict(store) if store else None,
            }
        )
        return 0
    print(
        f"{scores.people} people, {scores.photos} photos: {len(scores.genuine)} same-person pairs "
        f"(lowest similarity {scores.genuine.min():.3f}), {len(scores.impostor)} different-person pairs "
        f"(highest {scores.impostor.max():.3f})"
    )
    print(
        f"target: at most {rec.target:g} false VIP announcement(s) per visitor with {rec.gallery_size} members "
        f"-> FAR <= {rec.far_target:.2e}"
    )
    if rec.reachable:
        print(f"recommended: match_threshold = {rec.threshold:.3f}, match_margin = {rec.margin:.3f}")
    else:
        print(
            f"TARGET NOT REACHABLE on these photos: no threshold keeps strangers out at FAR <= {rec.far_target:.2e} "
            "without missing every member. Best compromise shown: the equal-error threshold "
            f"{rec.eer_threshold:.3f}, where {rec.eer:.1%} of strangers pass and as many members are missed. "
            "Use fewer members per store, accept a higher rate, calibrate on faces from the store's own cameras, "
            "or a stronger recogniser."
        )
        print(f"compromise: match_threshold = {rec.threshold:.3f}, match_margin = {rec.margin:.3f}")
    print(
        f"  strangers passing (FAR): {rec.far_at_threshold:.2e} ({rec.far_source}); about "
        f"{rec.false_announcements_per_visitor:.2g} false announcements per visitor"
    )
    print(f"  members missed per attempt (FRR): {rec.frr_at_threshold:.1%} of same-person pairs")
    if store is not None:
        print(_outcomes_lines(store, args.outcomes_days))
    print(f"plot: {out / 'far_frr.png'}, curve: {out / 'threshold.json'}")
    if args.write_config:
        print(f"written into {args.write_config} [recognition]")
    return 0


def _store_outcomes(config: Any, days: int, floor: float) -> Any:
    """The associates' verdicts of the last ``days`` from the store's database, weighed from ``floor``."""
    from datetime import timedelta

    import numpy as np

    from storelens.books.event_log import EventLog
    from storelens.calibration.outcomes import weigh
    from storelens.clock import iso, utc_now

    store = EventLog(config.api.database_url)
    try:
        now = utc_now()
        rows = store.verdicts(iso(now - timedelta(days=days)), iso(now + timedelta(seconds=1)))
    finally:
        store.close()
    yes = np.array([r.similarity for r in rows if r.verdict == "confirmed"])
    no = np.array([r.similarity for r in rows if r.verdict == "rejected"])
    return weigh(yes, no, floor)


def _outcomes_lines(store: Any, days: int) -> str:
    """What the store's verdicts did to the threshold, in words."""
    from storelens.calibration.outcomes import KEEP_CONFIRMED, MIN_OUTCOMES

    head = (
        f"store outcomes (last {days} days): {store.confirmed} confirmed, {store.rejected} rejected "
        f"('Not this person'); {store.rejected_at_floor} rejected at or above {store.floor:.3f}"
    )
    kept = "" if store.confirmed_kept is None else f", {store.confirmed_kept:.0%} of confirmed kept"
    said = {
        "too-few": f"  fewer than {MIN_OUTCOMES} verdicts: the threshold stays {store.floor:.3f}",
        "none-rejected": f"  no rejection at or above {store.floor:.3f}: the threshold stays",
        "raised": f"  raised to {store.threshold:.3f}: {store.rejected_left} rejected left{kept}",
        "would-lose-members": f"  no raise keeps {KEEP_CONFIRMED:.0%} of the confirmed announcements: the "
        f"threshold stays {store.floor:.3f}{kept}",
    }
    return head + "\n" + said[store.decision]


def cmd_degradation(args: argparse.Namespace, emit: Any) -> int:
    """Same-person and different-person pairs accepted under each way a poor camera degrades faces."""
    from storelens.apps.faces import load_face_models
    from storelens.calibration.degradation import measure, plot, write_json
    from storelens.config import default_config, load_config
    from storelens.face_path import face_path
    from storelens.gallery.factory import match_policy
    from storelens.manifest import models_dir
    from storelens.sample_videos.photos import build_labelled_set
    from storelens.stage_messages import Frame

    config = load_config(Path(args.config)) if args.config else default_config()
    fm = load_face_models(config, models_dir(args.models_dir or config.models.dir or None))
    out = Path(args.out)
    labelled = Path(args.labelled) if args.labelled else out / "registry-set"
    if not args.labelled:
        build_labelled_set(labelled, lambda image: fm.detector.detect(Frame(image)).boxes)
    threshold = match_policy(config, fm.recogniser_spec).threshold
    report = measure(labelled, face_path(fm, config.detection), threshold)
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused set leaves nothing behind
    plot(report, out / "degradation.png")
    write_json(report, out / "degradation.json")
    if args.json:
        emit(
            {
                "people": report.people,
                "photos": report.photos,
                "threshold": threshold,
                "mild_genuine_rate": round(report.mild_rate(), 4),
                "mild_genuine_rate_of_clean": round(report.mild_rate_of_clean(), 4),
                "rows": {
                    r.name: {
                        "hard": r.hard,
                        "genuine": [r.genuine_accepted, r.genuine_pairs],
                        "impostor": [r.impostor_accepted, r.impostor_pairs],
                        "not_found": r.not_found,
                        "refused": r.refused,
                    }
                    for r in report.rows
                },
                "plot": str(out / "degradation.png"),
            }
        )
        return 0
    print(f"{report.people} people, {report.photos} photos, match threshold {threshold:.3f}")
    print(f"{'degradation':32} {'same person accepted':>22} {'strangers accepted':>20}  no face  refused")
    for r in report.rows:
        kind = " (hard)" if r.hard else ""
        print(
            f"{r.name + kind:32} {f'{r.genuine_accepted}/{r.genuine_pairs} ({r.genuine_rate:.0%})':>22} "
            f"{f'{r.impostor_accepted}/{r.impostor_pairs}':>20}  {r.not_found:7d}  {r.refused:7d}"
        )
    print(
        f"mild degradations: {report.mild_rate():.1%} of same-person pairs accepted on average "
        f"({report.mild_rate_of_clean():.1%} of those accepted undegraded)"
    )
    print(f"chart: {out / 'degradation.png'}, figures: {out / 'degradation.json'}")
    return 0


def add_calibrate_commands(sub: Any, add: Any, emit: Any) -> None:
    """Register ``calibrate camera``, ``degradation``, ``registry-set`` and ``threshold``."""

    def bind(fn: Any) -> Any:
        return lambda args: fn(args, emit)

    sp = add(sub, "camera", bind(cmd_camera), "snapshot with ROI, entry line and face sizes, and a verdict", True)
    sp.add_argument("--config", required=True, help="the store's configuration file (TOML)")
    sp.add_argument("--camera", required=True, metavar="ID", help="the camera's id in the configuration")
    sp.add_argument("--out", required=True, metavar="PNG", help="the snapshot to write (PNG)")
    sp.add_argument(
        "--at",
        type=number(float, "at", ge=0, le=86_400),
        default=0.0,
        metavar="SECONDS",
        help="file sources: start looking here",
    )
    sp.add_argument(
        "--seconds",
        type=number(float, "seconds", ge=1, le=600),
        default=60.0,
        metavar="SECONDS",
        help="how long to watch the faces for the recognition verdict, 1 to 600 (default 60)",
    )
    add_models_dir(sp, config=True)
    sp = add(sub, "degradation", bind(cmd_degradation), "recognition on real faces degraded as poor cameras do", True)
    sp.add_argument(
        "--labelled",
        metavar="DIR",
        type=existing_dir,
        help="DIR/person/*.jpg, one face per photo; default: the registry set, built under --out",
    )
    sp.add_argument(
        "--out", default="calibration-out", metavar="DIR", type=new_or_dir, help="where the PNG and JSON go"
    )
    sp.add_argument("--config", help="configuration (models, threshold, dark-frame lift); default: built-in")
    add_models_dir(sp, config=True)
    sp = add(sub, "registry-set", bind(cmd_registry_set), "the registry packages' labelled faces as DIR/person/", True)
    sp.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="a new or empty directory, or a set made before (rebuilt); anything else is refused",
    )
    sp.add_argument("--config", help="configuration (the detector that cuts group photos); default: built-in")
    add_models_dir(sp, config=True)
    sp = add(sub, "threshold", bind(cmd_threshold), "threshold and margin for a target false-announcement rate", True)
    sp.add_argument(
        "--labelled", required=True, metavar="DIR", type=existing_dir, help="DIR/person/*.jpg, one face per photo"
    )
    sp.add_argument(
        "--gallery-size",
        type=number(int, "gallery_size", ge=1, le=10_000_000),
        default=1000,
        help="members enrolled, 1 to 10000000 (default 1000)",
    )
    sp.add_argument(
        "--target",
        type=number(float, "target", gt=0, lt=1),
        default=0.001,
        help="false VIP announcements per visitor to allow, above 0 and below 1 (default 0.001: 1 in 1000)",
    )
    sp.add_argument(
        "--out", default="calibration-out", metavar="DIR", type=new_or_dir, help="where the PNG and JSON go"
    )
    sp.add_argument(
        "--write-config",
        metavar="FILE",
        type=existing_file,
        help="write the threshold and margin into this config (checked before it is written)",
    )
    sp.add_argument("--config", help="configuration (models; the store's database for --outcomes)")
    sp.add_argument(
        "--outcomes",
        action="store_true",
        help="weigh the associates' verdicts on announcements (confirmed, 'Not this person') from the store's "
        "database (needs --config): they can raise the threshold, never lower it",
    )
    sp.add_argument(
        "--outcomes-days",
        type=number(int, "outcomes_days", ge=1, le=3650),
        default=90,
        metavar="DAYS",
        help="verdicts of the last DAYS days, 1 to 3650 (default 90)",
    )
    add_models_dir(sp, config=True)
