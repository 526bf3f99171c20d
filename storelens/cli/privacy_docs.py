"""The documents the privacy rules make: the entrance notice sign and the record of processing.

Both are generated from the effective configuration (``Config.privacy_rules()``), so that what the sign
and the record say is what the box does. The sign is drawn with matplotlib (PNG or PDF, A4 portrait);
the record is Markdown a data-protection officer can file or convert.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from storelens import __version__
from storelens.config import Config
from storelens.errors import ConfigError
from storelens.i18n import FONT_FAMILIES, N_, Translator
from storelens.privacy import DEFAULTS, PrivacyConfig, PrivacyRules


@dataclass(frozen=True)
class NoticeText:
    """What the entrance sign says in one language: a title, paragraphs as (heading, text) pairs, a footer."""

    title: str
    paragraphs: tuple[tuple[str, str], ...]
    footer: str
    language: str = "en"


def _recognition_sentence(tr: Translator, config: Config, rules: PrivacyRules) -> str:
    cameras = [c.id for c in config.cameras]
    if not rules.recognising_cameras:
        return tr.gettext(
            "Cameras at this entrance count how many people come in, from the outline of their bodies. No face "
            "is looked for, recognised or stored: the count is all that is kept."
        )
    if rules.recognising_cameras != set(cameras):  # members-only areas; a shopper is never told camera ids
        return tr.gettext(
            "Cameras at this entrance count how many people come in, without recognising anyone. Face "
            "recognition is used only in the store's members-only areas, for loyalty members who consented "
            "to it, so that staff can greet them."
        )
    return tr.gettext(
        "Cameras at this entrance detect faces and compare them with those of loyalty members who consented "
        "to face recognition, so that staff can greet them. If you are not such a member, no image or "
        "face template of you is stored."
    )


def _strangers_sentence(tr: Translator, config: Config, rules: PrivacyRules) -> str:
    if rules.visitor_reid:
        return tr.gettext(
            "To count each visitor once, a face seen here is remembered as an anonymous number for at most "
            "{hours} hours, in this store's device memory only; it is never written down or sent.",
            hours=tr.number(config.edge.visitor_ttl_hours),
        )
    return tr.gettext("People who are not consenting members are never identified, remembered or followed.")


# Who sets the rules, in words for a shopper (the profile's identifier and the record's wording stay internal).
RULES_FROM = {
    "cn": N_("the rules of China's face-recognition security measures and PIPL"),
    "eu": N_("the rules of the EU's GDPR"),
    "us-il": N_("the rules of Illinois' Biometric Information Privacy Act"),
    "custom": N_("the rules this store set"),
}


def notice_texts(config: Config, today: date | None = None) -> list[NoticeText]:
    """The sign's words in each of its languages (``privacy.sign_locales``, else ``store.locale``)."""
    locales = config.privacy.sign_locales or (config.store.locale,)
    return [notice_text(config, today, locale) for locale in locales]


def notice_text(config: Config, today: date | None = None, locale: str | None = None) -> NoticeText:
    """The words of the entrance sign for ``config`` in ``locale`` (default ``store.locale``).

    The sign says only what the box does under its effective rules.

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
    tr = Translator(locale or config.store.locale)
    rules = config.privacy_rules()
    recognising = bool(rules.recognising_cameras)
    what = _recognition_sentence(tr, config, rules)
    if recognising or rules.visitor_reid:
        what += " " + _strangers_sentence(tr, config, rules)
    why = (
        tr.gettext("Greeting loyalty members who asked for it, and counting visitors.")
        if recognising
        else tr.gettext("Counting visitors.")
    )
    no_video = tr.gettext("No video is recorded by this system and no image leaves the store.")
    paragraphs: list[tuple[str, str]] = [
        (tr.gettext("What the cameras do"), what),
        (tr.gettext("Why"), f"{why} {no_video}"),
    ]
    if recognising:
        route = p.non_face_route
        if route == PrivacyConfig.model_fields["non_face_route"].default:
            route = tr.gettext(route)  # the default words are in the catalogues; a store's own are its own
        paragraphs += [
            (
                tr.gettext("How long"),
                tr.gettext(
                    "A member's face template is erased {days} days after their last visit, or at once on "
                    "request. Visit records are kept {kept} days.",
                    days=rules.member_retention_days,
                    kept=rules.event_retention_days,
                ),
            ),
            (tr.gettext("Without your face"), route),
            (tr.gettext("Your choice"), _consent_sentence(tr, rules)),
        ]
    else:
        kept = tr.gettext("Visitor counts are kept {kept} days.", kept=rules.event_retention_days)
        paragraphs.append((tr.gettext("How long"), kept))
    paragraphs.append(
        (
            tr.gettext("Who is responsible"),
            tr.gettext(
                "{controller}. Questions, access to your data, erasure: {contact}.",
                controller=p.controller,
                contact=p.contact,
            ),
        )
    )
    footer = " · ".join(
        [
            tr.gettext("Notice version {version}", version=config.enrolment.notice_version),
            tr.gettext(RULES_FROM[rules.profile]),
            config.store.name or config.store.id,
            tr.date(today or date.today(), "long"),
        ]
    )
    title = (
        tr.gettext("Face recognition in this store") if recognising else tr.gettext("Visitor counting in this store")
    )
    return NoticeText(title, tuple(paragraphs), footer, tr.language)


def _consent_sentence(tr: Translator, rules: PrivacyRules) -> str:
    if rules.separate_consent and rules.written_release:
        needs = tr.gettext("your consent, given on its own, and a written release you sign")
    elif rules.separate_consent:
        needs = tr.gettext("your consent, given on its own")
    elif rules.written_release:
        needs = tr.gettext("your consent and a written release you sign")
    else:
        needs = tr.gettext("your consent")
    return tr.gettext(
        "Members are recognised only with {needs}; under {age}, with a guardian's consent. You can withdraw it "
        "at any time, and are served the same way without it.",
        needs=needs,
        age=rules.guardian_age,
    )


def wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` columns, a CJK character counting two.

    Written by hand: ``textwrap`` breaks only at spaces and counts every character as one column, so a
    Chinese paragraph (no spaces, double-width characters) would come out as one line off the page.
    """
    lines: list[str] = []
    line, used = "", 0
    for word in re.findall(r"[\u2e80-\u9fff\uff00-\uffef][，。；：、）」]?\s*|\S+\s*", text):
        cost = columns(word.rstrip())
        if line and used + cost > width:
            lines.append(line.rstrip())
            line, used = "", 0
        line += word
        used += cost + (len(word) - len(word.rstrip()))
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def columns(text: str) -> int:
    """The width of ``text`` in columns, a wide (CJK) character counting two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_notice(notices: list[NoticeText], fmt: str) -> bytes:
    """The sign as an A4 portrait page, ``fmt`` "png" (150 dpi) or "pdf".

    One language, or two one above the other in each paragraph (the second in grey), in the largest type that
    fits the page.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, Rectangle

    # WenQuanYi has no bold face: matplotlib uses the regular one, and would log that for every heading
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    first = notices[0]
    size, bodies = _fit(notices)
    with plt.rc_context({"font.family": FONT_FAMILIES}):
        fig = plt.figure(figsize=(8.27, 11.69), dpi=150)
        fig.patch.set_facecolor("white")
        fig.add_artist(Rectangle((0.04, 0.03), 0.92, 0.94, fill=False, lw=3, ec=INK, transform=fig.transFigure))
        titles = [n.title for n in notices]
        fig.text(0.5, 0.935, titles[0], ha="center", va="top", fontsize=_title_size(titles[0], 24), weight="bold",
                 color=INK)  # fmt: skip
        if len(titles) > 1:
            fig.text(0.5, 0.895, titles[1], ha="center", va="top", fontsize=_title_size(titles[1], 17), color=GREY)
        squash = 8.27 / 11.69  # figure fractions: a circle is this much shorter than wide
        mark = (0.5, 0.835)
        fig.add_artist(Ellipse(mark, 0.06, 0.06 * squash, fill=False, lw=3, ec=INK, transform=fig.transFigure))
        fig.add_artist(Ellipse(mark, 0.02, 0.02 * squash, color=INK, transform=fig.transFigure))
        y = 0.785
        line = size * LINE_PER_POINT
        for index in range(len(first.paragraphs)):
            headings = " / ".join(dict.fromkeys(n.paragraphs[index][0] for n in notices))
            fig.text(0.08, y, headings, ha="left", va="top", fontsize=size + 3, weight="bold", color=INK)
            y -= line * 1.5
            for which, body in enumerate(bodies[index]):
                fig.text(0.08, y, body, ha="left", va="top", fontsize=size, linespacing=1.4,
                         color="black" if which == 0 else GREY)  # fmt: skip
                y -= line * (body.count("\n") + 1) + line * 0.5
            y -= line * 0.6
        footer = "\n".join(wrap(n.footer, 110) for n in notices)
        fig.text(0.5, 0.05, footer, ha="center", va="bottom", fontsize=8, color="#555555")
        out = io.BytesIO()
        fig.savefig(out, format=fmt)
        plt.close(fig)
    return out.getvalue()


INK, GREY = "#1d3557", "#4a5568"
LINE_PER_POINT = 0.00185  # a line of 1 pt type at 1.4 spacing, in A4 figure heights
ROOM = 0.68  # the height paragraphs may fill, between the mark and the footer


def _title_size(title: str, largest: float) -> float:
    """The type size at which ``title`` fits inside the frame (about 0.62 em a column, 500 pt of width)."""
    return min(largest, 500 / (0.62 * max(1, columns(title))))


def _fit(notices: list[NoticeText]) -> tuple[float, list[list[str]]]:
    """The largest type size (11.5 pt down to 7) at which every paragraph fits, and the wrapped bodies."""
    size = 11.5
    while True:
        width = int(78 * 11.5 / size)
        bodies = [[wrap(n.paragraphs[i][1], width) for n in notices] for i in range(len(notices[0].paragraphs))]
        lines = sum(b.count("\n") + 1.5 for group in bodies for b in group) + 2.1 * len(bodies)
        if lines * size * LINE_PER_POINT <= ROOM or size <= 7:
            return size, bodies
        size -= 0.5


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
