"""``storelens gallery enroll | import | identify | remove | list | purge``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from storelens.cli.args import (
    add_enrolment_arguments,
    add_member_id,
    add_models_dir,
    bounded,
    existing_dir,
    existing_file,
    number,
)
from storelens.cli.progress import Progress
from storelens.errors import ConfigError, EnrolmentError

if TYPE_CHECKING:
    from storelens.config import Config
    from storelens.face_path import FacePath
    from storelens.gallery.bulk import BulkImporter, Member, Verdict
    from storelens.gallery.gallery import Gallery


def _config(args: argparse.Namespace) -> Config:
    from storelens.config import default_config, load_config

    return load_config(Path(args.config)) if args.config else default_config()


def existing_gallery(text: str) -> Path:
    """A directory that holds a gallery (commands that read one must not create one on a typo)."""
    from storelens.gallery.gallery import DB_NAME, holds_gallery

    path = existing_dir(text)
    if not holds_gallery(path):
        raise argparse.ArgumentTypeError(f"{text} holds no gallery ({DB_NAME} missing); check the path")
    return path


def _with_models(args: argparse.Namespace) -> tuple[FacePath, Gallery]:
    """The face path and the gallery (for commands that look at photos)."""
    from storelens.apps.faces import load_face_path
    from storelens.gallery.factory import open_gallery
    from storelens.manifest import models_dir

    config = _config(args)
    path = load_face_path(config, models_dir(args.models_dir or config.models.dir or None))
    return path, open_gallery(config, path.recogniser, Path(args.gallery))


def _gallery_only(args: argparse.Namespace) -> Gallery:
    """The gallery alone (list, remove, purge need no model files)."""
    from storelens.gallery.factory import open_gallery
    from storelens.manifest import load_manifest

    config = _config(args)
    manifest = load_manifest()
    return open_gallery(config, manifest.recogniser_of(config.models.pack), Path(args.gallery))


def cmd_enroll(args: argparse.Namespace, emit: Any) -> int:
    """Enrol one member from one or more photos, all or nothing, with consent."""
    from storelens.gallery.enrol import Enroller, enroll_photos
    from storelens.gallery.records import Consent, MemberInfo, check_consent

    config = _config(args)
    rules = config.privacy_rules()
    try:
        member = MemberInfo(member_id=args.member_id, name=args.name or "", kind="staff" if args.staff else "member")
    except ValueError as exc:
        raise EnrolmentError(f"--member-id {args.member_id!r}: not a valid member id") from exc
    consent = Consent(
        reference=args.consent or "",
        notice_version=args.notice_version or config.enrolment.notice_version,
        purpose=args.purpose or ("staff-exclusion" if args.staff else config.enrolment.purpose),
        minor=args.minor,
        guardian_reference=args.guardian_consent,
        separate=args.separate_consent,
        written_release=args.written_release,
        profile=rules.profile,
        scope=args.scope,
        share_visits=args.share_visits,
    )
    check_consent(consent, rules)  # before the models load: a refused consent costs nothing
    path, gallery = _with_models(args)
    enroller = Enroller(path, config.enrolment, rules)
    photos = [Path(p) for p in args.photos]
    with Progress(f"checking {len(photos)} photo(s)") as progress:
        result = enroll_photos(gallery, enroller, member, consent, photos, progress if len(photos) > 3 else None)
    if args.json:
        emit(result.model_dump())
    else:
        kind = " onto the staff list" if args.staff else ""
        print(
            f"enrolled {result.member_id}{kind}: {result.added_vectors} photo(s) added, {result.total_vectors} in all"
        )
        for note in result.near_duplicates:
            print(f"  not stored twice: {note}")
        for note in result.others_ignored:
            print(f"  the member's face enrolled, {note}")
    return 0


def cmd_import(args: argparse.Namespace, emit: Any) -> int:
    """Enrol every member of a manifest (CSV or JSON Lines); one verdict per row; resumable."""
    from storelens.gallery.bulk import BulkImporter, GallerySink, read_manifest
    from storelens.gallery.enrol import Enroller

    config = _config(args)
    rules = config.privacy_rules()
    members, refused = read_manifest(Path(args.manifest), rules, config.enrolment)  # before the models load
    if not members:
        return report_import(refused, None, members, args.json, emit)
    path, gallery = _with_models(args)
    lookalikes: Literal["refuse", "note"] = "note" if args.allow_lookalikes else "refuse"
    enroller = Enroller(path, config.enrolment, rules)
    importer = BulkImporter(GallerySink(gallery), enroller, lookalikes, batch=args.batch, workers=args.workers)
    return report_import(refused, importer, members, args.json, emit)


def report_import(
    refused: list[Verdict], importer: BulkImporter | None, members: list[Member], json: bool, emit: Any
) -> int:
    """Run an import, printing one verdict per row as it comes (``json``: as JSON lines) and a summary.

    Returns:
        2 when a row was refused (the others done), else 0.
    """
    counts = {"enrolled": 0, "skipped": 0, "refused": 0}

    def report(v: Verdict) -> None:
        counts[v.status] += 1
        if json:
            emit(v.as_dict())
        elif v.status == "enrolled":
            print(f"row {v.row} {v.member_id}: enrolled, {v.photos} photo(s)" + (f" ({v.reason})" if v.reason else ""))
        else:
            print(f"row {v.row} {v.member_id or '(no member id)'}: {v.status}: {v.reason}")

    for v in refused:
        report(v)
    if importer is not None:
        with Progress(f"importing {len(members)} member(s)") as progress:
            for v in importer.run(members, progress):
                report(v)
    if not json:
        print(f"{counts['enrolled']} enrolled, {counts['skipped']} skipped, {counts['refused']} refused")
    return 2 if counts["refused"] else 0


def cmd_identify(args: argparse.Namespace, emit: Any) -> int:
    """Every face in each photo, with the member it belongs to or none."""
    from storelens.images import PhotoFrames

    path, gallery = _with_models(args)
    frames = PhotoFrames(args.photos)
    for photo, frame in frames:
        found = path.find(frame)
        matches = gallery.match(path.embed(found.frame, found.faces))
        rows = [
            {
                "bbox": [round(float(v), 1) for v in box],
                "det_score": round(float(score), 4),
                "quality": round(float(q), 4),
                # A face the quality gate stops (too dark, flat or noisy, turned away) is not named, as at the edge.
                "member_id": mid if q > 0 else None,
                "similarity": round(float(sim), 4),
            }
            for box, score, q, mid, sim in zip(
                found.faces.boxes,
                found.faces.scores,
                found.quality,
                matches.member_ids,
                matches.similarities,
                strict=True,
            )
        ]
        if args.json:
            emit({"photo": photo, "faces": rows})
        else:
            named = [str(r["member_id"]) for r in rows if r["member_id"]]
            print(f"{photo}: {len(rows)} face(s); members: {', '.join(named) if named else 'none'}")
    return 2 if frames.failed else 0


def cmd_remove(args: argparse.Namespace, emit: Any) -> int:
    """Erase a member and print the deletion receipt."""
    gallery = _gallery_only(args)
    receipt = gallery.remove(args.member_id)
    if args.json:
        emit(receipt.model_dump())
    else:
        print(
            f"deletion receipt: member {receipt.member_id} erased at {receipt.at}: {receipt.removed_vectors} "
            f"vector(s), {receipt.removed_photos} photo(s), {receipt.removed_consents} consent record(s) "
            "and all metadata removed"
        )
    return 0


def cmd_list(args: argparse.Namespace, emit: Any) -> int:
    """Enrolled members."""
    gallery = _gallery_only(args)
    members = gallery.members()
    for m in members:
        if args.json:
            emit(m.model_dump())
        else:
            print(
                f"{m.member_id:<20} {m.name:<24} {m.vectors} vector(s)  enrolled {m.enrolled_at}  "
                f"consent {m.consent_reference}" + ("  (staff)" if m.kind == "staff" else "")
            )
    if not args.json:
        print(f"{len(members)} member(s), {len(gallery)} vector(s)")
    return 0


def cmd_purge(args: argparse.Namespace, emit: Any) -> int:
    """Erase members not seen within the retention period (``--dry-run``: only list them)."""
    from storelens.privacy import DEFAULTS, MEMBER_RULE

    rules = _config(args).privacy_rules()
    cap = DEFAULTS[rules.profile].limit(MEMBER_RULE).most  # the profile's table bounds the flag as the setting
    if args.retention_days and cap is not None and args.retention_days > cap:
        raise ConfigError(
            f"--retention-days {args.retention_days}: privacy profile {rules.profile} allows at most {cap}"
        )
    gallery = _gallery_only(args)
    days = args.retention_days or rules.member_retention_days
    if args.dry_run:
        members = gallery.expired(days)
        for m in members:
            seen = m.last_seen_at or f"never (enrolled {m.enrolled_at})"
            if args.json:
                emit({"member_id": m.member_id, "last_seen_at": m.last_seen_at, "would_erase": True})
            else:
                print(f"would erase {m.member_id}: last seen {seen}, {m.vectors} vector(s)")
        if not args.json:
            print(f"dry run: {len(members)} member(s) not seen for {days} days would be erased; nothing was erased")
        return 0
    receipts = gallery.purge_expired(days)
    for r in receipts:
        if args.json:
            emit(r.model_dump())
        else:
            print(
                f"erased {r.member_id} at {r.at} ({r.reason}): {r.removed_vectors} vector(s), "
                f"{r.removed_photos} photo(s), {r.removed_consents} consent record(s), metadata removed"
            )
    if not args.json:
        print(f"{len(receipts)} member(s) erased (retention {days} days)")
    return 0


def add_import_arguments(sp: argparse.ArgumentParser) -> None:
    """The manifest and the flags of ``gallery import`` and ``hq import``."""
    sp.add_argument(
        "manifest",
        type=existing_file,
        metavar="MANIFEST",
        help="a .csv (header row; photos separated by ';') or .jsonl file: member_id, name, consent_reference, "
        "notice_version, purpose, separate_consent, written_release, minor, guardian_consent, share_visits, "
        "scope (home or chain), home_store (head office), photos (relative to the manifest's folder)",
    )
    sp.add_argument(
        "--allow-lookalikes",
        action="store_true",
        help="enrol a photo that looks like another member, with a note, instead of refusing the member",
    )
    sp.add_argument(
        "--workers", type=number(int, "--workers", ge=1, le=16), default=2, help="threads reading photos (1 to 16)"
    )
    sp.add_argument(
        "--batch",
        type=number(int, "--batch", ge=1, le=1000),
        default=64,
        help="members stored per transaction (1 to 1000; default 64): what a killed import can lose and redo",
    )


def add_gallery_commands(sub: Any, add: Any, emit: Any) -> None:
    """Register the gallery subcommands on the ``gallery`` parser."""

    def common(sp: argparse.ArgumentParser, creates: bool = False) -> None:
        if creates:  # enrolment makes the gallery when it is new
            sp.add_argument("--gallery", required=True, metavar="DIR", help="gallery directory (created if new)")
        else:  # reading a typo'd path must not create an empty gallery and report "0 members"
            sp.add_argument("--gallery", required=True, metavar="DIR", type=existing_gallery, help="gallery directory")
        sp.add_argument("--config", help="configuration file; default: built-in defaults")
        add_models_dir(sp, config=True)

    def bind(fn: Any) -> Any:
        return lambda args: fn(args, emit)

    sp = add(sub, "enroll", bind(cmd_enroll), "enrol one member from one or more photos (all or nothing)", True)
    common(sp, creates=True)
    add_enrolment_arguments(sp)
    sp.add_argument(
        "--staff",
        action="store_true",
        help="enrol onto the staff list (with their own consent): never announced, never counted as a visitor",
    )
    sp.add_argument(
        "--scope",
        choices=["home", "chain"],
        default="home",
        help="where the member agreed to be recognised: this store only (home, default) or every store of the chain "
        "(chain: head office sends them to the other boxes); either way the enrolment is reported to head office",
    )
    sp = add(
        sub,
        "import",
        bind(cmd_import),
        "enrol the members of a manifest (CSV or JSON Lines) in bulk; one verdict per row; a rerun resumes",
        True,
    )
    common(sp, creates=True)
    add_import_arguments(sp)
    sp = add(sub, "identify", bind(cmd_identify), "name the enrolled member of every face in each photo", True)
    common(sp)
    sp.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files (JPEG or PNG)")
    sp = add(sub, "remove", bind(cmd_remove), "erase a member: vectors, photos, metadata; prints a receipt", True)
    common(sp)
    add_member_id(sp)
    sp = add(sub, "list", bind(cmd_list), "enrolled members", True)
    common(sp)
    sp = add(sub, "purge", bind(cmd_purge), "erase members not seen within the retention period", True)
    common(sp)
    sp.add_argument(
        "--retention-days",
        type=bounded("storelens.config:GalleryConfig", "retention_days"),
        default=None,
        help="1 to 36500; default: the privacy profile's (storelens privacy show)",
    )
    sp.add_argument("--dry-run", action="store_true", help="list who would be erased, erase nothing")
