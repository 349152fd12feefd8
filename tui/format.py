"""Short, fixed-width text for numbers, durations and bars: how every widget writes them."""

from __future__ import annotations

import math

from kerasdl.safe_text import inert

__all__ = ["cells_bar", "fmt_clock", "fmt_duration", "fmt_lr", "fmt_number", "fraction_bar"]

_EIGHTHS = " ▏▎▍▌▋▊▉"


def fmt_number(value, digits: int = 4) -> str:
    """A metric: ``0.3121``; scientific when tiny or huge (``1.2e-05``); ``NaN``, ``inf``, ``-``.

    A run's file may hold anything: a string is written as it is, inert (`kerasdl.safe_text`),
    and so is a value that is not a number (a list, a dict).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if not _is_real(value):
        return inert(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.{max(1, digits - 2)}e}"
    return f"{value:.{digits}f}"


def fmt_lr(value) -> str:
    """A learning rate with three significant digits: ``0.001``, ``0.0005``, ``1e-05``; a
    string or another value that is not a number as `fmt_number` writes it."""
    if value is None:
        return "-"
    if not _is_real(value):
        return inert(value)
    if not math.isfinite(value):
        return fmt_number(value)
    return f"{value:.3g}"


def fmt_duration(seconds) -> str:
    """``42.1s``, ``3m05s``, ``1h02m``; ``-`` when unknown (or not a number)."""
    if seconds is None or not _is_real(seconds) or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _is_real(value) -> bool:
    """Whether ``math`` takes ``value`` (a float, an int, a NumPy scalar), not a list or dict."""
    try:
        math.isfinite(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def fmt_clock(seconds) -> str:
    """Elapsed time as a clock: ``00:03:12`` (``--:--:--`` when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def fraction_bar(fraction, width: int) -> str:
    """A bar ``width`` cells wide, filled to ``fraction`` (0..1) with eighth-cell precision."""
    if width <= 0:
        return ""
    if fraction is None or not math.isfinite(fraction):
        fraction = 0.0
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, partial = divmod(eighths, 8)
    bar = "█" * full
    if partial and full < width:
        bar += _EIGHTHS[partial]
    return bar + " " * (width - len(bar))


def cells_bar(filled: int, total: int, width: int = 20, *, on: str = "■", off: str = "□") -> str:
    """``filled`` of ``total`` as cells (``■■■□□``), one cell per unit while they fit in
    ``width``, else scaled to ``width`` cells."""
    total = max(int(total), 0)
    filled = min(max(int(filled), 0), total)
    if total == 0:
        return ""
    if total <= width:
        return on * filled + off * (total - filled)
    shown = round(filled / total * width)
    if filled and not shown:
        shown = 1
    return on * shown + off * (width - shown)
