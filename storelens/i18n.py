"""What a person reads, in the store's language: message catalogues and CLDR formatting (Babel).

Messages are English source strings marked ``tr.gettext("...")`` (or ``N_("...")`` where they are defined
before a translator exists); translations live in ``storelens/locale/<language>/LC_MESSAGES/storelens.po``,
one catalogue per language (``fr``, ``zh_Hans``), checked complete by ``make lint``. Placeholders are named,
``{name}``, and filled by ``str.format`` after translation, so a translator can move them.

A locale is a CLDR identifier (``fr_FR``, ``zh_Hans_CN``, ``en_GB``): it chooses the catalogue by its
language (and script: Chinese without one is Simplified), and Babel formats its dates, times, numbers and
currency. A locale without a catalogue formats in its own way and reads in English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

DOMAIN = "storelens"
CATALOGUES = Path(__file__).with_name("locale")
SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "fr", "zh_Hans")  # a catalogue each (English is the source); `make lint` checks them
Day = date | datetime  # named here: inside Translator, ``date`` is its method
# The fonts drawn words use (matplotlib picks per glyph, in order): DejaVu for Latin scripts, WenQuanYi Micro
# Hei (Debian's fonts-wqy-microhei) for Chinese: the sign, the charts, the radar
FONT_FAMILIES = ["DejaVu Sans", "WenQuanYi Micro Hei"]
LOCALE_PATTERN = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,3}$"


# the font each language's script needs beyond DejaVu (Latin): without it a chart or sign would draw boxes
SCRIPT_FONTS = {"zh_Hans": "WenQuanYi Micro Hei"}
OFFERED = ("en_GB", "fr_FR", "zh_Hans_CN")  # the languages a page offers to switch to (each has a catalogue)


@cache
def drawable(language: str) -> bool:
    """Whether words of ``language`` can be drawn (charts, the radar, the sign): its script's font is installed."""
    family = SCRIPT_FONTS.get(language)
    if family is None:
        return True
    from matplotlib import font_manager

    try:
        font_manager.findfont(family, fallback_to_default=False)
    except ValueError:
        return False
    return True


def drawable_translator(locale: str, timezone: tzinfo | None = None) -> Translator:
    """A translator for ``locale``, or for English in its zone where its script cannot be drawn here.

    Raises:
        ValueError: a locale CLDR does not know.
    """
    tr = Translator(locale, timezone)
    return tr if drawable(tr.language) else Translator(SOURCE_LANGUAGE, timezone)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues where it is defined; it is translated where it is shown."""
    return message


def check_locale(value: str) -> str:
    """``value`` as a CLDR locale identifier Babel knows (``fr-FR`` becomes ``fr_FR``).

    Raises:
        ValueError: Babel has no data for it (pydantic reports it as the setting's error).
    """
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(
            f"unknown locale {value!r} (expected a CLDR locale, e.g. 'en_GB', 'fr_FR', 'zh_Hans_CN')"
        ) from exc


# A locale setting (store.locale, hq's locale, privacy.sign_locales): the same bounds and check everywhere.
LocaleName = Annotated[str, Field(pattern=LOCALE_PATTERN, max_length=35), AfterValidator(check_locale)]


def operator_locale() -> str:
    """The locale of whoever runs a command, from the environment as gettext reads it.

    ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, in that order; English where they name none, or one
    CLDR does not know (``C``).
    """
    from babel.core import default_locale

    try:
        return check_locale(default_locale(("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")) or "en")
    except ValueError:
        return SOURCE_LANGUAGE


def language_of(locale: str) -> str:
    """The catalogue ``locale`` reads in: one of ``LANGUAGES`` (English where there is none)."""
    from babel import Locale

    parsed = Locale.parse(check_locale(locale))
    if parsed.language == "zh":
        script = parsed.script or ("Hant" if parsed.territory in ("TW", "HK", "MO") else "Hans")
        return f"zh_{script}" if f"zh_{script}" in LANGUAGES else SOURCE_LANGUAGE
    return parsed.language if parsed.language in LANGUAGES else SOURCE_LANGUAGE


def catalogue_path(language: str) -> Path:
    """Where the catalogue of ``language`` lives."""
    return CATALOGUES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _catalog(language: str) -> Any:
    """The catalogue of ``language`` (a Babel ``Catalog``), read once per process."""
    from babel.messages.pofile import read_po

    with catalogue_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


@cache
def _translations(language: str) -> dict[str, str]:
    """The translated one-form messages of ``language`` (source -> translation).

    Fuzzy and empty entries are left out, so their source shows.
    """
    if language == SOURCE_LANGUAGE:
        return {}
    return {
        m.id: m.string
        for m in _catalog(language)
        if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string and not m.fuzzy
    }


@cache
def _gettext(language: str) -> Any:
    """``language``'s catalogue as gettext translations (Babel's), for the messages with plural forms.

    A form is chosen by the catalogue's ``Plural-Forms`` rule (French: 0 and 1 singular; Chinese: one form).
    """
    import io

    from babel.messages.mofile import write_mo
    from babel.support import NullTranslations, Translations

    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


# numbers tried, in order, to find one of each CLDR plural category (French "many": a million)
_SAMPLES = (*range(0, 30), 100, 1000, 1_000_000, 2_000_000, 1_000_001)


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one locale.

    Args:
        locale: CLDR locale identifier (checked).
        timezone: where times are shown (the store's zone); None shows them as given.
    """

    locale: str = "en"
    timezone: tzinfo | None = None
    language: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "locale", check_locale(self.locale))
        object.__setattr__(self, "language", language_of(self.locale))

    def gettext(self, message: str, **values: Any) -> str:
        """``message`` in this locale's language, its ``{placeholders}`` filled from ``values``."""
        text = _translations(self.language).get(message, message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The form of ``singular``/``plural`` for ``n`` in this language (its plural rule), ``{n}`` filled in."""
        text = _gettext(self.language).ngettext(singular, plural, n)
        return text.format(n=n, **values)

    def plurals(self) -> dict[str, dict[str, str]]:
        """Every message with plural forms (by its singular), each form by its CLDR category.

        For a page, which picks the category with the browser's ``Intl.PluralRules`` (``one``, ``many``, ``other``).
        """
        from babel import Locale

        if self.language == SOURCE_LANGUAGE:
            return {}
        rule = Locale.parse(self.language).plural_form
        samples = {rule(n): n for n in reversed(_SAMPLES)}  # the smallest number of each category
        out: dict[str, dict[str, str]] = {}
        for m in _catalog(self.language):
            if isinstance(m.id, tuple) and not m.fuzzy and all(m.string):
                singular, plural = m.id[0], m.id[1]
                out[singular] = {c: _gettext(self.language).ngettext(singular, plural, n) for c, n in samples.items()}
        return out

    def messages(self) -> dict[str, str]:
        """Every translated message of this language (source -> translation), for a page that translates.

        Empty in English, whose messages are their own translations.
        """
        return dict(_translations(self.language))

    def date(self, value: date | datetime, format: str = "medium") -> str:
        """A date as this locale writes it (``format``: short, medium, long or a CLDR pattern)."""
        from babel.dates import format_date

        if isinstance(value, datetime) and self.timezone is not None:
            value = value.astimezone(self.timezone)
        return format_date(value, format=format, locale=self.locale)

    def day(self, value: Day) -> str:
        """A short day and month as this locale writes them: ``2 Dec``, ``2 déc.``, ``12月2日`` (CLDR's MMMd)."""
        from babel.dates import format_skeleton

        if isinstance(value, datetime):
            if self.timezone is not None:
                value = value.astimezone(self.timezone)
            value = value.date()
        return format_skeleton("MMMd", datetime.combine(value, time(12)), locale=self.locale)

    def time(self, value: datetime | time, format: str = "short") -> str:
        """A time of day in this locale's clock (24-hour in Paris and Shanghai) and the store's zone."""
        from babel.dates import format_time

        if isinstance(value, datetime) and self.timezone is not None:
            value = value.astimezone(self.timezone)
        return format_time(value, format=format, locale=self.locale)

    def days(self, start: datetime, end: datetime) -> str:
        """The store-local days [start, end) covers: ``2 December 2026``, or ``1–7 Dec 2026`` (the end excluded)."""
        from babel.dates import format_interval

        last = end - timedelta(microseconds=1)
        if self.timezone is not None:
            start, last = start.astimezone(self.timezone), last.astimezone(self.timezone)
        if start.date() == last.date():
            return self.date(start.date(), "long")
        return format_interval(start.date(), last.date(), "yMMMd", locale=self.locale)

    def number(self, value: float, decimals: int | None = None) -> str:
        """A number with this locale's separators."""
        from babel.numbers import format_decimal

        pattern = None if decimals is None else "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float, decimals: int = 0) -> str:
        """``value`` (0.167) as a percentage in this locale's pattern (``16,7 %`` in French), ``decimals`` at most."""
        from babel.numbers import format_percent

        return format_percent(round(value, decimals + 2), locale=self.locale, decimal_quantization=False)
