"""The entrance notice sign and the record of processing, made from the effective configuration."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from storelens.cli.privacy_docs import notice_text, processing_record
from storelens.config import Config, load_config
from storelens.errors import ConfigError
from tests.helpers.cli import ARTIFACTS, run_cli
from tests.helpers.configs import write_toml

PRIVACY = {"controller": "Maison Exemple SAS, 12 rue de Rivoli, Paris", "contact": "privacy@example.fr"}
CAMERAS = [{"id": "door", "source": "0"}, {"id": "lounge", "source": "1", "members_only": True}]


def data(profile: str, **privacy: Any) -> dict[str, Any]:
    return {
        "store": {"id": "paris-1", "name": "Rivoli"},
        "cameras": CAMERAS,
        "privacy": {"profile": profile, **PRIVACY, **privacy},
        "mqtt": {"url": "mqtts://broker.example:8883", "username": "box", "password": "s3cret-Broker-pw"},
        "api": {"database_url": "postgresql+psycopg://storelens:Db-pw-77@db.example/storelens"},
    }


# profile, extra privacy settings, words the sign must hold, words it must not
NOTICE_CASES = [
    ("eu", {}, ["count how many people come in, without recognising anyone", "members-only areas", "given on its own",
                "under 16", "never identified", "the rules of the EU's GDPR"], ["anonymous number"]),
    ("cn", {"notice_posted": True}, ["compare them with those of loyalty members", "under 14",
                                     "anonymous number for at most 12 hours", "erased 365 days"], ["members-only"]),
    ("us-il", {}, ["a written release you sign", "under 18", "erased 1095 days", "never identified"], []),
    ("custom", {}, ["anonymous number", "erased 1095 days", "Give your phone number", "the rules this store set"],
     ["given on its own", "none chosen"]),
]  # fmt: skip
INTERNAL = ["vip-recognition", "Purpose (", "privacy profile", "lounge", "door", "custom"]  # never shown to a shopper


def words_of(notice: Any) -> str:
    return notice.title + " " + " ".join(text for _, text in notice.paragraphs) + " " + notice.footer


@pytest.mark.parametrize(("profile", "privacy", "present", "absent"), NOTICE_CASES)
def test_the_notice_says_what_the_profile_does(profile, privacy, present, absent) -> None:
    words = words_of(notice_text(Config.model_validate(data(profile, **privacy)), today=date(2026, 11, 30)))
    for phrase in [*present, PRIVACY["controller"], PRIVACY["contact"], "Rivoli"]:
        assert phrase in words, phrase
    for phrase in [*absent, *INTERNAL]:
        assert phrase not in words, phrase


@pytest.mark.parametrize("profile", ["eu", "custom"])
def test_where_nobody_is_recognised_the_sign_says_nothing_about_members(profile: str) -> None:
    """Under eu with no members-only camera (or with recognition off), nobody is recognised: the sign says that
    and does not go on about greeting members, face templates or consent."""
    cfg = data(profile) | {"cameras": [CAMERAS[0]]}
    if profile == "custom":
        cfg["recognition"] = {"enabled": False}
    notice = notice_text(Config.model_validate(cfg), today=date(2026, 11, 30))
    words = words_of(notice)
    assert notice.title == "Visitor counting in this store"
    assert "No face is looked for, recognised or stored" in words and "Visitor counts are kept" in words
    for phrase in ["greet", "template", "consent", "Members are recognised", "loyalty", *INTERNAL]:
        assert phrase not in words, phrase
    assert [h for h, _ in notice.paragraphs] == ["What the cameras do", "Why", "How long", "Who is responsible"]


def test_count_only_notice_says_no_face_is_recognised() -> None:
    cfg = Config.model_validate({**data("custom"), "recognition": {"enabled": False}})
    notice = notice_text(cfg)
    assert notice.title == "Visitor counting in this store"
    assert "No face is looked for" in notice.paragraphs[0][1]


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_the_notice_renders(tmp_path: Path, fmt: str) -> None:
    path = write_toml(tmp_path / "c.toml", data("eu"))
    out = ARTIFACTS / f"privacy-notice-eu.{fmt}"
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    done = run_cli("privacy", "notice", "--config", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    raw = out.read_bytes()
    if fmt == "pdf":
        assert raw.startswith(b"%PDF") and raw.rstrip().endswith(b"%%EOF")
        return
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (1753, 1240)  # A4 portrait at 150 dpi
    dark = image < 128
    rows_with_ink = np.flatnonzero(dark[:, 100:-100].any(axis=1))
    assert dark.mean() > 0.01 and rows_with_ink.size > 400  # text over most of the page, not a blank sheet


@pytest.mark.parametrize(
    ("change", "message"),
    [({"controller": ""}, "privacy.controller is not set"), ({"contact": " "}, "privacy.contact is not set")],
)
def test_a_notice_without_who_is_responsible_is_refused(tmp_path: Path, change, message) -> None:
    path = write_toml(tmp_path / "c.toml", data("eu", **change))
    out = tmp_path / "sign.png"
    done = run_cli("privacy", "notice", "--config", str(path), "--out", str(out))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    with pytest.raises(ConfigError, match=message):
        notice_text(Config.model_validate(data("eu", **change)))


def test_the_sign_is_written_as_png_or_pdf_only(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "c.toml", data("eu"))
    done = run_cli("privacy", "notice", "--config", str(path), "--out", str(tmp_path / "sign.docx"))
    assert done.returncode == 2 and "written as .png or .pdf" in done.stderr
    assert not (tmp_path / "sign.docx").exists()


@pytest.mark.parametrize("profile", ["cn", "eu", "us-il", "custom"])
def test_the_record_of_processing_follows_the_configuration(tmp_path: Path, profile: str) -> None:
    path = write_toml(tmp_path / "c.toml", data(profile, event_retention_days=200))
    out = tmp_path / "record.md"
    done = run_cli("privacy", "record", "--config", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    rules = Config.model_validate(data(profile, event_retention_days=200)).privacy_rules()
    for phrase in ["Member face recognition", "Anonymous visitor re-identification", "Access log",
                   f"{rules.member_retention_days} days after the last visit", "200 days", PRIVACY["controller"],
                   "broker.example:8883 over TLS", "postgresql at db.example"]:  # fmt: skip
        assert phrase in text, phrase
    for rule in rules.rules:
        assert f"| {rule.key} | {rule.value} |" in text
    for secret in ("s3cret-Broker-pw", "Db-pw-77"):
        assert secret not in text and secret not in done.stdout + done.stderr
    if profile == "eu":
        assert "cameras: lounge" in text and "none: off under these rules" in text


def test_record_goes_to_stdout_without_out(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "c.toml", data("cn", notice_posted=True))
    done = run_cli("privacy", "record", "--config", str(path))
    assert done.returncode == 0 and done.stdout == processing_record(load_config(path))


# profile, cameras, the sign's locales, words it must hold, words it must not (another language's included)
LANGUAGE_CASES = [
    ("eu", [CAMERAS[0]], ("fr_FR",), ["Comptage des visiteurs dans ce magasin", "Aucun visage n'est recherché",
     "les règles du RGPD", "3 décembre 2026", "Rivoli"],
     ["accueillir", "gabarit", "consentement", "Cameras", "How long"]),
    ("eu", CAMERAS, ("fr_FR",), ["Reconnaissance faciale dans ce magasin", "espaces réservés aux membres",
     "donné séparément", "avant 16 ans", "Donnez votre numéro"], ["numéro anonyme", "Cameras", "lounge"]),
    ("cn", CAMERAS[:1], ("zh_Hans_CN",), ["本店使用人脸识别", "匿名编号的形式保留最多 12 小时", "未满 14 周岁",
     "个人信息保护法", "2026年12月3日"], ["Cameras", "members-only", "会员专区"]),
    ("cn", CAMERAS[:1], ("zh_Hans_CN", "en_GB"), ["本店使用人脸识别", "Face recognition in this store",
     "anonymous number for at most 12 hours"], ["members-only"]),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "cameras", "locales", "present", "absent"), LANGUAGE_CASES)
def test_the_sign_speaks_the_store_s_languages(profile, cameras, locales, present, absent) -> None:
    """The sign in French under eu, in Chinese under cn, and bilingual where the store asks: every sentence from
    the catalogues, with no English left in a sign that is not English and no internal identifier."""
    from storelens.cli.privacy_docs import notice_texts

    cfg = data(profile, notice_posted=True, sign_locales=list(locales)) | {"cameras": cameras}
    notices = notice_texts(Config.model_validate(cfg), today=date(2026, 12, 3))
    assert [n.language for n in notices] == [{"fr_FR": "fr", "zh_Hans_CN": "zh_Hans"}.get(x, "en") for x in locales]
    words = " ".join(words_of(n) for n in notices)
    for phrase in present:
        assert phrase in words, phrase
    for phrase in [*absent, *INTERNAL]:
        assert phrase not in words, phrase
    english = notice_text(Config.model_validate(cfg), today=date(2026, 12, 3), locale="en")
    first = notices[0]
    assert len(first.paragraphs) == len(english.paragraphs)
    for (heading, text), (en_heading, en_text) in zip(first.paragraphs, english.paragraphs, strict=True):
        assert heading != en_heading and text != en_text  # translated, each one


@pytest.mark.parametrize(("name", "profile", "store"), [
    ("eu-fr", "eu", {"locale": "fr_FR"}),
    ("cn-zh", "cn", {"locale": "zh_Hans_CN", "name": "南京西路店"}),
])  # fmt: skip
def test_the_sign_renders_in_its_language(tmp_path: Path, name: str, profile: str, store: dict[str, str]) -> None:
    cfg = data(profile, notice_posted=True)
    cfg["store"] |= store
    if profile == "cn":
        cfg["privacy"]["sign_locales"] = ["zh_Hans_CN", "en_GB"]
    path = write_toml(tmp_path / "c.toml", cfg)
    out = ARTIFACTS / f"privacy-notice-{name}.png"
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    done = run_cli("privacy", "notice", "--config", str(path), "--out", str(out))
    assert done.returncode == 0 and not done.stderr, done.stderr  # no font warning either
    image = cv2.imdecode(np.frombuffer(out.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    dark = image < 128
    assert image.shape == (1753, 1240) and np.flatnonzero(dark[:, 100:-100].any(axis=1)).size > 400
    # the frame is drawn at x 50 and 1190 (y 52 and 1700); text starts at x 99: none crosses or touches it
    assert not dark[:, :44].any() and not dark[:, 1197:].any()
    assert not dark[60:-60, 58:95].any() and not dark[60:-60, 1150:1183].any()
