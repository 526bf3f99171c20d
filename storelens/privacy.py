"""Jurisdiction profiles: one setting (``privacy.profile``) that sets every privacy rule together.

A profile fixes what its law requires and gives defaults for the rest; the configuration may make a
rule stricter, never looser (a looser setting is refused when the file is loaded, naming the rule and
the law). ``PrivacyRules`` is the effective result, each rule with where it comes from; the pipeline,
enrolment, retention purges, the notice sign and the record of processing all read it, and
``storelens privacy show`` prints it.

The profiles encode the rules as this product applies them; they are not legal advice:

- ``cn``: China's face-recognition security measures (in force 2025-06-01) and PIPL: separate consent,
  a guardian's consent under 14, a notice sign at the entrance, an alternative to the face, storage on
  the box, the shortest retention that serves the purpose.
- ``eu``: GDPR Art. 9 (a face template that singles a person out is special-category data) and Art. 8:
  explicit, separate consent; no face of a person who did not consent is embedded, so face recognition
  runs only in spaces the operator declares members-only and elsewhere the box counts without faces.
- ``us-il``: Illinois BIPA: a written release before any template is kept, a published retention
  schedule, destruction at most three years after the member's last interaction.
- ``custom``: every rule from the configuration (the defaults are those of the box before profiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storelens.i18n import N_, LocaleName

Profile = Literal["cn", "eu", "us-il", "custom"]
PROFILES: tuple[Profile, ...] = ("cn", "eu", "us-il", "custom")
US_IL_MAX_RETENTION_DAYS = 3 * 365  # BIPA s. 15(a): destroyed within 3 years of the last interaction


@dataclass(frozen=True)
class Limit:
    """How long a profile keeps one kind of data: the default, and the longest a setting may make it.

    Attributes:
        rule: the rule's key (``privacy show``).
        setting: the configuration setting that changes it.
        default: days, when the setting is not given.
        most: the longest the setting may be, in days (None: no bound by this profile).
        meaning: what the rule does.
    """

    rule: str
    setting: str
    default: int
    most: int | None
    meaning: str


def _limits(
    member: tuple[int, int | None], events: tuple[int, int | None], log: tuple[int, int | None]
) -> tuple[Limit, ...]:
    return (
        Limit(MEMBER_RULE, "gallery.retention_days", *member, "erased this long after the last visit"),
        Limit(EVENT_RULE, "privacy.event_retention_days", *events, "arrivals, visitors, footfall deleted after"),
        Limit(ACCESS_RULE, "api.access_log_days", *log, "reads of members' data kept"),
    )


MEMBER_RULE, EVENT_RULE, ACCESS_RULE = (
    "retention.member_biometrics_days",
    "retention.event_history_days",
    "retention.access_log_days",
)


@dataclass(frozen=True)
class ProfileDefaults:
    """What a profile fixes (``*_required``/``*_fixed``, the limits' ``most``) and what it merely defaults.

    Every bound here is enforced by :func:`derive_rules` from this table, for every setting that changes it.
    """

    law: str
    separate_consent: bool  # required by law when True
    written_release: bool  # required by law when True
    guardian_age: int
    guardian_age_fixed: bool
    guardian_age_range: tuple[int, int]
    retention: tuple[Limit, ...]
    faces_of_non_consenting: Literal["embedded", "members-only spaces"]
    visitor_reid: Literal["on", "with notice sign", "never"]

    def limit(self, rule: str) -> Limit:
        """The retention limit of ``rule``."""
        return next(x for x in self.retention if x.rule == rule)


DEFAULTS: dict[Profile, ProfileDefaults] = {
    "cn": ProfileDefaults(
        law="China: face-recognition security measures (2025) and PIPL",
        separate_consent=True,
        written_release=False,
        guardian_age=14,
        guardian_age_fixed=True,
        guardian_age_range=(14, 14),
        # the shortest retention that serves the purpose: a year after the last visit, a year of history
        retention=_limits((365, 365), (365, 365), (365, None)),
        faces_of_non_consenting="embedded",
        visitor_reid="with notice sign",
    ),
    "eu": ProfileDefaults(
        law="EU: GDPR Art. 8 and 9 (and the AI Act)",
        separate_consent=True,
        written_release=False,
        guardian_age=16,
        guardian_age_fixed=False,
        guardian_age_range=(13, 16),  # Art. 8(1): member states may set 13 to 16
        retention=_limits((365, 365), (365, 365), (365, None)),  # Art. 5(1)(e): no longer than necessary
        faces_of_non_consenting="members-only spaces",
        visitor_reid="never",
    ),
    "us-il": ProfileDefaults(
        law="Illinois: Biometric Information Privacy Act (740 ILCS 14)",
        separate_consent=False,
        written_release=True,
        guardian_age=18,
        guardian_age_fixed=False,
        guardian_age_range=(13, 21),
        retention=_limits(
            (US_IL_MAX_RETENTION_DAYS, US_IL_MAX_RETENTION_DAYS),
            (US_IL_MAX_RETENTION_DAYS, US_IL_MAX_RETENTION_DAYS),  # arrivals name members recognised by face
            (365, None),
        ),
        faces_of_non_consenting="embedded",
        visitor_reid="with notice sign",
    ),
    "custom": ProfileDefaults(
        law="none chosen: every rule from the configuration",
        separate_consent=False,
        written_release=False,
        guardian_age=14,
        guardian_age_fixed=False,
        guardian_age_range=(13, 21),
        retention=_limits((1095, None), (730, None), (365, None)),
        faces_of_non_consenting="embedded",
        visitor_reid="on",
    ),
}


class PrivacyConfig(BaseModel):
    """The privacy profile and the settings a profile leaves open (``None``: the profile's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile = Field(
        default="custom", description="cn, eu, us-il or custom: the law the box applies (storelens privacy show)"
    )
    controller: str = Field(
        default="", max_length=200, description="Who is responsible for the processing (name, address): on the notice"
    )
    contact: str = Field(
        default="", max_length=200, description="Where people exercise their rights (e-mail, desk): on the notice"
    )
    non_face_route: str = Field(
        default=N_("Give your phone number or show your member code to an associate: you are served the same way."),
        min_length=1,
        max_length=300,
        description="How a member gets VIP service without the face: on the notice sign",
    )
    notice_posted: bool = Field(
        default=False,
        description="The entrance notice sign (storelens privacy notice) is posted: cn and us-il re-identify "
        "anonymous visitors only then",
    )
    separate_consent: bool | None = Field(
        default=None, description="Consent records must say the consent was given on its own (--separate-consent)"
    )
    written_release: bool | None = Field(
        default=None, description="Consent records must carry a signed written release reference (--written-release)"
    )
    guardian_age: int | None = Field(
        default=None, ge=13, le=21, description="Below this age a guardian's consent is required"
    )
    event_retention_days: int | None = Field(
        default=None, ge=1, le=36_500, description="Event history (arrivals, visitors, footfall) kept this long"
    )
    visitor_reid: bool | None = Field(
        default=None,
        description="Re-identify anonymous visitors (short-lived embeddings in memory) for unique-visitor counts",
    )
    sign_locales: tuple[LocaleName, ...] = Field(
        default=(),
        max_length=2,
        description='The notice sign\'s languages, as CLDR locales (e.g. ["fr_FR", "en_GB"] for a bilingual '
        "sign); empty: store.locale alone",
    )

    @field_validator("sign_locales")
    @classmethod
    def _once_each(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a locale is named twice")
        return value


@dataclass(frozen=True)
class Rule:
    """One effective rule: its value, where it comes from, and what it means."""

    key: str
    value: str
    source: str
    meaning: str


@dataclass(frozen=True)
class PrivacyRules:
    """The effective privacy rules of one box.

    Attributes:
        profile: the profile in force.
        separate_consent: enrolment needs a consent given on its own.
        written_release: enrolment needs a written release reference.
        guardian_age: below this age a guardian's consent reference is needed.
        member_retention_days: a member's biometrics are erased this long after their last visit.
        event_retention_days: event history is deleted after this long.
        access_log_days: reads of members' data are kept this long.
        recognising_cameras: cameras whose faces are embedded (empty: count-only everywhere).
        visitor_reid: anonymous visitors are re-identified (unique visitors are counted).
        notice_posted: the operator says the entrance notice is posted.
        rules: every rule with its source, for ``privacy show`` and the record of processing.
    """

    profile: Profile
    separate_consent: bool
    written_release: bool
    guardian_age: int
    member_retention_days: int
    event_retention_days: int
    access_log_days: int
    recognising_cameras: frozenset[str]
    visitor_reid: bool
    notice_posted: bool
    rules: tuple[Rule, ...] = field(default=())

    def recognises(self, camera_id: str) -> bool:
        """Whether faces seen by ``camera_id`` are embedded (matched against the members)."""
        return camera_id in self.recognising_cameras

    def consent_problems(self, separate: bool, written_release: str | None) -> list[str]:
        """What a consent record lacks under this profile (empty: nothing).

        The guardian rule (a minor needs ``guardian_reference``) holds under every profile and is
        checked by the consent record itself; this adds what the profile requires on top.
        """
        problems = []
        if self.separate_consent and not separate:
            problems.append(
                f"privacy profile {self.profile} requires separate consent: the member agreed to face recognition "
                "on its own, not within other terms (--separate-consent)"
            )
        if self.written_release and not (written_release or "").strip():
            problems.append(
                f"privacy profile {self.profile} requires the reference of the member's signed written release "
                "(--written-release REF)"
            )
        return problems


def _stricter(name: str, configured: bool | None, required: bool, profile: Profile, law: str) -> tuple[bool, str]:
    if configured is None:
        return required, f"profile {profile}" + (" (required by law)" if required and profile != "custom" else "")
    if required and not configured and profile != "custom":
        raise ValueError(f"privacy.{name} = false is looser than profile {profile} allows ({law})")
    return configured, f"privacy.{name} in the configuration"


def derive_rules(
    privacy: PrivacyConfig,
    *,
    member_retention_days: int | None,
    access_log_days: int,
    recognition_enabled: bool,
    cameras: list[tuple[str, bool]],
) -> PrivacyRules:
    """The effective rules of ``privacy`` on a box with these settings.

    Args:
        privacy: the ``[privacy]`` section.
        member_retention_days: ``gallery.retention_days`` (None: the profile's).
        access_log_days: ``api.access_log_days``.
        recognition_enabled: ``recognition.enabled`` (False: count-only everywhere).
        cameras: (camera id, declared members-only) for every camera.

    Raises:
        ValueError: a setting looser than the profile allows, naming it and the law.
    """
    p = privacy.profile
    d = DEFAULTS[p]
    rules: list[Rule] = [Rule("profile", p, "privacy.profile", d.law)]

    separate, src = _stricter("separate_consent", privacy.separate_consent, d.separate_consent, p, d.law)
    rules.append(Rule("consent.separate", _yn(separate), src, "consent to face recognition given on its own"))
    release, src = _stricter("written_release", privacy.written_release, d.written_release, p, d.law)
    rules.append(Rule("consent.written_release", _yn(release), src, "a signed written release is referenced"))

    low, high = d.guardian_age_range
    if privacy.guardian_age is None:
        age, src = d.guardian_age, f"profile {p}"
    elif d.guardian_age_fixed and privacy.guardian_age != d.guardian_age:
        raise ValueError(f"privacy.guardian_age: profile {p} fixes it at {d.guardian_age} ({d.law})")
    elif not low <= privacy.guardian_age <= high:
        raise ValueError(
            f"privacy.guardian_age: profile {p} allows {low} to {high}, got {privacy.guardian_age} ({d.law})"
        )
    else:
        age, src = privacy.guardian_age, "privacy.guardian_age in the configuration"
    rules.append(Rule("consent.guardian_age", str(age), src, "below this age a guardian's consent is required"))

    configured = {
        "gallery.retention_days": member_retention_days,
        "privacy.event_retention_days": privacy.event_retention_days,
        "api.access_log_days": access_log_days,
    }
    days: dict[str, int] = {}
    for limit in d.retention:  # every bound of the profile's table, whichever setting changes it
        value = configured[limit.setting]
        if value is None:
            days[limit.rule], src = limit.default, f"profile {p}"
        elif limit.most is not None and value > limit.most:
            raise ValueError(
                f"{limit.setting} = {value}: {limit.rule} is at most {limit.most} days under profile {p} ({d.law})"
            )
        else:
            days[limit.rule], src = value, f"{limit.setting} in the configuration"
        if limit.most is not None:
            src += f"; at most {limit.most} under the profile"
        rules.append(Rule(limit.rule, str(days[limit.rule]), src, limit.meaning))
    keep, events, access_log_days = days[MEMBER_RULE], days[EVENT_RULE], days[ACCESS_RULE]

    if not recognition_enabled:
        faces, src = frozenset[str](), "recognition.enabled = false (count-only)"
        meaning = "no face is embedded anywhere: footfall only, VIPs by phone or member code"
    elif d.faces_of_non_consenting == "members-only spaces":
        faces = frozenset(cid for cid, members_only in cameras if members_only)
        src = f"profile {p}: only cameras with members_only = true"
        meaning = "faces of people who did not consent are never embedded: elsewhere count-only"
    else:
        faces, src = frozenset(cid for cid, _ in cameras), f"profile {p}"
        meaning = "every face is embedded to find the members among them; strangers are not kept"
    shown = ", ".join(sorted(faces)) if faces else "none (count-only)"
    rules.append(Rule("faces.recognised_on_cameras", shown, src, meaning))

    reid, src = _visitor_reid(privacy, d, bool(faces))
    rules.append(
        Rule(
            "faces.visitor_reidentification",
            "on" if reid else "off",
            src,
            "strangers as short-lived embeddings in memory, so unique visitors are counted"
            if reid
            else "strangers are not re-identified: reports say unique visitors are unavailable",
        )
    )
    rules.append(
        Rule(
            "notice.posted",
            "yes" if privacy.notice_posted else "no",
            "privacy.notice_posted",
            "entrance sign: privacy notice",
        )
    )
    return PrivacyRules(
        profile=p,
        separate_consent=separate,
        written_release=release,
        guardian_age=age,
        member_retention_days=keep,
        event_retention_days=events,
        access_log_days=access_log_days,
        recognising_cameras=faces,
        visitor_reid=reid,
        notice_posted=privacy.notice_posted,
        rules=tuple(rules),
    )


def _visitor_reid(privacy: PrivacyConfig, d: ProfileDefaults, any_faces: bool) -> tuple[bool, str]:
    p = privacy.profile
    if d.visitor_reid == "never" and privacy.visitor_reid:
        raise ValueError(
            f"privacy.visitor_reid = true: profile {p} never re-identifies people who did not consent ({d.law})"
        )
    if d.visitor_reid == "with notice sign" and privacy.visitor_reid and not privacy.notice_posted:
        raise ValueError(
            f"privacy.visitor_reid = true: profile {p} re-identifies visitors only with the notice sign posted "
            f"(privacy.notice_posted = true; {d.law})"
        )
    if not any_faces:
        return False, "no camera embeds faces"
    if privacy.visitor_reid is not None:
        return privacy.visitor_reid, "privacy.visitor_reid in the configuration"
    if d.visitor_reid == "with notice sign":
        return privacy.notice_posted, f"profile {p}: on only with privacy.notice_posted = true"
    return d.visitor_reid == "on", f"profile {p}"


def _yn(value: bool) -> str:
    return "required" if value else "not required"
