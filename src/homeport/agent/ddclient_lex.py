"""ddclient.conf syntax, read the way ddclient 3.10/3.11 reads it.

- ``#`` starts a comment (unless escaped or quoted); a trailing ``\\`` joins the next line;
- a line is ``key=value`` assignments separated by commas and/or spaces, then
  optionally host names (comma-separated), then the legacy ``login password``;
- a value may be quoted with ``'`` or ``"`` (anywhere inside it) and ``\\`` escapes
  any character;
- a line with assignments only sets globals for the hosts that follow; a line
  with hosts applies the globals seen so far plus its own assignments to them.

Every token keeps its physical line number so problems can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from homeport.errors import ConfigError

_KEY = re.compile(r"[A-Za-z][0-9A-Za-z_-]*=")


@dataclass(frozen=True)
class Setting:
    value: str
    line: int


@dataclass
class HostDef:
    """One host with every setting that applies to it (globals merged in)."""

    name: str
    line: int
    settings: dict[str, Setting] = field(default_factory=dict)


@dataclass
class Parsed:
    globals: dict[str, Setting]
    hosts: list[HostDef]
    problems: list[tuple[int, str]]


def _logical_lines(text: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """Joined lines, each with (offset, physical line) marks for locating tokens."""
    result: list[tuple[str, list[tuple[int, int]]]] = []
    buffer = ""
    marks: list[tuple[int, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        marks.append((len(buffer), number))
        if line.endswith("\\") and not line.endswith("\\\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            result.append((buffer, marks))
        buffer, marks = "", []
    if buffer.strip():
        result.append((buffer, marks))
    return result


def _strip_comment(line: str) -> str:
    quote = ""
    escape = False
    for index, char in enumerate(line):
        if escape:
            escape = False
        elif char == "\\":
            escape = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def _line_at(marks: list[tuple[int, int]], offset: int) -> int:
    line = marks[0][1]
    for start, number in marks:
        if start <= offset:
            line = number
    return line


def _read_value(text: str, pos: int) -> tuple[str, int, bool]:
    """ddclient's parse_assignment: quotes anywhere, backslash escapes, ends at , or space."""
    value: list[str] = []
    quote = ""
    escape = False
    while pos < len(text):
        char = text[pos]
        if escape:
            value.append(char)
            escape = False
        elif char == "\\":
            escape = True
        elif quote:
            if char == quote:
                quote = ""
            else:
                value.append(char)
        elif char in "'\"":
            quote = char
        elif char.isspace() or char == ",":
            break
        else:
            value.append(char)
        pos += 1
    return "".join(value), pos, bool(quote)


def parse(text: str) -> Parsed:
    """Split ddclient.conf text into globals and host definitions."""
    globals_: dict[str, Setting] = {}
    hosts: list[HostDef] = []
    problems: list[tuple[int, str]] = []
    for line, marks in _logical_lines(text):
        local: dict[str, Setting] = {}
        pos = 0
        while True:
            while pos < len(line) and (line[pos].isspace() or line[pos] == ","):
                pos += 1
            match = _KEY.match(line, pos)
            if not match:
                break
            key = match.group(0)[:-1].lower()
            where = _line_at(marks, pos)
            value, pos, open_quote = _read_value(line, match.end())
            if open_quote:
                problems.append((where, f"{key}: value has an unclosed quote"))
            local[key] = Setting(value, where)
        rest = line[pos:].strip()
        if not rest:
            globals_.update(local)
            continue
        where = _line_at(marks, pos)
        words = rest.replace(", ", ",").replace(" ,", ",").split()
        names = [n for n in words[0].split(",") if n]
        if "=" in words[0] or not names:
            problems.append(
                (where, f"cannot read {words[0][:60]!r}: expected key=value or host names")
            )
            continue
        merged = dict(globals_)
        merged.update(local)
        # ddclient's legacy form "host login password" after the assignments.
        if len(words) > 1:
            merged["login"] = Setting(words[1], where)
        if len(words) > 2:
            merged["password"] = Setting(words[2], where)
        if len(words) > 3:
            problems.append(
                (where, f"unexpected text after the host's password: {len(words) - 3} more word(s)")
            )
        hosts.extend(HostDef(name, where, dict(merged)) for name in names)
    return Parsed(globals_, hosts, problems)


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
