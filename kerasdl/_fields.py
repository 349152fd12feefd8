"""Declaring a config field once: its default, help text, allowed values and CLI option.

`setting` makes a dataclass field whose metadata holds everything the rest of kerasdl derives
from it:

- ``help``: one line, used by ``kerasdl train --help`` and the field table of docs/config.md;
- ``rule``: what the field allows (a `Rule`); `kerasdl.config.TrainConfig.validate` checks it and
  the error says it (``<field>: got <value>; allowed: <rule.allowed()>``), the same words the
  CLI help and the docs table print;
- ``doc``: an optional longer note for docs/config.md;
- ``flag``: an optional `Flag`, the option of ``kerasdl train`` that sets the field.

Rules and flags are plain data: this module imports only the standard library (the CLI's
``--help`` reads them).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass

__all__ = [
    "Bool",
    "ConfigError",
    "Const",
    "Each",
    "Either",
    "Flag",
    "Int",
    "ModelSource",
    "OneOf",
    "PathText",
    "Pattern",
    "Real",
    "Regex",
    "Rule",
    "Tables",
    "setting",
    "show_value",
]


class ConfigError(ValueError):
    """An invalid configuration value, worded ``<field>: got <value!r>; allowed: <what>``.

    Attributes:
        field: The dotted name of the field, e.g. ``"optimizer.name"``.
        got: The value given.
        allowed: What the field accepts, in words.
    """

    def __init__(self, field: str, got: object, allowed: str, *, message: str | None = None):
        self.field = field
        self.got = got
        self.allowed = allowed
        super().__init__(message or f"{field}: got {got!r}; allowed: {allowed}")


def show_value(value) -> str:
    """A value as the config's TOML spells it: ``'adam'``, ``true``, ``0.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _is_real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class Rule:
    """What a field allows. Subclasses define `ok` and `allowed`; `check` raises."""

    def ok(self, value) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def allowed(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, path: str, value) -> None:
        """Raise `ConfigError` naming ``path`` unless `ok(value)`."""
        if not self.ok(value):
            raise ConfigError(path, value, self.allowed())


@dataclass(frozen=True)
class Int(Rule):
    """An integer in ``[low, high]`` (every size has a real upper bound)."""

    low: int
    high: int

    def ok(self, value) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def allowed(self) -> str:
        return f"an integer in [{self.low:,}, {self.high:,}]"


@dataclass(frozen=True)
class Real(Rule):
    """A finite number in an interval (either end optional, open or closed)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def ok(self, value) -> bool:
        if not _is_real(value):
            return False
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        if self.high is not None:
            return value < self.high if self.high_open else value <= self.high
        return True

    def allowed(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"a number in {left}{low}, {high}{right}"
        if low is not None:
            return f"a number {'>' if self.low_open else '>='} {low}"
        if high is not None:
            return f"a number {'<' if self.high_open else '<='} {high}"
        return "a finite number"


@dataclass(frozen=True)
class Bool(Rule):
    """True or false."""

    def ok(self, value) -> bool:
        return isinstance(value, bool)

    def allowed(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class OneOf(Rule):
    """One of ``names``; the error suggests the closest one."""

    names: tuple
    note: str = ""

    def ok(self, value) -> bool:
        # `True == 1`: a bool only matches a bool, a number only a number
        return any(type(value) is type(n) and value == n for n in self.names)

    def allowed(self) -> str:
        return "one of " + ", ".join(show_value(n) for n in self.names) + self.note

    def check(self, path: str, value) -> None:
        if self.ok(value):
            return
        allowed = self.allowed()
        close = difflib.get_close_matches(str(value), [str(n) for n in self.names], n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            path, value, allowed, message=f"{path}: got {value!r}; allowed: {allowed}{hint}"
        )


@dataclass(frozen=True)
class Const(Rule):
    """Exactly ``value`` (with `Either`: ``"auto"`` or a number)."""

    value: object

    def ok(self, value) -> bool:
        return type(value) is type(self.value) and value == self.value

    def allowed(self) -> str:
        return show_value(self.value)


@dataclass(frozen=True)
class Either(Rule):
    """Any of ``rules``."""

    rules: tuple

    def ok(self, value) -> bool:
        return any(rule.ok(value) for rule in self.rules)

    def allowed(self) -> str:
        return " or ".join(rule.allowed() for rule in self.rules)


@dataclass(frozen=True)
class Each(Rule):
    """A list of at most ``max_len`` items, each allowed by ``item`` (None: any of the type)."""

    item: Rule | None
    max_len: int

    def ok(self, value) -> bool:
        return isinstance(value, list) and len(value) <= self.max_len

    def allowed(self) -> str:
        each = f", each {self.item.allowed()}" if self.item is not None else ""
        return f"a list of at most {self.max_len:,}{each}"

    def check(self, path: str, value) -> None:
        if not self.ok(value):
            raise ConfigError(path, value, f"a list of at most {self.max_len:,}")
        if self.item is not None:
            for i, item in enumerate(value):
                self.item.check(f"{path}[{i}]", item)


# Control characters (NUL included) in a path fail deep in TensorFlow or the OS; 1,024
# characters is a quarter of Linux's PATH_MAX.
_PATH_UNSAFE = re.compile("[\x00-\x1f\x7f]")
PATH_MAX = 1024


@dataclass(frozen=True)
class PathText(Rule):
    """A path of at most `PATH_MAX` characters without control characters."""

    empty_ok: bool

    def ok(self, value) -> bool:
        return (
            isinstance(value, str)
            and (self.empty_ok or value.strip() != "")
            and len(value) <= PATH_MAX
            and _PATH_UNSAFE.search(value) is None
        )

    def allowed(self) -> str:
        kind = "a path" if self.empty_ok else "a non-empty path"
        return f"{kind} of at most {PATH_MAX:,} characters, without control characters"


@dataclass(frozen=True)
class Pattern(Rule):
    """A string matching ``regex`` in full; ``words`` says what that means."""

    regex: str
    words: str

    def ok(self, value) -> bool:
        return isinstance(value, str) and re.fullmatch(self.regex, value) is not None

    def allowed(self) -> str:
        return self.words


@dataclass(frozen=True)
class Regex(Rule):
    """A regular expression (Python's `re` syntax) of at most 1,000 characters."""

    def ok(self, value) -> bool:
        if not isinstance(value, str) or len(value) > 1000:
            return False
        try:
            re.compile(value)
        except re.error:
            return False
        return True

    def allowed(self) -> str:
        return "a regular expression (Python's re syntax)"


@dataclass(frozen=True)
class Tables(Rule):
    """A list of at most ``max_len`` tables (TOML's ``[[section.key]]``), each with exactly one
    key of ``selectors`` and any of ``keys``; ``selectors`` and ``keys`` are ``(name, Rule)``
    pairs that check each value."""

    selectors: tuple
    keys: tuple
    max_len: int = 100

    def ok(self, value) -> bool:
        try:
            self.check("", value)
        except ConfigError:
            return False
        return True

    def allowed(self) -> str:
        selectors = " or ".join(name for name, _ in self.selectors)
        return (
            f"a list of at most {self.max_len} tables, each with one of {selectors} and any of "
            + ", ".join(name for name, _ in self.keys)
        )

    def check(self, path: str, value) -> None:
        if not isinstance(value, list) or len(value) > self.max_len:
            raise ConfigError(path, value, self.allowed())
        rules = dict(self.selectors + self.keys)
        for i, table in enumerate(value):
            where = f"{path}[{i}]"
            if not isinstance(table, dict):
                raise ConfigError(where, table, "a table of keys")
            given = [name for name, _ in self.selectors if name in table]
            if len(given) != 1:
                names = " or ".join(name for name, _ in self.selectors)
                raise ConfigError(where, table, f"exactly one of {names}")
            for key, item in table.items():
                if key not in rules:
                    close = difflib.get_close_matches(str(key), list(rules), n=1, cutoff=0.6)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ConfigError(
                        f"{where}.{key}",
                        key,
                        ", ".join(rules),
                        message=f"{where}.{key}: unknown key{hint} (valid keys: "
                        + ", ".join(rules)
                        + ")",
                    )
                rules[key].check(f"{where}.{key}", item)


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
#: How `ModelSource` tells the forms apart, tried in this order: a name that ends in
#: ``.py:<function>`` is a file (not a module ``x.py``), one that ends in ``.keras`` a saved model.
_MODEL_FORMS = (
    ("file", re.compile(rf"(?P<target>.+\.py):(?P<function>{_IDENTIFIER})")),
    ("keras", re.compile(r"(?P<target>.+\.keras)")),
    (
        "module",
        re.compile(rf"(?P<target>{_IDENTIFIER}(?:\.{_IDENTIFIER})*):(?P<function>{_IDENTIFIER})"),
    ),
)


@dataclass(frozen=True)
class ModelSource(Rule):
    """One of ``builtins`` (``"mlp"``, ``"cnn"``), ``module:function``, ``path/file.py:function``
    or ``path/model.keras``; a path has at most `PATH_MAX` characters, no control characters.

    `parse` says which form a value has (`kerasdl.models` builds from it).
    """

    builtins: tuple

    def parse(self, value) -> tuple[str, str, str | None] | None:
        """``(kind, target, function)``: ``("cnn", "cnn", None)``, ``("module", "pkg.mod",
        "build")``, ``("file", "nets/net.py", "build")``, ``("keras", "net.keras", None)``; None
        when ``value`` is none of the forms."""
        if not isinstance(value, str):
            return None
        if value in self.builtins:
            return value, value, None
        if len(value) > PATH_MAX + 101 or _PATH_UNSAFE.search(value) is not None:
            return None
        for kind, regex in _MODEL_FORMS:
            match = regex.fullmatch(value)
            if match is not None and len(match["target"]) <= PATH_MAX:
                return kind, match["target"], match.groupdict().get("function")
        return None

    def ok(self, value) -> bool:
        return self.parse(value) is not None

    def allowed(self) -> str:
        names = ", ".join(show_value(n) for n in self.builtins)
        return (
            f"{names}, module:function, path/to/file.py:function or path/to/model.keras "
            f"(paths of at most {PATH_MAX:,} characters, without control characters)"
        )

    def check(self, path: str, value) -> None:
        if self.ok(value):
            return
        allowed = self.allowed()
        close = difflib.get_close_matches(str(value), [str(n) for n in self.builtins], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            path, value, allowed, message=f"{path}: got {value!r}; allowed: {allowed}{hint}"
        )


@dataclass(frozen=True)
class Flag:
    """The ``kerasdl train`` option that sets a field.

    Attributes:
        option: The option's name, e.g. ``"--lr"``; a switch also gets ``--no-<name>``.
        panel: Its help panel: ``"Data"``, ``"Model"``, ``"Optimization"`` or ``"Run"``.
        metavar: What the help shows for its value (None for a switch).
        switch: A ``--x/--no-x`` pair setting true or false.
        envvar: An environment variable that gives the option's value.
    """

    option: str
    panel: str
    metavar: str | None = None
    switch: bool = False
    envvar: str | None = None

    @property
    def param(self) -> str:
        """The command's parameter name: ``--weight-decay`` -> ``weight_decay``."""
        return self.option.lstrip("-").replace("-", "_")


def setting(
    default=dataclasses.MISSING,
    *,
    help: str,
    rule: Rule | None = None,
    doc: str = "",
    flag: Flag | None = None,
    factory=None,
):
    """A dataclass field declared once (see the module docstring).

    Args:
        default: The default value (or give ``factory`` for a list).
        help: One line saying what the field does.
        rule: What it allows; None: any value of its type (a bool, a list checked elsewhere).
        doc: A longer note for the docs table. Defaults to none.
        flag: The ``kerasdl train`` option that sets it. Defaults to none (``--set`` only).
        factory: A function making the default (a list).
    """
    metadata = {"help": help, "rule": rule, "doc": doc, "flag": flag}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
