"""A run's settings as dotted keys, and the keys that differ between runs.

A run of ``kerasdl train`` has its config (``run_started``'s, else ``config.toml``: the
`kerasdl.runs.RunInfo.config`); a run `kerasdl.callbacks.Track` recorded has its ``fit``
description instead (`kerasdl.runs.RunInfo.fit`: the model, optimizer, loss, epochs...). Both
are read from a run directory, so both are untrusted: `settings` flattens them to at most
`MAX_KEYS` dotted keys, `MAX_DEPTH` levels deep, with text cut at `MAX_TEXT` characters, and
`value_text` gives the text a view shows (made inert by the view, `kerasdl.safe_text`).

`differing` is what ``kerasdl runs compare`` opens with and what the runs browser shows as
columns: the keys whose values are not the same in every run (a key a run lacks counts as
``None``; ``1`` and ``1.0`` are the same). ``run_name`` is left out (the run id shows it).

Light: no Keras, no Rich.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = [
    "IGNORED_KEYS",
    "MAX_DEPTH",
    "MAX_KEYS",
    "MAX_TEXT",
    "differing",
    "settings",
    "short_labels",
    "sort_value",
    "value_text",
]

#: The most dotted keys read from one run.
MAX_KEYS = 500
#: The deepest nesting followed (``a.b.c.d``); deeper tables are left out.
MAX_DEPTH = 4
#: The longest text value (and key) kept, in characters.
MAX_TEXT = 200
#: Keys `differing` leaves out: they differ by design.
IGNORED_KEYS = frozenset({"run_name"})

Value = bool | int | float | str | tuple | None


def settings(info) -> dict[str, Value]:
    """A run's settings: ``{"optimizer.learning_rate": 0.001, "model.hidden": (256, 128)}``.

    Args:
        info: A `kerasdl.runs.RunInfo` (its ``config``, else a Track run's ``fit``), or a
            mapping (a config dict).
    """
    if isinstance(info, Mapping):
        source = info
    else:
        config = getattr(info, "config", None)
        source = config if isinstance(config, Mapping) and config else getattr(info, "fit", None)
    out: dict[str, Value] = {}
    if isinstance(source, Mapping):
        _flatten(out, "", source, 0)
    return out


def _flatten(out: dict, prefix: str, mapping: Mapping, depth: int) -> None:
    for key, value in mapping.items():
        if len(out) >= MAX_KEYS:
            return
        name = f"{prefix}.{key}" if prefix else str(key)
        name = name[:MAX_TEXT]
        if isinstance(value, Mapping):
            if depth + 1 < MAX_DEPTH:
                _flatten(out, name, value, depth + 1)
            continue
        out[name] = _scalar(value)


def _scalar(value) -> Value:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (list, tuple)):
        return tuple(_scalar(item) for item in value[:100] if not isinstance(item, Mapping))
    return str(value)[:MAX_TEXT]


def value_text(value: Value, missing: bool = False) -> str:
    """The text of a value: ``-`` for a key the run lacks, ``none``, ``true``/``false``, a float
    in its shortest exact form (``0.001``, ``1e-05``), a list as ``256,128``."""
    if missing:
        return "-"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, tuple):
        return ",".join(value_text(item) for item in value)[:MAX_TEXT]
    return str(value)


def _same(value: Value):
    """What two values are compared by: numbers as floats (``1`` is ``1.0``), bools apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value)) if not math.isnan(value) else ("nan",)
    if isinstance(value, tuple):
        return ("list", tuple(_same(item) for item in value))
    return ("text", value)


def differing(
    runs: Iterable, *, ignore: Iterable[str] = IGNORED_KEYS, every: bool = False
) -> list[str]:
    """The dotted keys whose values differ between ``runs`` (every key with ``every``), in
    the order the runs first name them.

    Args:
        runs: `kerasdl.runs.RunInfo`s, or `settings` dicts.
        ignore: Keys left out (unless ``every``). Defaults to `IGNORED_KEYS`.
        every: Every key of any run. Defaults to False.
    """
    flats = [run if isinstance(run, dict) and _is_flat(run) else settings(run) for run in runs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    if every:
        return keys
    ignored = set(ignore)
    return [
        key
        for key in keys
        if key not in ignored and len({_same(flat.get(key)) for flat in flats}) > 1
    ]


def _is_flat(mapping: dict) -> bool:
    return not any(isinstance(value, Mapping) for value in mapping.values())


def short_labels(keys: Iterable[str], among: Iterable[str] = ()) -> dict[str, str]:
    """``{key: label}``: the last part of each dotted key (``learning_rate``), or more of it
    where two keys of ``keys`` or ``among`` (every key of the runs) would share a label
    (``optimizer.name``, ``schedule.name``)."""
    keys = list(keys)
    universe = set(keys) | set(among)
    labels = {}
    for key in keys:
        parts = key.split(".")
        for size in range(1, len(parts) + 1):
            label = ".".join(parts[-size:])
            if sum(1 for other in universe if other == label or other.endswith("." + label)) == 1:
                break
        labels[key] = label
    return labels


def sort_value(value: Value, missing: bool = False) -> tuple:
    """A sort key for a setting's value: missing and ``None`` last, numbers before text."""
    if missing or value is None:
        return (2, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "") if not math.isnan(value) else (1, 0.0, "nan")
    return (1, 0.0, value_text(value))
