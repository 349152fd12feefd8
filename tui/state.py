"""`RunState`: the events of one run folded into what the dashboard shows.

The folding and every rule behind it (status, best epoch, metric direction, whether the best
weights were restored, the learning rate now) are `kerasdl.events.record.RunRecord`'s, the same
record `kerasdl runs` reads; `RunState` is that record, under the name the dashboard's widgets
use. Plain Python (no Textual): tests can check the folding without a screen.
"""

from __future__ import annotations

from kerasdl.events.record import LR_REASONS, RunRecord, metric_order
from kerasdl.events.schema import STATUS_LABELS, STATUS_STYLES

__all__ = [
    "LR_REASONS",
    "STATUS_LABELS",
    "STATUS_STYLES",
    "RunState",
    "metric_order",
]


class RunState(RunRecord):
    """Everything the dashboard shows about a run, updated one event at a time (`RunRecord`)."""
