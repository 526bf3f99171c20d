"""Argument types for the CLI that share their bounds with the config fields they override.

``bounded(GalleryConfig, "retention_days")`` refuses ``--retention-days -1`` with the same limits and
the same words as the config file would: one set of bounds per setting, whatever the boundary.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError


def bounded(model: type[BaseModel], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a flag as ``model.name`` would be parsed, with its bounds."""
    field = model.model_fields[name]
    annotation: Any = field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[annotation, *field.metadata] if field.metadata else annotation)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_strings(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(f"{exc.errors(include_url=False)[0]['msg']} (got {text!r})") from None

    parse.__name__ = name  # argparse names the type in its message
    return parse


def existing_dir(text: str) -> Path:
    """A directory that exists (for commands that read one and must not create it by mistake)."""
    path = Path(text)
    if not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {what}")
    return path
