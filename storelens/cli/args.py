"""Argument types for the CLI that share their bounds with the config fields they override.

``bounded("storelens.config:GalleryConfig", "retention_days")`` refuses ``--retention-days -1`` with the same
limits and the same words as the config file would: one set of bounds per setting, whatever the boundary.
The model is named, not imported: building the parser imports nothing heavy (``storelens --help`` starts at once),
and the model and pydantic load only when a flag of that kind is parsed.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from storelens.errors import first_error


def _flag_type(annotated: Callable[[], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` parsing a flag's text as pydantic parses ``annotated()`` (one wording everywhere)."""
    adapters: list[Any] = []

    def parse(text: str) -> Any:
        from pydantic import TypeAdapter, ValidationError

        if not adapters:
            adapters.append(TypeAdapter(annotated()))
        try:
            return adapters[0].validate_strings(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(f"{first_error(exc)[1]} (got {text!r})") from None

    parse.__name__ = name  # argparse names the type in its message
    return parse


def bounded(model: str, name: str) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a flag as ``model.name`` would be parsed, with its bounds.

    Args:
        model: ``"package.module:Class"`` of a pydantic model, imported when the flag is first parsed.
        name: the field whose type and bounds the flag takes.
    """

    def annotated() -> Any:
        from typing import Annotated

        module, _, cls = model.partition(":")
        field = getattr(importlib.import_module(module), cls).model_fields[name]
        annotation: Any = field.annotation
        return Annotated[annotation, *field.metadata] if field.metadata else annotation

    return _flag_type(annotated, name)


def number(kind: type, name: str, **bounds: float) -> Callable[[str], Any]:
    """An argparse ``type`` for a flag with no config field: a finite ``kind`` within ``bounds`` (ge, gt, le, lt)."""

    def annotated() -> Any:
        from typing import Annotated

        from pydantic import Field

        field: Any = Field(
            allow_inf_nan=False, ge=bounds.get("ge"), gt=bounds.get("gt"), le=bounds.get("le"), lt=bounds.get("lt")
        )
        return Annotated[kind, field]

    return _flag_type(annotated, name)


def new_or_dir(text: str) -> Path:
    """A directory to write into: new, or an existing directory (never a file that is in the way)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; a directory is expected")
    return path


def writable_file(text: str) -> Path:
    """A file to write: not a directory, and in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; a file name is expected")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: the folder {path.parent} does not exist")
    return path


def existing_dir(text: str) -> Path:
    """A directory that exists (for commands that read one and must not create it by mistake)."""
    path = Path(text)
    if not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {what}")
    return path


def existing_file(text: str) -> Path:
    """A file that exists (a config to update, a photo to read)."""
    path = Path(text)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {what}")
    return path


def iso_day(text: str) -> date:
    """A calendar day, ``YYYY-MM-DD``, between 2000 and 2100."""
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a day such as 2026-11-21") from exc
    if not 2000 <= day.year < 2100:
        raise argparse.ArgumentTypeError(f"{text!r}: a day between 2000 and 2100 is expected")
    return day


def timezone_name(text: str) -> str:
    """An IANA time zone (``--timezone``), with the config's words when unknown."""
    from storelens.config import check_timezone

    try:
        return check_timezone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_models_dir(sp: argparse.ArgumentParser, config: bool = False) -> None:
    """``--models-dir``, with where the models are found without it (``config``: the command reads a config)."""
    where = "config's models.dir, " if config else ""
    sp.add_argument(
        "--models-dir",
        type=new_or_dir,
        help=f"models folder; default: {where}$STORELENS_MODELS_DIR, else $STORELENS_HOME/models",
    )


MEMBER_ID_HELP = "the member's id: letters, digits and _.@:+- (at most 128, not starting with a dot)"


def add_hq_config(sp: argparse.ArgumentParser) -> None:
    """``--config``: head office's configuration file, as every command about head office takes it."""
    sp.add_argument("--config", required=True, type=existing_file, help="head office's configuration file (hq.toml)")


def add_member_id(sp: argparse.ArgumentParser, required: bool = True, help_: str = MEMBER_ID_HELP) -> None:
    """``--member-id``, bounded as the member records bound it (one wording wherever a command takes it)."""
    sp.add_argument(
        "--member-id", required=required, type=bounded("storelens.members:MemberInfo", "member_id"), help=help_
    )


def add_enrolment_arguments(sp: argparse.ArgumentParser) -> None:
    """Add the member, their consent and the photos: what enrolling asks at a box and at head office.

    ``gallery enroll`` and ``hq enroll`` ask the same, with the same bounds and words.
    """
    add_member_id(sp)
    sp.add_argument(
        "--consent",
        required=True,
        metavar="REF",
        type=bounded("storelens.members:Consent", "reference"),
        help="reference of the member's signed consent",
    )
    sp.add_argument(
        "--name",
        default="",
        type=bounded("storelens.members:MemberInfo", "name"),
        help="the member's name (at most 200 characters)",
    )
    sp.add_argument("--notice-version", help="privacy notice version the member was shown (default from config)")
    sp.add_argument("--purpose", help="purpose of processing (default from config)")
    sp.add_argument(
        "--minor",
        "--under-14",
        action="store_true",
        help="the member is under the privacy profile's guardian age (needs --guardian-consent)",
    )
    sp.add_argument(
        "--guardian-consent",
        metavar="REF",
        type=bounded("storelens.members:Consent", "guardian_reference"),
        help="the guardian's consent reference (a minor)",
    )
    sp.add_argument(
        "--separate-consent",
        action="store_true",
        help="the member agreed to face recognition on its own, not within other terms (cn, eu)",
    )
    sp.add_argument(
        "--written-release",
        metavar="REF",
        type=bounded("storelens.members:Consent", "written_release"),
        help="reference of the member's signed written release (us-il)",
    )
    sp.add_argument(
        "--share-visits",
        action="store_true",
        help="the member agreed that their store visits go to the chain's member platform (CRM) for follow-up",
    )
    sp.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files (JPEG or PNG)")


def add_token_arguments(sp: argparse.ArgumentParser, roles: tuple[str, str], name_help: str, role_help: str) -> None:
    """``token create --name NAME --role ROLE``, the same bounds for the store's tokens and head office's.

    Args:
        sp: the ``token`` command's parser (its configuration flag is added by the caller).
        roles: the tier's lesser role and ``admin``.
        name_help: what a name is, on this tier.
        role_help: what each role may do, on this tier.
    """
    sp.add_argument("action", choices=["create"], help="what to do")
    sp.add_argument(
        "--name", required=True, type=bounded("storelens.api.routers.tokens:TokenIn", "name"), help=name_help
    )
    sp.add_argument("--role", required=True, choices=list(roles), help=role_help)
