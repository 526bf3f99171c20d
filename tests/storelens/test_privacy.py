"""Privacy profiles: each profile's effective rules, settings looser than a profile refused, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storelens.config import Config, load_config
from storelens.errors import ConfigError
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml

CAMERAS = [{"id": "door", "source": "0"}, {"id": "lounge", "source": "1", "members_only": True}]


def config(profile: str, privacy: dict[str, Any] | None = None, **sections: Any) -> Config:
    return Config.model_validate(
        {"store": {"id": "s"}, "cameras": CAMERAS, "privacy": {"profile": profile, **(privacy or {})}, **sections}
    )


def effective(cfg: Config) -> dict[str, str]:
    return {r.key: r.value for r in cfg.privacy_rules().rules}


# profile, privacy settings, other sections -> rules that must hold (value, and a word of the source)
PROFILE_CASES = [
    ("cn", {}, {}, {"consent.separate": ("required", "by law"), "consent.written_release": ("not required", "cn"),
                    "consent.guardian_age": ("14", "cn"), "retention.member_biometrics_days": ("365", "cn"),
                    "faces.recognised_on_cameras": ("door, lounge", "cn"),
                    "faces.visitor_reidentification": ("off", "notice_posted")}),
    ("cn", {"notice_posted": True}, {}, {"faces.visitor_reidentification": ("on", "notice_posted"),
                                         "notice.posted": ("yes", "privacy.notice_posted")}),
    ("eu", {}, {}, {"consent.separate": ("required", "by law"), "consent.guardian_age": ("16", "eu"),
                    "faces.recognised_on_cameras": ("lounge", "members_only"),
                    "faces.visitor_reidentification": ("off", "eu")}),
    ("eu", {"guardian_age": 13, "event_retention_days": 90}, {},
     {"consent.guardian_age": ("13", "configuration"), "retention.event_history_days": ("90", "configuration")}),
    ("us-il", {}, {}, {"consent.separate": ("not required", "us-il"), "consent.written_release": ("required", "law"),
                       "consent.guardian_age": ("18", "us-il"),
                       "retention.member_biometrics_days": ("1095", "at most 1095 under the profile"),
                       "faces.visitor_reidentification": ("off", "notice_posted")}),
    ("us-il", {}, {"gallery": {"retention_days": 400}}, {"retention.member_biometrics_days": ("400", "gallery")}),
    ("custom", {}, {}, {"consent.separate": ("not required", "custom"), "consent.guardian_age": ("14", "custom"),
                        "retention.member_biometrics_days": ("1095", "custom"),
                        "faces.recognised_on_cameras": ("door, lounge", "custom"),
                        "faces.visitor_reidentification": ("on", "custom")}),
    ("custom", {"separate_consent": True, "visitor_reid": False}, {},
     {"consent.separate": ("required", "configuration"), "faces.visitor_reidentification": ("off", "configuration")}),
    ("cn", {"notice_posted": True}, {"recognition": {"enabled": False}},
     {"faces.recognised_on_cameras": ("none (count-only)", "recognition.enabled = false"),
      "faces.visitor_reidentification": ("off", "no camera embeds faces")}),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "privacy", "sections", "expected"), PROFILE_CASES)
def test_each_profile_sets_its_rules_with_their_source(profile, privacy, sections, expected) -> None:
    cfg = config(profile, privacy, **sections)
    rules = {r.key: r for r in cfg.privacy_rules().rules}
    for key, (value, source_word) in expected.items():
        assert rules[key].value == value, key
        assert source_word in rules[key].source, (key, rules[key].source)


def test_the_rules_object_agrees_with_what_show_prints() -> None:
    eu = config("eu").privacy_rules()
    assert (eu.recognises("door"), eu.recognises("lounge"), eu.visitor_reid) == (False, True, False)
    assert eu.consent_problems(separate=False, written_release=None) != []
    assert eu.consent_problems(separate=True, written_release=None) == []
    us = config("us-il").privacy_rules()
    assert us.consent_problems(separate=False, written_release="  ") != []
    assert us.consent_problems(separate=False, written_release="WR-1") == []


LOOSER = [
    ("cn", {"separate_consent": False}, {}, "privacy.separate_consent = false is looser than profile cn"),
    ("eu", {"separate_consent": False}, {}, "looser than profile eu"),
    ("us-il", {"written_release": False}, {}, "privacy.written_release = false is looser than profile us-il"),
    ("cn", {"guardian_age": 16}, {}, "profile cn fixes it at 14"),
    ("eu", {"guardian_age": 18}, {}, "profile eu allows 13 to 16"),
    ("us-il", {}, {"gallery": {"retention_days": 1096}}, "is at most 1095 days under profile us-il"),
    ("eu", {"visitor_reid": True}, {}, "profile eu never re-identifies"),
    ("cn", {"visitor_reid": True}, {}, "only with the notice sign posted"),
    ("us-il", {"visitor_reid": True}, {}, "only with the notice sign posted"),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "privacy", "sections", "message"), LOOSER)
def test_a_setting_looser_than_the_profile_is_refused_at_load(tmp_path, profile, privacy, sections, message) -> None:
    path = write_toml(
        tmp_path / "c.toml",
        {"store": {"id": "s"}, "cameras": CAMERAS, "privacy": {"profile": profile, **privacy}, **sections},
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "Value error" not in str(err.value)


def test_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "c.toml", {"store": {"id": "s"}, "cameras": CAMERAS, "privacy": {"profile": "uk"}})
    done = run_cli("privacy", "show", "--config", str(path))
    assert done.returncode == 2 and "privacy.profile" in done.stderr and "'uk'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_privacy_show_prints_every_rule_and_its_source(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "c.toml", {"store": {"id": "s"}, "cameras": CAMERAS, "privacy": {"profile": "eu"}})
    text = run_cli("privacy", "show", "--config", str(path))
    assert text.returncode == 0, text.stderr
    as_json = run_cli("privacy", "show", "--config", str(path), "--json")
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {r["rule"]: r["value"] for r in rows} == effective(load_config(path))
    for row in rows:
        assert row["rule"] in text.stdout and row["source"] in text.stdout
    assert {r["rule"] for r in rows} >= {"consent.separate", "consent.guardian_age", "retention.event_history_days",
                                         "faces.recognised_on_cameras", "faces.visitor_reidentification"}  # fmt: skip


def _section(setting: str, value: Any) -> dict[str, Any]:
    section, name = setting.split(".")
    return {section: {name: value}}


def _looser_cases() -> list[tuple[str, dict[str, Any], str]]:
    """From the profile table itself: for every rule a profile bounds, a value just past the bound."""
    from storelens.privacy import DEFAULTS

    cases: list[tuple[str, dict[str, Any], str]] = []
    for profile, d in DEFAULTS.items():
        for limit in d.retention:
            if limit.most is not None:
                cases.append((profile, _section(limit.setting, limit.most + 1), limit.rule))
        if d.separate_consent:
            cases.append((profile, {"privacy": {"separate_consent": False}}, "separate_consent"))
        if d.written_release:
            cases.append((profile, {"privacy": {"written_release": False}}, "written_release"))
        low, high = d.guardian_age_range
        for age in (low - 1, high + 1):
            if 13 <= age <= 21:  # the setting's own bounds refuse the rest for every profile
                cases.append((profile, {"privacy": {"guardian_age": age}}, "guardian_age"))
        if d.visitor_reid != "on":
            cases.append((profile, {"privacy": {"visitor_reid": True}}, "visitor_reid"))
    return cases


@pytest.mark.parametrize(("profile", "sections", "rule"), _looser_cases())
def test_every_bound_of_the_profile_table_refuses_a_looser_value_at_load(tmp_path, profile, sections, rule) -> None:
    from storelens.privacy import DEFAULTS

    privacy = {"profile": profile, **sections.pop("privacy", {})}
    path = write_toml(tmp_path / "c.toml", {"store": {"id": "s"}, "cameras": CAMERAS, "privacy": privacy, **sections})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert rule in message and profile in message, message
    assert DEFAULTS[profile].law in message, message  # naming the rule and the law


def test_the_table_bounds_the_retention_of_cn_and_eu() -> None:
    from storelens.privacy import DEFAULTS, EVENT_RULE, MEMBER_RULE

    for profile in ("cn", "eu", "us-il"):
        assert DEFAULTS[profile].limit(MEMBER_RULE).most and DEFAULTS[profile].limit(EVENT_RULE).most
