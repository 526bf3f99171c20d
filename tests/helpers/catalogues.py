"""The message catalogues against the messages the code and pages use (Babel's extraction).

``python -m tests.helpers.catalogues check`` (in ``make lint``) fails, one line per problem, when a message
the code or a page shows has no translation in a language, a translation is fuzzy, its ``{placeholders}``
differ from the source's, or a catalogue holds a message nothing uses any more. ``update`` merges newly
marked messages into each catalogue, untranslated, for a translator to fill in.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ["storelens", "edge", "models", "gallery", "api", "hq", "calibration", "sample_videos"]
LANGUAGES = ["fr", "zh_Hans"]  # storelens.i18n.LANGUAGES less the source language
DOMAIN = "storelens"
METHODS = [
    ("**/cache/**", "ignore"),
    ("**.py", "python"),
    ("**/static/**.html", f"{__name__}:extract_page"),
    ("**/static/**.js", f"{__name__}:extract_page"),
]
PLACEHOLDER = re.compile(r"\{(\w*)\}")
# A page marks its words as data-i18n="..." (text), data-i18n-placeholder / -title / -label (attributes),
# and t("...") in its script.
PAGE_MARKS = re.compile(r'data-i18n(?:-\w+)?="([^"]+)"|\bt\(\s*"((?:[^"\\]|\\.)+)"')
# ... and tn("singular", "plural", n) for a message with plural forms
PLURAL_MARKS = re.compile(r'\btn\(\s*"((?:[^"\\]|\\.)+)"\s*,\s*"((?:[^"\\]|\\.)+)"')


def extract_page(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for the pages: the marks above (Babel's own JavaScript extractor cannot read HTML)."""
    text = fileobj.read().decode("utf-8")
    for match in PAGE_MARKS.finditer(text):
        message = match.group(1) or match.group(2).replace('\\"', '"')
        yield text.count("\n", 0, match.start()) + 1, "gettext", message.replace("&amp;", "&"), []
    for match in PLURAL_MARKS.finditer(text):
        forms = tuple(m.replace('\\"', '"') for m in match.groups())
        yield text.count("\n", 0, match.start()) + 1, "ngettext", forms, []


MARKERS = {"gettext", "ngettext", "N_"}


def hidden_in_fstrings() -> list[str]:
    """Marked messages inside f-strings, which Babel's extractor cannot see (they would stay English)."""
    import ast

    found = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "cache" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for call in ast.walk(node):
                    if isinstance(call, ast.Call):
                        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
                        if name in MARKERS:
                            where = f"{path.relative_to(REPO)}:{call.lineno}"
                            found.append(f"{where}: {name}() inside an f-string is not extracted; move it out")
    return found


def template() -> Catalog:
    """Every message marked in the code and pages, with where it is used."""
    catalog = Catalog(domain=DOMAIN, project="StoreLens", charset="utf-8")
    for folder in FOLDERS:
        for filename, lineno, message, comments, context in extract_from_dir(REPO / folder, METHODS):
            if message:
                catalog.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments,
                            context=context)  # fmt: skip
    return catalog


def path_of(language: str) -> Path:
    """The catalogue file of ``language``."""
    return REPO / "storelens" / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def problems(language: str, used: Catalog) -> list[str]:
    """What is wrong with the catalogue of ``language`` against the messages in use."""
    path = path_of(language)
    if not path.is_file():
        return [f"{path.relative_to(REPO)}: missing (python -m tests.helpers.catalogues update)"]
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = []
    for message in used:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        entry = catalog.get(message.id if isinstance(message.id, str) else message.id[0])
        where = f"{path.relative_to(REPO)}: {key[:60]!r}"
        if entry is None:
            found.append(f"{where}: not in the catalogue")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            found.append(f"{where}: not translated" + (" (fuzzy)" if entry.fuzzy else ""))
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for string in strings:
            if {p for p in PLACEHOLDER.findall(string)} != wanted:
                found.append(f"{where}: placeholders {sorted(PLACEHOLDER.findall(string))} against {sorted(wanted)}")
    for entry in catalog:
        if entry.id and used.get(entry.id if isinstance(entry.id, str) else entry.id[0]) is None:
            key = entry.id if isinstance(entry.id, str) else entry.id[0]
            found.append(
                f"{path.relative_to(REPO)}: {key[:60]!r}: no longer used (python -m tests.helpers.catalogues update)"
            )
    return found


def update(used: Catalog) -> None:
    """Merge the messages in use into each catalogue: new ones untranslated, unused ones dropped."""
    for language in LANGUAGES:
        path = path_of(language)
        if path.is_file():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="StoreLens", charset="utf-8")
        catalog.update(used, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: the catalogue is in use
        catalog.obsolete.clear()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=120, include_lineno=False, include_previous=False)
        print(f"{path.relative_to(REPO)}: {len(catalog)} messages")


def main(argv: list[str]) -> int:
    """``check`` or ``update``."""
    used = template()
    if argv[:1] == ["update"]:
        update(used)
        return 0
    found = hidden_in_fstrings() + [line for language in LANGUAGES for line in problems(language, used)]
    for line in found:
        print(line)
    print(f"catalogues: {len(used)} messages in use, {len(LANGUAGES)} languages, {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
