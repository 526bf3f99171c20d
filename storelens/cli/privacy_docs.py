"""The documents the privacy rules make: the entrance notice sign and the record of processing.

Both are generated from the effective configuration (``Config.privacy_rules()``), so that what the sign
and the record say is what the box does. The sign is drawn with matplotlib (PNG or PDF, A4 portrait);
the record is Markdown a data-protection officer can file or convert.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from storelens import __version__
from storelens.config import Config
from storelens.errors import ConfigError
from storelens.privacy import DEFAULTS, PrivacyRules


@dataclass(frozen=True)
class NoticeText:
    """What the entrance sign says: a title and paragraphs, each a (heading, text) pair."""

    title: str
    paragraphs: tuple[tuple[str, str], ...]
    footer: str


def _recognition_sentence(config: Config, rules: PrivacyRules) -> str:
    cameras = [c.id for c in config.cameras]
    if not rules.recognising_cameras:
        return (
            "Cameras at this entrance count how many people come in. No face is recognised and no face is "
            "stored: the count is all that is kept."
        )
    if rules.recognising_cameras != set(cameras):  # members-only areas; a shopper is never told camera ids
        return (
            "Cameras at this entrance count how many people come in, without recognising anyone. Face "
            "recognition is used only in the store's members-only areas, for loyalty members who consented "
            "to it, so that staff can greet them."
        )
    return (
        "Cameras at this entrance detect faces and compare them with those of loyalty members who consented "
        "to face recognition, so that staff can greet them. If you are not such a member, no image or "
        "face template of you is stored."
    )


def _strangers_sentence(config: Config, rules: PrivacyRules) -> str:
    if rules.visitor_reid:
        hours = config.edge.visitor_ttl_hours
        return (
            f"To count each visitor once, a face seen here is remembered as an anonymous number for at most "
            f"{hours:g} hours, in this store's device memory only; it is never written down or sent."
        )
    return "People who are not consenting members are never identified, remembered or followed."


# Who sets the rules, in words for a shopper (the profile's identifier and the record's wording stay internal).
RULES_FROM = {
    "cn": "the rules of China's face-recognition security measures and PIPL",
    "eu": "the rules of the EU's GDPR",
    "us-il": "the rules of Illinois' Biometric Information Privacy Act",
    "custom": "the rules this store set",
}


def notice_text(config: Config, today: date | None = None) -> NoticeText:
    """The words of the entrance sign for ``config``: only what the box does under its effective rules.

    Where no camera recognises anyone, the sign says so and nothing else about members: no greeting, no
    face template, no consent to give. It names no internal identifier (purpose, profile or camera ids).

    Raises:
        ConfigError: ``privacy.controller`` or ``privacy.contact`` is empty (a sign must name both).
    """
    p = config.privacy
    for name in ("controller", "contact"):
        if not getattr(p, name).strip():
            raise ConfigError(
                f"privacy.{name} is not set: the notice sign must name who is responsible and how to reach them"
            )
    rules = config.privacy_rules()
    recognising = bool(rules.recognising_cameras)
    what = _recognition_sentence(config, rules)
    if recognising or rules.visitor_reid:
        what += " " + _strangers_sentence(config, rules)
    why = "Greeting loyalty members who asked for it, and counting visitors." if recognising else "Counting visitors."
    kept = f"Visit records are kept {rules.event_retention_days} days."
    paragraphs: list[tuple[str, str]] = [
        ("What the cameras do", what),
        ("Why", why + " No video is recorded by this system and no image leaves the store."),
    ]
    if recognising:
        keep = rules.member_retention_days
        paragraphs += [
            ("How long", f"A member's face template is erased {keep} days after their last visit, or at once on "
             f"request. {kept}"),
            ("Without your face", p.non_face_route),
            ("Your choice", _consent_sentence(rules)),
        ]  # fmt: skip
    else:
        paragraphs.append(("How long", kept.replace("Visit records", "Visitor counts")))
    paragraphs.append(("Who is responsible", f"{p.controller}. Questions, access to your data, erasure: {p.contact}."))
    day = (today or date.today()).isoformat()
    footer = (
        f"Notice version {config.enrolment.notice_version} · {RULES_FROM[rules.profile]} · "
        f"{config.store.name or config.store.id} · {day}"
    )
    title = "Face recognition in this store" if recognising else "Visitor counting in this store"
    return NoticeText(title, tuple(paragraphs), footer)


def _consent_sentence(rules: PrivacyRules) -> str:
    needs = ["your consent, given on its own" if rules.separate_consent else "your consent"]
    if rules.written_release:
        needs.append("a written release you sign")
    text = (
        f"Members are recognised only with {' and '.join(needs)}; under {rules.guardian_age}, with a guardian's "
        "consent. You can withdraw it at any time, and are served the same way without it."
    )
    return text


def render_notice(notice: NoticeText, fmt: str) -> bytes:
    """The sign as an A4 portrait page, ``fmt`` "png" (150 dpi) or "pdf"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, Rectangle

    fig = plt.figure(figsize=(8.27, 11.69), dpi=150)
    fig.patch.set_facecolor("white")
    fig.add_artist(Rectangle((0.04, 0.03), 0.92, 0.94, fill=False, lw=3, ec="#1d3557", transform=fig.transFigure))
    fig.text(0.5, 0.925, notice.title, ha="center", va="top", fontsize=26, weight="bold", color="#1d3557")
    squash = 8.27 / 11.69  # figure fractions: a circle is this much shorter than wide
    fig.add_artist(Ellipse((0.5, 0.84), 0.07, 0.07 * squash, fill=False, lw=3, ec="#1d3557", transform=fig.transFigure))
    fig.add_artist(Ellipse((0.5, 0.84), 0.024, 0.024 * squash, color="#1d3557", transform=fig.transFigure))
    y = 0.78
    for heading, text in notice.paragraphs:
        fig.text(0.08, y, heading, ha="left", va="top", fontsize=15, weight="bold", color="#1d3557")
        y -= 0.028
        body = textwrap.fill(text, width=78)
        fig.text(0.08, y, body, ha="left", va="top", fontsize=11.5, linespacing=1.4)
        y -= 0.0215 * (body.count("\n") + 1) + 0.03
    fig.text(0.5, 0.05, textwrap.fill(notice.footer, 100), ha="center", va="bottom", fontsize=8, color="#555555")
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return out.getvalue()


def _where(url: str) -> str:
    """A database or broker address without its credentials (a record names places, never secrets)."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return f"SQLite file {url.split(':///', 1)[-1]} on this box"
    host = parts.hostname or "?"
    return f"{parts.scheme.split('+')[0]} at {host}" + (f":{parts.port}" if parts.port else "")


def processing_record(config: Config, today: date | None = None) -> str:
    """The record of processing (GDPR Art. 30 style) for this box, as Markdown."""
    rules = config.privacy_rules()
    p = config.privacy
    reid = rules.visitor_reid
    recognising = ", ".join(sorted(rules.recognising_cameras)) or "none (count-only)"
    events_db = _where(config.api.database_url)
    keep_events = f"{rules.event_retention_days} days"
    rows = [
        (
            "Entrance cameras: face detection and tracking",
            "count entries; find consenting members",
            "video frames of everyone passing (in memory only, a few seconds; never stored or sent)",
            "every visitor",
            "memory of this box",
            "seconds",
            "nobody",
        ),
        (
            "Member face recognition",
            f"{config.enrolment.purpose}: greet members who consented",
            "face templates of consenting members (vectors, no photo"
            + (", enrolment photos kept" if config.gallery.keep_photos else "")
            + f"); consent records; cameras: {recognising}",
            "loyalty members with recorded consent",
            f"gallery {config.gallery.dir} (SQLite + FAISS) on this box",
            f"{rules.member_retention_days} days after the last visit, or until erased",
            "administrators (admin tokens); the edge process",
        ),
        (
            "Anonymous visitor re-identification",
            "count unique visitors",
            "one face template per stranger, in memory only" if reid else "none: off under these rules",
            "visitors who are not consenting members" if reid else "-",
            "memory of this box" if reid else "-",
            f"{config.edge.visitor_ttl_hours:g} hours after last seen" if reid else "-",
            "nobody (never displayed, written or sent)" if reid else "-",
        ),
        (
            "VIP arrivals and footfall events",
            "tell associates a member arrived; footfall reports",
            "member id, time, camera; counts per interval with random tokens (no biometrics)",
            "members; visitors (counts only)",
            f"outbox {config.edge.outbox}, then the event store ({events_db})",
            keep_events,
            "associates (arrivals, today's counts), administrators (reports)",
        ),
        (
            "Member profiles (CRM)",
            "serve members: sizes, preferences, notes",
            "name, tier, phone, member code, sizes, preferences, notes, card photo with photo consent",
            "loyalty members",
            f"event store ({events_db}); card photos in {config.api.photos_dir}",
            "until erased",
            "associates (card on arrival or lookup), administrators",
        ),
        (
            "Access log",
            "accountability: who read a member's data",
            "token name and role, what was read, when, why",
            "staff using the API or CLI",
            f"event store ({events_db})",
            f"{rules.access_log_days} days",
            "administrators",
        ),
    ]
    lines = [
        f"# Record of processing: store {config.store.id}" + (f" ({config.store.name})" if config.store.name else ""),
        "",
        f"Generated by StoreLens {__version__} on {(today or date.today()).isoformat()} from the box's effective "
        "configuration (`storelens privacy record`). What it says is what the box is configured to do.",
        "",
        f"- **Controller:** {p.controller or '(privacy.controller not set)'}",
        f"- **Contact for data-subject rights:** {p.contact or '(privacy.contact not set)'}",
        f"- **Privacy profile:** {rules.profile}: {DEFAULTS[rules.profile].law}",
        f"- **Store time zone:** {config.store.timezone}",
        f"- **Notice sign posted:** {'yes' if rules.notice_posted else 'no'} (notice version "
        f"{config.enrolment.notice_version})",
        "",
        "## Processing activities",
        "",
        "| activity | purpose | data | people | where stored | kept | who can access |",
        "|---|---|---|---|---|---|---|",
        *["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows],
        "",
        "## Recipients and transfers",
        "",
        f"- Events (no image, no face template) go to the store's MQTT broker, {_where(config.mqtt.url)}"
        f"{' over TLS' if config.mqtt.url.startswith('mqtts') else ''}; credentials are kept as secrets.",
        "- No video frame, face image or face template leaves this box.",
        "",
        "## Security measures",
        "",
        "- API access by bearer tokens with roles (admin, associate); tokens stored hashed; failed tokens "
        "rate-limited.",
        f"- API over {'HTTPS' if config.api.tls_cert_file else 'HTTP (set api.tls_cert_file for HTTPS)'}.",
        "- Gallery database with secure_delete on; erasure checkpoints the write-ahead log; each erasure leaves a "
        "receipt, never the member's id.",
        "- Every read of a member's card, photo, consent or export is in the access log.",
        "",
        "## Data-subject rights",
        "",
        "- Access: `storelens privacy export --member-id ID` (or `GET /api/v1/members/{id}/export`).",
        "- Erasure: `storelens gallery remove` / `DELETE /api/v1/members/{id}`, with a receipt.",
        "- Who looked: `storelens privacy access-log --member-id ID`.",
        "",
        "## Effective rules",
        "",
        "| rule | value | source |",
        "|---|---|---|",
        *[f"| {r.key} | {r.value} | {r.source} |" for r in rules.rules],
        "",
    ]
    return "\n".join(lines)
