"""Domain exceptions. Each message names what is wrong: which file, which field, what was expected."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class StoreLensError(Exception):
    """Base of every error StoreLens reports to a user (CLI exit code 2).

    Args:
        text: the English words (a log, the CLI, the API's ``detail``).
        message: the same as a catalogued message (English, ``{named}`` placeholders), so that a page says it in
            its reader's language; "" where none is.
        params: the message's values.
    """

    def __init__(self, text: str = "", *, message: str = "", params: dict[str, object] | None = None) -> None:
        self.message = message
        self.params = {k: str(v) for k, v in (params or {}).items()}
        super().__init__(text or message.format(**self.params))


class ConfigError(StoreLensError):
    """A configuration file or value is invalid."""


class ModelError(StoreLensError):
    """A model file is missing, unknown, corrupt or does not match the manifest."""


class PrepareError(ModelError):
    """Obtaining or converting the default models failed."""


class ImageError(StoreLensError):
    """A photo cannot be read or used."""


class GalleryError(StoreLensError):
    """The gallery cannot be opened, or an operation on it is refused."""


class EnrolmentError(GalleryError):
    """An enrolment is refused; the member is left unchanged."""


class BrokerError(StoreLensError):
    """The local broker could not be started."""


class SchemaError(StoreLensError):
    """A store's schema is newer than this StoreLens, or a migration failed."""


class CaptureError(StoreLensError):
    """A source cannot be opened at all (a file that does not exist, an unreadable video)."""


class OutboxError(StoreLensError):
    """The outbox file cannot be used."""


class DatabaseError(StoreLensError):
    """The event database cannot be reached or used."""


class CalibrationError(StoreLensError):
    """The labelled set cannot be used."""


class ImportRefused(StoreLensError):
    """A CRM, catalogue or POS file is refused as a whole (format, encoding, columns); nothing was imported."""


class NameTaken(StoreLensError):
    """A name that must be unique (a device token's, per store or head office) is in use already."""


class SignatureError(StoreLensError):
    """A signed message is refused: not an envelope, a key not trusted here, or a signature that does not verify."""


class PayloadError(StoreLensError):
    """A message payload is refused: too large, or not its model (``where``: the field, ``why``: what is wrong)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


def first_error(exc: ValidationError, skip: int = 0, whole: str = "payload") -> tuple[str, str]:
    """(where, what) of a pydantic error's first complaint, for a one-line message.

    Args:
        exc: the validation error.
        skip: leading parts of its location to leave out (1 for a tagged union: the tag).
        whole: the name of the whole input, for a complaint about no field in particular.
    """
    first = exc.errors(include_url=False)[0]
    return ".".join(str(p) for p in first["loc"][skip:]) or whole, str(first["msg"])
