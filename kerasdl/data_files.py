"""Your own data for ``kerasdl train --data``: a ``.npz`` of arrays, or a ``.csv`` and its target.

`load_file_dataset(config)` reads ``data.path`` and returns a `kerasdl.data.Dataset`, or raises
a `kerasdl.data.DataError` naming the file and the problem, before anything trains:

- ``.npz``: the arrays ``x_train``, ``y_train`` and, optionally, ``x_val`` with ``y_val`` and
  ``x_test`` with ``y_test``, read with ``allow_pickle=False`` (a file from elsewhere never runs
  code). Features are numbers (bool, integer, float; uint8 images are scaled by 1/255), one
  example a row; labels are one per example. Other arrays are left out, with a warning.
- ``.csv``: UTF-8, comma-separated, a header row, ``data.target`` the column to predict, every
  other column a numeric feature; the features are standardised with the mean and standard
  deviation of the training split (`Dataset.feature_mean`, `Dataset.feature_std`).

The task (``data.task = "auto"``) follows the labels: text, or whole numbers with at most
`MAX_AUTO_CLASSES` distinct values and at most half as many as the rows -> classification, the
labels mapped to ``0..K-1`` in sorted order (`Dataset.classes`); other numbers -> regression.
Without ``x_test`` a ``data.test_split`` of the examples is held out as the test set (stratified
for classification), then ``validation_split`` of the rest (``x_val`` if the file has it).

A file is untrusted: sizes are bounded (`MAX_CSV_BYTES`, `MAX_NPZ_BYTES`), and every string
from it that reaches a message is made inert (`kerasdl.safe_text.inert`) and shortened.
NumPy and the standard library only: no TensorFlow, so a bad file fails at once.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from kerasdl.config import MAX_EXAMPLES, MAX_FEATURES, MAX_UNITS, TrainConfig
from kerasdl.data import DataError, Dataset, flat_inputs, split_indices
from kerasdl.safe_text import inert

__all__ = [
    "MAX_AUTO_CLASSES",
    "MAX_CSV_BYTES",
    "MAX_NPZ_BYTES",
    "NPZ_KEYS",
    "infer_task",
    "load_file_dataset",
    "preload",
    "read_csv",
    "read_npz",
]

#: The arrays a ``.npz`` may hold; ``x_train`` and ``y_train`` are required.
NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
#: The largest ``.csv`` read (a bigger table: save it as a ``.npz``).
MAX_CSV_BYTES = 256 << 20
#: The most bytes the arrays of a ``.npz`` may take once uncompressed (a zip bomb stops here).
MAX_NPZ_BYTES = 16 << 30
#: ``data.task = "auto"``: whole-number labels with more distinct values than this are numbers.
MAX_AUTO_CLASSES = 1000
#: At most this many classes (the output layer's units).
MAX_CLASSES = MAX_UNITS
#: What `Dataset.describe` lists in full (classes, feature names, standardisation).
_DESCRIBED = 256
_TEST_STREAM = 0x5445  # the test split's generator, apart from the validation split's


def _shown(value, limit: int = 60) -> str:
    """A string from a file, for a message: inert, at most ``limit`` characters, quoted."""
    text = inert(value)
    return "'" + (text if len(text) <= limit else text[: limit - 3] + "...") + "'"


def _fail(path: str, problem: str):
    raise DataError(f"{inert(path)}: {problem}")


@dataclasses.dataclass
class _Raw:
    """What a file holds, before the task and the splits: features and labels per split."""

    x: dict  # split -> array (n, ...): "train", and "val", "test" when the file has them
    y: dict  # split -> labels (n,): numbers, or text (dtype str)
    kind: str  # "npz" or "csv"
    what: str  # the labels, for messages: "y_train" or "target 'price'"
    feature_names: tuple | None = None
    lines: np.ndarray | None = None  # a CSV's line of each row (for messages)
    messages: list = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# .npz


def read_npz(path: str) -> tuple[_Raw, str]:
    """The arrays of a ``.npz`` (checked) and the SHA-256 of its bytes.

    Raises:
        DataError: Not a readable ``.npz``, arrays missing, of the wrong type or shape, NaN or
            infinite features, no rows.
    """
    digest = _sha256(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".npy")]
            _npz_sizes(path, archive, members)
    except (zipfile.BadZipFile, OSError) as err:
        _fail(path, f"not a .npz file ({type(err).__name__}: {err})")
    keys = [m.filename[:-4] for m in members]
    missing = [k for k in ("x_train", "y_train") if k not in keys]
    if missing:
        found = ", ".join(_shown(k) for k in keys[:20]) or "none"
        _fail(path, f"missing {' and '.join(missing)} (arrays found: {found})")
    for split in ("val", "test"):
        if (f"x_{split}" in keys) != (f"y_{split}" in keys):
            have, lack = (f"x_{split}", f"y_{split}")[:: 1 if f"x_{split}" in keys else -1]
            _fail(path, f"{have} without {lack}: give both or neither")
    raw = _Raw(x={}, y={}, kind="npz", what="y_train")
    unknown = [k for k in keys if k not in NPZ_KEYS]
    if unknown:
        listed = ", ".join(_shown(k) for k in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raw.messages.append(("warning", f"{inert(path)}: arrays not used: {listed}"))
    arrays = _npz_arrays(path, [k for k in NPZ_KEYS if k in keys])
    for split in ("train", "val", "test"):
        if f"x_{split}" in arrays:
            raw.x[split] = _npz_features(path, f"x_{split}", arrays[f"x_{split}"])
            raw.y[split] = _npz_labels(path, f"y_{split}", arrays[f"y_{split}"], raw.x[split])
    _same_features(path, raw.x)
    return raw, digest


def _npz_sizes(path: str, archive: zipfile.ZipFile, members: list) -> None:
    """Every array's header, read before any array: what it says fits in its member, and all
    of them in `MAX_NPZ_BYTES` (a header that claims more is never allocated)."""
    total = 0
    for member in members:
        key = _shown(member.filename[:-4])
        try:
            with archive.open(member) as file:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(file)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            _fail(path, f"{key} is not a NumPy array ({type(err).__name__}: {err})")
        if dtype.hasobject:
            continue  # refused when read (no pickle)
        size = math.prod(shape) * dtype.itemsize
        if size > member.file_size:
            _fail(
                path,
                f"{key}: its header says {shape} {dtype} ({size:,} bytes), its file "
                f"holds {member.file_size:,}: truncated or corrupt",
            )
        total += size
    if total > MAX_NPZ_BYTES:
        _fail(path, f"its arrays take {total:,} bytes, more than {MAX_NPZ_BYTES:,}")


def _npz_arrays(path: str, keys: list) -> dict:
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as npz:
            return {key: _npz_array(path, npz, key) for key in keys}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        _fail(path, f"cannot read ({type(err).__name__}: {err})")


def _npz_array(path: str, npz, key: str) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as err:
        if "allow_pickle" in str(err):
            _fail(path, f"{key} holds Python objects, which kerasdl does not load (no pickle)")
        _fail(path, f"{key}: cannot read ({err})")


def _npz_features(path: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        _fail(
            path,
            f"{key} has dtype {x.dtype} ({_KIND.get(x.dtype.kind, 'not numbers')}); "
            "features must be numbers (bool, integer or float)",
        )
    if x.ndim < 2:
        _fail(
            path,
            f"{key} has shape {x.shape}: give one example a row, shape (n, features) "
            "or (n, height, width[, channels])",
        )
    if len(x) == 0:
        _fail(path, f"{key} has no rows (shape {x.shape})")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            where = np.argwhere(bad)[0]
            value = x[tuple(where)]
            _fail(
                path,
                f"{key} has NaN or infinite values (first: {value} at example "
                f"{where[0]}, feature {tuple(int(i) for i in where[1:])})",
            )
    return x


_KIND = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers", "V": "records"}


def _npz_labels(path: str, key: str, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    if y.dtype.kind not in "biufU":
        _fail(
            path,
            f"{key} has dtype {y.dtype} ({_KIND.get(y.dtype.kind, 'not labels')}); "
            "labels must be numbers or text",
        )
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        _fail(path, f"{key} has shape {y.shape}: one label a row, shape (n,) or (n, 1)")
    if len(y) != len(x):
        _fail(path, f"x_{key[2:]} has {len(x):,} rows but {key} {len(y):,}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        first = int(np.flatnonzero(~np.isfinite(y))[0])
        _fail(path, f"{key} has NaN or infinite values (first: {y[first]} at example {first})")
    return y


def _same_features(path: str, x: dict) -> None:
    train = x["train"]
    for split, array in x.items():
        if array.shape[1:] != train.shape[1:]:
            _fail(
                path,
                f"x_{split} has examples of shape {array.shape[1:]}, x_train "
                f"{train.shape[1:]}: every split needs the same features",
            )
        if (array.dtype == np.uint8) != (train.dtype == np.uint8):
            _fail(
                path,
                f"x_{split} is {array.dtype} but x_train {train.dtype} (uint8 images "
                "are scaled by 1/255): give every split the same dtype",
            )


# ---------------------------------------------------------------------------------------------
# .csv


def read_csv(path: str, target: str) -> tuple[_Raw, str]:
    """The features and target of a ``.csv`` (checked) and the SHA-256 of its bytes.

    Raises:
        DataError: Not UTF-8, empty, no rows, rows of another length than the header, the
            target not in the header, a non-numeric feature, a missing or non-finite value.
    """
    data = _read_bytes(path, MAX_CSV_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        _fail(path, f"not UTF-8 text (byte {err.start:,}); save the CSV as UTF-8")
    if not text.strip():
        _fail(path, "the file is empty")
    header, rows, lines = _csv_rows(path, text)
    if target not in header:
        close = difflib.get_close_matches(target, header, n=1)
        hint = f"; did you mean {_shown(close[0])}?" if close else ""
        listed = ", ".join(_shown(h, 30) for h in header[:20]) + (
            ", ..." if len(header) > 20 else ""
        )
        _fail(path, f"no column {_shown(target)} for data.target (columns: {listed}){hint}")
    if len(header) < 2:
        _fail(path, f"no feature columns: {_shown(target)} is the only column")
    columns = list(zip(*rows, strict=True))
    lines = np.asarray(lines)
    t = header.index(target)
    features = [
        _numeric_column(path, name, columns[i], lines) for i, name in enumerate(header) if i != t
    ]
    names = tuple(name for i, name in enumerate(header) if i != t)
    y = _target_column(path, target, columns[t], lines)
    raw = _Raw(
        x={"train": np.stack(features, axis=1)},
        y={"train": y},
        kind="csv",
        what=f"target {_shown(target)}",
        feature_names=names,
        lines=lines,
    )
    return raw, digest


def _csv_rows(path: str, text: str) -> tuple[list, list, list]:
    """``(header, rows, line of each row)``; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows, lines = None, [], []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(path, row)
                continue
            if len(row) != len(header):
                _fail(
                    path, f"line {reader.line_num} has {len(row)} fields, the header {len(header)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
            if len(rows) > MAX_EXAMPLES:
                _fail(path, f"more than {MAX_EXAMPLES:,} rows")
    except csv.Error as err:
        _fail(path, f"line {reader.line_num}: not valid CSV ({err})")
    if not rows:
        _fail(path, "a header but no rows")
    return header, rows, lines


def _header(path: str, row: list) -> list:
    header = [cell.strip() for cell in row]
    if len(header) > MAX_FEATURES + 1:
        _fail(path, f"{len(header):,} columns, more than {MAX_FEATURES + 1:,}")
    for i, name in enumerate(header):
        if not name:
            _fail(path, f"column {i + 1} of the header has no name")
    seen = set()
    for name in header:
        if name in seen:
            _fail(path, f"column {_shown(name)} appears twice in the header")
        seen.add(name)
    return header


def _numeric_column(path: str, name: str, values: tuple, lines: np.ndarray) -> np.ndarray:
    try:
        column = np.array(values, dtype=np.float64)
    except ValueError:
        for i, value in enumerate(values):
            if not value.strip():
                _fail(path, f"line {lines[i]}, column {_shown(name)}: missing value")
            try:
                float(value)
            except ValueError:
                _fail(
                    path,
                    f"column {_shown(name)} is not numeric: {_shown(value)} at line "
                    f"{lines[i]} (features must be numbers; encode text columns first)",
                )
        raise  # pragma: no cover - NumPy and float() agree
    bad = np.flatnonzero(~np.isfinite(column))
    if len(bad):
        i = int(bad[0])
        _fail(
            path,
            f"line {lines[i]}, column {_shown(name)}: {_shown(values[i].strip())} is "
            "not a finite number",
        )
    return column


def _target_column(path: str, name: str, values: tuple, lines: np.ndarray) -> np.ndarray:
    """The target: numbers (float64) when every value is one, else text (stripped)."""
    stripped = [value.strip() for value in values]
    for i, value in enumerate(stripped):
        if not value:
            _fail(path, f"line {lines[i]}, column {_shown(name)} (the target): missing value")
    try:
        column = np.array(stripped, dtype=np.float64)
    except ValueError:
        return np.array(stripped, dtype=str)
    bad = np.flatnonzero(~np.isfinite(column))
    if len(bad):
        i = int(bad[0])
        _fail(
            path,
            f"line {lines[i]}, column {_shown(name)} (the target): "
            f"{_shown(stripped[i])} is not a finite number",
        )
    return column


def _read_bytes(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as err:
        _fail(path, f"cannot read ({err.strerror or err})")
    if len(data) > limit:
        _fail(path, f"larger than {limit:,} bytes (save a big table as a .npz instead)")
    return data


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        _fail(path, f"cannot read ({err.strerror or err})")
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The task and the labels.


def infer_task(y: np.ndarray, what: str) -> tuple[str, str]:
    """``(task, reason)`` for labels ``y`` (`data.task` ``auto``; see the module docstring).

    Example: ``infer_task(np.array([1.5, 2.0]), "target 'price'")`` ->
    ``("regression", "target 'price' has non-integer values")``.
    """
    if y.dtype.kind == "U":
        return "classification", f"{what} has text values"
    values = y.astype(np.float64, copy=False)
    if not np.array_equal(values, np.floor(values)):
        return "regression", f"{what} has non-integer values"
    distinct = len(np.unique(values))
    if distinct > MAX_AUTO_CLASSES or distinct > len(y) / 2:
        limit = min(MAX_AUTO_CLASSES, len(y) // 2)
        return "regression", (
            f"{what} has whole numbers but {distinct:,} distinct values, more than {limit:,}: "
            "read as numbers (set data.task = 'classification' for classes)"
        )
    return "classification", f"{what} has whole-number labels ({distinct} classes)"


def _decide_task(raw: _Raw, config: TrainConfig) -> tuple[str, str]:
    if config.data.task != "auto":
        return config.data.task, f"data.task = {config.data.task!r}"
    return infer_task(raw.y["train"], raw.what)


def _class_labels(path: str, raw: _Raw) -> tuple[dict, tuple]:
    """Every split's labels as class indices ``0..K-1`` (sorted labels) and the labels."""
    ys = raw.y
    for split, y in ys.items():
        if y.dtype.kind != "U" and not np.array_equal(y, np.floor(y)):
            first = int(np.flatnonzero(y != np.floor(y))[0])
            where = f"line {raw.lines[first]}" if raw.lines is not None else f"example {first}"
            what = raw.what if split == "train" else f"y_{split}"
            _fail(
                path,
                f"{what} has labels that are not integers ({y[first]} at {where}); "
                "classification needs whole numbers or text",
            )
    kinds = {y.dtype.kind == "U" for y in ys.values()}
    if len(kinds) > 1:
        _fail(path, "some splits have text labels, others numbers: give every split the same")
    classes = np.unique(np.concatenate(list(ys.values())))
    if len(classes) > MAX_CLASSES:
        _fail(path, f"{len(classes):,} classes, more than {MAX_CLASSES:,}")
    indices = {s: np.searchsorted(classes, y).astype(np.int32) for s, y in ys.items()}
    labels = tuple(str(c) if classes.dtype.kind == "U" else _number(c) for c in classes)
    return indices, labels


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _regression_targets(path: str, raw: _Raw) -> dict:
    for split, y in raw.y.items():
        if y.dtype.kind == "U":
            first = next(i for i, v in enumerate(y) if _not_number(v))
            where = f"line {raw.lines[first]}" if raw.lines is not None else f"example {first}"
            what = raw.what if split == "train" else f"y_{split}"
            _fail(
                path,
                f"{what} has text ({_shown(y[first])} at {where}); regression needs "
                "numbers (data.task = 'classification' for classes)",
            )
    return {s: y.astype(np.float32)[:, None] for s, y in raw.y.items()}


def _not_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# The dataset.

_preloaded: list = []  # [(key, Dataset)]: `preload`'s, until `load_file_dataset` takes it


def _key(config: TrainConfig):
    """What a loaded file's dataset depends on: the file (path, size, time, inode) and the
    config's choices; None when the file cannot be looked at."""
    try:
        path = Path(config.data.path).expanduser()
        stat = path.stat()
        where = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    except (OSError, RuntimeError):
        return None
    return (*where, config.data, config.seed, config.validation_split, flat_inputs(config))


def preload(config: TrainConfig) -> Dataset:
    """Load ``config``'s file (`kerasdl.data.load_dataset`: its task checked too) and keep it
    for the next `load_file_dataset` of the same config and unchanged file, which takes it.

    ``kerasdl train`` calls it before importing TensorFlow, so a bad file fails at once and the
    run does not read it twice.
    """
    from kerasdl.data import load_dataset

    _preloaded.clear()
    dataset = load_dataset(config)
    key = _key(config)
    if key is not None:
        _preloaded.append((key, dataset))
    return dataset


def load_file_dataset(config: TrainConfig) -> Dataset:
    """The `Dataset` of ``config.data.path`` (see the module docstring).

    Raises:
        DataError: The file cannot be used; the message names it and the problem.
    """
    if _preloaded:
        key, dataset = _preloaded.pop()
        if key is not None and key == _key(config):
            return dataset
    d = config.data
    path = Path(d.path).expanduser()
    if not path.is_file():
        _fail(d.path, "no such file" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        _fail(d.path, "the file is empty")
    csv_file = path.suffix.lower() == ".csv"
    raw, digest = read_csv(str(path), d.target) if csv_file else read_npz(str(path))
    raw.x, raw.y = _limited(raw.x, d.limit), _limited(raw.y, d.limit)
    task, reason = _decide_task(raw, config)
    if task == "classification":
        labels, classes = _class_labels(d.path, raw)
    else:
        labels, classes = _regression_targets(d.path, raw), None
    x = {split: _features(array, config) for split, array in raw.x.items()}
    x, labels, index = _splits(x, labels, task, config)
    mean = std = None
    if raw.kind == "csv":
        x, mean, std = _standardised(x)
    return _dataset(config, raw, task, reason, x, labels, index, classes, mean, std, digest)


def _limited(arrays: dict, limit: int | None) -> dict:
    """``data.limit``: the first ``limit`` training and test examples (all of a file's
    validation split)."""
    if limit is None:
        return arrays
    return {s: a[:limit] if s in ("train", "test") else a for s, a in arrays.items()}


def _features(x: np.ndarray, config: TrainConfig) -> np.ndarray:
    """float32 features: uint8 images / 255; flat for the MLP, else grayscale images get a
    channel axis (`kerasdl.data.flat_inputs`)."""
    images = x.dtype == np.uint8
    out = x.astype(np.float32) / np.float32(255.0) if images else x.astype(np.float32)
    if not np.isfinite(out).all():  # a float64 beyond float32's range
        _fail(config.data.path, "features beyond float32's range (about 3.4e38)")
    if flat_inputs(config):
        return out.reshape(len(out), math.prod(out.shape[1:]))
    return out[..., None] if images and out.ndim == 3 else out


def _splits(x: dict, y: dict, task: str, config: TrainConfig):
    """``(x, y, train_index)`` with "train", "val", "test": the file's own, else held out."""
    stratify = task == "classification"
    n = len(x["train"])
    if "test" not in x:
        if n < 2:
            _fail(config.data.path, f"{n} example: too few to hold out a test set")
        rest, test = split_indices(
            y["train"] if stratify else n,
            config.data.test_split,
            config.seed,
            stratify=stratify,
            stream=_TEST_STREAM,
        )
        x = {**x, "train": x["train"][rest], "test": x["train"][test]}
        y = {**y, "train": y["train"][rest], "test": y["train"][test]}
    index = np.arange(len(x["train"]))
    if config.validation_split == 0:
        x["val"], y["val"] = x["train"][:0], y["train"][:0]
    elif "val" not in x:
        train, val = split_indices(
            y["train"] if stratify else len(index),
            config.validation_split,
            config.seed,
            stratify=stratify,
        )
        if len(val) == 0:
            _fail(
                config.data.path,
                "1 training example: too few for a validation split (set validation_split to 0)",
            )
        x = {**x, "train": x["train"][train], "val": x["train"][val]}
        y = {**y, "train": y["train"][train], "val": y["train"][val]}
        index = train
    return x, y, index


def _standardised(x: dict):
    """Features standardised with the training split's mean and standard deviation (a constant
    column: std 1)."""
    train = x["train"].astype(np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    out = {s: ((a - mean) / std).astype(np.float32) for s, a in x.items()}
    return out, mean, std


def _dataset(config, raw, task, reason, x, y, index, classes, mean, std, digest) -> Dataset:
    d = config.data
    name = Path(d.path).name
    n_features = math.prod(x["train"].shape[1:])
    kind = "CSV" if raw.kind == "csv" else "npz"
    source = f"{name}: {kind}, {n_features:,} features -> {task}: {reason}"
    details = {
        "path": d.path,
        "format": raw.kind,
        "task": task,
        "task_reason": reason,
        "target": d.target or None,
        "n_classes": len(classes) if classes is not None else None,
        "classes": list(classes[:_DESCRIBED]) if classes is not None else None,
    }
    if raw.feature_names is not None and len(raw.feature_names) <= _DESCRIBED:
        details["features"] = list(raw.feature_names)
    if mean is not None and len(mean) <= _DESCRIBED:
        details["scaling"] = {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "from": "the training split",
        }
    return Dataset(
        name=d.name,
        source=inert(source),
        notice=None,
        x_train=x["train"],
        y_train=y["train"],
        x_val=x["val"],
        y_val=y["val"],
        x_test=x["test"],
        y_test=y["test"],
        task=task,
        num_classes=len(classes) if classes is not None else None,
        input_shape=tuple(int(s) for s in x["train"].shape[1:]),
        train_index=index,
        task_reason=reason,
        messages=(*raw.messages, ("info", _task_notice(name, kind, task, reason, classes, mean))),
        details=details,
        file_sha256=digest,
        classes=classes,
        feature_mean=mean,
        feature_std=std,
    )


def _task_notice(name, kind, task, reason, classes, mean) -> str:
    """``prices.csv read as regression data: target 'price' has non-integer values; ...``."""
    text = f"{inert(name)} read as {task} data: {reason}"
    if classes == tuple(range(len(classes or ()))):
        text += f"; classes 0..{len(classes) - 1}, as given"
    elif classes is not None:
        shown = ", ".join(
            f"{_shown(c, 20) if isinstance(c, str) else c} -> {i}"
            for i, c in enumerate(classes[:10])
        )
        text += f"; classes {shown}" + (", ..." if len(classes) > 10 else "")
    if mean is not None:
        text += "; features standardised with the training split's mean and std"
    if not reason.startswith("data.task"):
        other = "regression" if task == "classification" else "classification"
        text += f" (set data.task = '{other}' to change it)"
    return text
