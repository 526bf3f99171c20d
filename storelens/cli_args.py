"""Argument types for the CLI that share their bounds with the config fields they override.

``bounded(GalleryConfig, "retention_days")`` refuses ``--retention-days -1`` with the same limits and
the same words as the config file would: one set of bounds per setting, whatever the boundary.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError


def _flag_type(annotated: Any, name: str) -> Callable[[str], Any]:
    """An argparse ``type`` parsing a flag's text as pydantic parses ``annotated`` (one wording everywhere)."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotated)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_strings(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(f"{exc.errors(include_url=False)[0]['msg']} (got {text!r})") from None

    parse.__name__ = name  # argparse names the type in its message
    return parse


def bounded(model: type[BaseModel], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a flag as ``model.name`` would be parsed, with its bounds."""
    field = model.model_fields[name]
    annotation: Any = field.annotation
    return _flag_type(Annotated[annotation, *field.metadata] if field.metadata else annotation, name)


def number(kind: type, name: str, **bounds: float) -> Callable[[str], Any]:
    """An argparse ``type`` for a flag with no config field: a finite ``kind`` within ``bounds`` (ge, gt, le, lt)."""
    field: Any = Field(
        allow_inf_nan=False, ge=bounds.get("ge"), gt=bounds.get("gt"), le=bounds.get("le"), lt=bounds.get("lt")
    )
    annotated: Any = Annotated[kind, field]
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


def timezone_name(text: str) -> str:
    """An IANA time zone (``--timezone``), with the config's words when unknown."""
    from storelens.config import check_timezone

    try:
        return check_timezone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
