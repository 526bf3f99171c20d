"""The ``storelens`` console command (see shared/CONTRACT.md).

Exit 0 on success, 2 on bad usage or bad input with one line on stderr naming what is wrong.
``--json`` writes JSON lines to stdout and nothing else there.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from storelens import __version__
from storelens.bench import PARTS
from storelens.cli.args import add_models_dir, bounded, number
from storelens.errors import ConfigError, StoreLensError
from storelens.redact import RedactFilter, RedactingStream

log = logging.getLogger("storelens")

Handler = Callable[[argparse.Namespace], int]


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    def report(msg: str) -> None:
        sys.stderr.write(f"storelens: {msg}\n")
        sys.stderr.flush()

    return report


# --- models -------------------------------------------------------------------------------------


def cmd_models_prepare(args: argparse.Namespace) -> int:
    """`storelens models prepare`."""
    from storelens.manifest import models_dir
    from storelens.models.prepare import prepare_all

    directory = models_dir(args.models_dir)
    done = prepare_all(directory, _progress(args))
    for item in done:
        if args.json:
            emit_json({"name": item.name, "file": str(item.path), "action": item.action})
    if not args.json:
        print(f"models ready in {directory}: " + ", ".join(f"{d.name} ({d.action})" for d in done))
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    """`storelens models list`: every manifest model and whether it is ready here."""
    from storelens.manifest import load_manifest, models_dir
    from storelens.models.verify import verify_model_file

    directory = models_dir(args.models_dir)
    manifest = load_manifest()
    rows: list[dict[str, Any]] = []
    for spec in manifest.models:
        try:
            verify_model_file(spec, directory)
            status = "ready"
        except StoreLensError as exc:
            status = "missing" if "is missing" in str(exc) else "mismatch"
        packs = [p.name for p in manifest.packs if spec.name in (p.detector, p.recogniser)]
        if spec.task == "person":  # one person detector serves every set (models.person)
            packs = ["every set, for cameras that count"]
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "file": spec.file,
                "sha256": spec.sha256 or None,
                "licence": spec.licence,
                "source": spec.source,
                "training_data": spec.training_data or None,
                "packs": packs,
                "status": status,
            }
        )
    if args.json:
        for row in rows:
            emit_json(row)
        return 0
    for row in rows:
        print(f"{row['name']:<28} {row['task']:<12} {row['status']:<9} {row['file']}")
        print(f"    sha256  {row['sha256'] or '(operator-supplied, not pinned)'}")
        print(f"    licence {row['licence']}")
        print(f"    source  {row['source']}")
        if row["training_data"]:
            print(f"    trained {row['training_data']}")
        print(f"    in set  {', '.join(row['packs'])}")
    ready = {str(row["name"]) for row in rows if row["status"] == "ready"}
    print("model sets ([models] pack = ...):")
    for pack in manifest.packs:
        state = "ready" if {pack.detector, pack.recogniser} <= ready else "not ready"
        print(f"  {pack.name:<12} {pack.detector} + {pack.recogniser} ({state})")
    return 0


# --- faces (detect / compare on photos) ---------------------------------------------------------


def _face_path(args: argparse.Namespace) -> Any:
    """The one face path (``storelens.face_path.FacePath``) and the configuration."""
    from storelens.apps.faces import load_face_path
    from storelens.config import default_config, load_config
    from storelens.manifest import models_dir

    config = load_config(Path(args.config)) if args.config else default_config()
    directory = models_dir(args.models_dir or config.models.dir or None)
    return load_face_path(config, directory), config


def cmd_faces_detect(args: argparse.Namespace) -> int:
    """`storelens faces detect`: faces per photo; a bad photo is reported and the rest go on."""
    from storelens.images import PhotoFrames

    path, _ = _face_path(args)
    frames = PhotoFrames(args.photos)
    for photo, frame in frames:
        found = path.find(frame)
        faces = [
            {"bbox": [round(float(v), 1) for v in b], "det_score": round(float(s), 4), "quality": round(float(q), 4)}
            for b, s, q in zip(found.faces.boxes, found.faces.scores, found.quality, strict=True)
        ]
        if args.json:
            emit_json({"photo": photo, "width": frame.size[0], "height": frame.size[1], "faces": faces})
        else:
            print(f"{photo}: {len(faces)} face(s)")
            for f in faces:
                print(f"    bbox {f['bbox']} score {f['det_score']} quality {f['quality']}")
    return 2 if frames.failed else 0


def cmd_faces_compare(args: argparse.Namespace) -> int:
    """`storelens faces compare`: pairwise similarity of the subject of each photo (the enrolment rule)."""
    if len(args.photos) < 2:
        raise ConfigError("faces compare needs at least two photos (it compares every pair)")
    import numpy as np

    from storelens.errors import ImageError
    from storelens.face_path import choose_subject, subject_rule
    from storelens.images import load_image
    from storelens.stage_messages import Frame

    path, config = _face_path(args)
    rule = subject_rule(config.enrolment)
    vecs = []
    for photo in args.photos:
        found = path.find(Frame(load_image(Path(photo)), camera_id=photo))
        if len(found) == 0:
            raise ImageError(f"{photo}: no face found")
        row = choose_subject(found.faces, found.frame.size, rule)
        if row is None:
            raise ImageError(f"{photo}: {len(found)} faces found and none clearly the subject; crop the photo to one")
        vecs.append(path.embed(found.frame, found.faces.select(np.array([row]))).vectors[0])
    sims = np.stack(vecs) @ np.stack(vecs).T
    threshold = path.models.match_threshold
    for i, a in enumerate(args.photos):
        for j in range(i + 1, len(args.photos)):
            b = args.photos[j]
            same = bool(sims[i, j] >= threshold)
            if args.json:
                emit_json(
                    {
                        "a": a,
                        "b": b,
                        "similarity": round(float(sims[i, j]), 4),
                        "same_person": same,
                        "threshold": threshold,
                    }
                )
            else:
                print(f"{a} ~ {b}: similarity {sims[i, j]:.3f} -> {'same person' if same else 'different'}")
    return 0


# --- later issues -------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """`storelens doctor`: one line per check; exit 1 when any fails."""
    from storelens.cli.doctor import run_checks
    from storelens.config import load_config
    from storelens.i18n import Translator, operator_locale

    checks = run_checks(load_config(Path(args.config)), Translator(operator_locale()))
    for c in checks:
        if args.json:
            emit_json({"check": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix})
        else:
            print(
                f"{'OK  ' if c.ok else 'FAIL'}  {c.name:<18} {c.detail}"
                + (f" -> {c.fix}" if c.fix and not c.ok else "")
            )
    return 0 if all(c.ok for c in checks) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    """`storelens bench`."""
    from storelens.bench.run import run_bench

    return run_bench(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """`storelens demo`."""
    from storelens.cli.demo import run_demo

    return run_demo(args)


def cmd_validate_config(path: str) -> int:
    """`storelens --validate-config FILE`: every error with its path, value and reason."""
    from storelens.config import load_config

    try:
        config = load_config(Path(path))
    except ConfigError as exc:
        sys.stderr.write(f"storelens: error: {exc}\n")
        return 2
    print(f"{path}: valid (store {config.store.id}, {len(config.cameras)} camera(s))")
    return 0


# --- parser -------------------------------------------------------------------------------------


def _scales(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 100 or v > 10_000_000 for v in values):
        raise argparse.ArgumentTypeError(f"expected sizes between 100 and 10000000, comma-separated, got {text!r}")
    return values


HQ_SCALE_BOUNDS = (("stores", 1, 100_000), ("days", 1, 366), ("members", 1, 1_000_000), ("boxes", 1, 100))


def _hq_scale(text: str) -> list[int]:
    parts = text.split(",")
    try:
        values = [int(v) for v in parts]
    except ValueError:
        values = []
    if len(values) != 4 or any(not lo <= v <= hi for v, (_, lo, hi) in zip(values, HQ_SCALE_BOUNDS, strict=True)):
        wanted = ", ".join(f"{name} {lo}-{hi}" for name, lo, hi in HQ_SCALE_BOUNDS)
        raise argparse.ArgumentTypeError(f"expected STORES,DAYS,MEMBERS,BOXES ({wanted}), got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand of the contract."""
    p = argparse.ArgumentParser(prog="storelens", description="StoreLens in-store face recognition edge service")
    p.add_argument("--version", action="version", version=f"storelens {__version__}")
    p.add_argument("--validate-config", metavar="FILE", help="check a configuration file and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(parent: Any, name: str, handler: Handler, help_: str, json_flag: bool = False) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        sp.set_defaults(handler=handler)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="JSON lines on stdout")
        return sp

    models = sub.add_parser("models", help="the face models").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    sp = add(models, "prepare", cmd_models_prepare, "obtain or convert the default offline models", True)
    add_models_dir(sp)
    sp = add(models, "list", cmd_models_list, "each model: name, task, file, sha256, licence, source", True)
    add_models_dir(sp)

    faces = sub.add_parser("faces", help="detect and compare faces in photos").add_subparsers(
        dest="sub", metavar="SUBCOMMAND"
    )
    for name, handler, help_ in (
        ("detect", cmd_faces_detect, "find faces in photos"),
        ("compare", cmd_faces_compare, "similarity of the largest face in each photo"),
    ):
        sp = add(faces, name, handler, help_, True)
        sp.add_argument("--config", help="configuration file (models, runtime); default: built-in defaults")
        add_models_dir(sp, config=True)
        sp.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files (JPEG or PNG)")

    from storelens.cli.cmd_gallery import add_gallery_commands

    gallery = sub.add_parser("gallery", help="enrolled members").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    add_gallery_commands(gallery, add, emit_json)
    from storelens.cli.cmd_edge import add_edge_commands

    edge = sub.add_parser("edge", help="the edge pipeline").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    add_edge_commands(edge, add)
    from storelens.cli.cmd_api import add_api_commands

    api = sub.add_parser("api", help="the store API").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    report = sub.add_parser("report", help="reports").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    add_api_commands(api, report, add, emit_json)
    from storelens.cli.cmd_commerce import add_commerce_commands

    add_commerce_commands(sub, report, add, emit_json)
    from storelens.cli.cmd_hq import add_hq_commands

    add_hq_commands(sub, add)
    from storelens.cli.cmd_calibrate import add_calibrate_commands

    calibrate = sub.add_parser("calibrate", help="camera geometry and similarity thresholds").add_subparsers(
        dest="sub", metavar="SUBCOMMAND"
    )
    add_calibrate_commands(calibrate, add, emit_json)

    from storelens.cli.cmd_privacy import add_privacy_commands

    privacy = sub.add_parser("privacy", help="privacy operations").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    add_privacy_commands(privacy, add, emit_json)

    sp = add(sub, "doctor", cmd_doctor, "check cameras, models, broker, database, gallery, disk and clock", True)
    sp.add_argument("--config", required=True, help="the store's configuration file (TOML)")
    sp = add(sub, "demo", cmd_demo, "the main job on embedded defaults")
    add_models_dir(sp)
    sp.add_argument("--fast", action="store_true", help="run the video as fast as possible and exit when done")
    sp.add_argument(
        "--keep",
        metavar="DIR",
        default="demo-store",
        help="the store folder the demo leaves: config, events, gallery, tokens (default: ./demo-store; "
        "an earlier demo's folder is emptied and made again)",
    )
    sp.add_argument(
        "--mqtt",
        default="mqtt://127.0.0.1:1883",
        type=bounded("storelens.config:MqttConfig", "url"),
        help="the store broker the folder's config names, for the commands run on it later "
        "(default mqtt://127.0.0.1:1883; the demo itself runs a broker of its own)",
    )
    sp = add(sub, "bench", cmd_bench, "performance benchmarks", True)
    sp.add_argument("--runs", type=_positive_int, default=7, help="repetitions; the median is reported (default 7)")
    sp.add_argument("--write", metavar="FILE", help="also write the results into this Markdown file")
    sp.add_argument(
        "--part",
        choices=["all", *PARTS],
        nargs="+",
        default=["all"],
        help="which parts (one or more; default all): parts measured together also fill the side-by-side table",
    )
    sp.add_argument(
        "--hq-scale",
        type=_hq_scale,
        default=[1000, 90, 10_000, 10],
        help="stores,days,members,boxes of the head-office part (default 1000,90,10000,10)",
    )
    sp.add_argument(
        "--year-stores",
        type=number(int, "--year-stores", ge=10, le=100_000),
        default=10_000,
        help="stores of the chain-year part (a year of their day rows; 10 to 100000; default 10000)",
    )
    sp.add_argument(
        "--import-members",
        type=number(int, "--import-members", ge=100, le=1_000_000),
        default=10_000,
        help="members of the members part's bulk import (100 to 1000000; default 10000)",
    )
    sp.add_argument(
        "--hq-rate",
        type=_positive_int,
        default=5000,
        help="events/s offered to head office for 10 s per process count (default 5000)",
    )
    sp.add_argument(
        "--commerce-scale",
        type=_scales,
        default=[100_000, 1_000_000],
        help="members,transactions of the commerce part (default 100000,1000000)",
    )
    sp.add_argument("--arrivals", type=_positive_int, default=200, help="arrivals pushed in the live benchmark")
    sp.add_argument("--max-cameras", type=_positive_int, default=64, help="most cameras tried at once (default 64)")
    sp.add_argument(
        "--baseline-seconds",
        type=float,
        default=15.0,
        help="seconds of the sample video the per-frame baselines process (default 15)",
    )
    sp.add_argument(
        "--scales",
        type=_scales,
        default=[10_000, 100_000, 1_000_000],
        help="gallery sizes, comma-separated (default 10000,100000,1000000)",
    )
    sp.add_argument(
        "--pack",
        action="append",
        metavar="SET",
        help="model set to measure, repeatable (default: default and scrfd_dlib side by side)",
    )
    add_models_dir(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console command: what it prints goes through the secrets filter."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(getattr(args, "handler", None), "accepts_anything", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler_ in logging.getLogger().handlers:
        handler_.addFilter(RedactFilter())
    if args.validate_config:
        return cmd_validate_config(args.validate_config)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        sys.stderr.write("storelens: error: a command is required\n")
        return 2
    try:
        return handler(args)
    except StoreLensError as exc:
        first, *rest = str(exc).splitlines()
        sys.stderr.write(f"storelens: error: {first}{'; ' + '; '.join(r.strip() for r in rest) if rest else ''}\n")
        return 2
    except OSError as exc:  # a file that cannot be read or written (permissions, a full disk): the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"storelens: error: {where}{exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("storelens: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
