"""Where each key of a TOML file is, so a schema error can name its line.

tomllib gives values without positions; this scanner walks the text once and
records the line of every table header and ``key =`` line under its path
(``("provider", 1, "server")``). It understands what config files use —
``[table]``, ``[[array]]``, dotted and quoted keys — and, for anything it does
not place exactly (an item inside an inline array), the nearest enclosing key
is close enough to point the user at the right spot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

Path = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def key_lines(text: str) -> dict[Path, int]:
    """Map each table and key path to its 1-based line number."""
    lines: dict[Path, int] = {}
    counters: dict[tuple[str, ...], int] = {}
    prefix: Path = ()
    in_multiline = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = ""
            continue
        if match := _ARRAY_HEADER.match(line):
            names = tuple(_split_key(match.group(1)))
            index = counters.get(names, 0)
            counters[names] = index + 1
            # A nested array restarts for each element of its parent array.
            for other in list(counters):
                if len(other) > len(names) and other[: len(names)] == names:
                    del counters[other]
            prefix = (*_with_indexes(names, counters, exclude_last=True), index)
            lines.setdefault(prefix, number)
        elif match := _TABLE_HEADER.match(line):
            prefix = _with_indexes(tuple(_split_key(match.group(1))), counters, exclude_last=False)
            lines.setdefault(prefix, number)
        elif match := _KEY.match(line):
            lines.setdefault((*prefix, *_split_key(match.group(1))), number)
            rest = line[match.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
    return lines


def _with_indexes(
    names: tuple[str, ...], counters: dict[tuple[str, ...], int], *, exclude_last: bool
) -> Path:
    # [[a]] then [a.b] means "b of the last a": insert the current index of every array parent.
    path: list[str | int] = []
    for i in range(len(names)):
        path.append(names[i])
        if exclude_last and i == len(names) - 1:
            break
        seen = counters.get(names[: i + 1])
        if seen:
            path.append(seen - 1)
    return tuple(path)


def line_of(lines: Mapping[Path, int], location: Sequence[str | int]) -> int | None:
    """The line of ``location`` or of its nearest enclosing key that is known."""
    loc = tuple(location)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None
