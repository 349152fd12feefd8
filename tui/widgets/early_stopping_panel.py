"""`EarlyStoppingPanel`: the countdown to early stopping, the plateau reducer, the checkpoint."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from kerasdl.events.record import number
from kerasdl.safe_text import inert
from kerasdl_tui.format import cells_bar, fmt_lr, fmt_number
from kerasdl_tui.state import RunState

__all__ = ["EarlyStoppingPanel", "early_stopping_lines"]


def _count(value) -> int:
    """A count from the run's setup, 0 when it is not a whole number >= 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _plural(count, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _early_stopping(state: RunState, width: int) -> list[Text]:
    status = state.early_stopping
    section = state.section("early_stopping")  # the config's, or a Track run's fit's
    if not status:
        if state.early_stopping_enabled is False:
            return [Text("early stopping off", style="dim")]
        if state.started is None:
            return [Text("waiting for the run to start", style="dim italic")]
        monitor = section.get("monitor", "val_loss")
        patience = section.get("patience", "?")
        return [
            Text(inert(f"{monitor} · patience {patience}"), style="bold"),
            Text("waiting for the first epoch", style="dim italic"),
        ]
    monitor = status.get("monitor") or section.get("monitor") or "?"
    mode = status.get("mode") or state.mode_of(monitor)
    best, best_epoch = status.get("best"), status.get("best_epoch")
    wait = status.get("wait") or 0
    patience = status.get("patience")
    if patience is None:  # the setup's (read from the run directory: any JSON value)
        patience = _count(section.get("patience"))
    stopped = bool(status.get("stopped")) or state.status == "early_stopped"

    lines = []
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(inert(monitor), style="bold")
    head.append(inert(f" ({mode})"), style="dim")
    head.append(" best ")
    head.append(fmt_number(best), style="bold cyan")
    if best_epoch is not None:
        head.append(inert(f" @ epoch {best_epoch}"))
    lines.append(head)

    style = "red" if stopped else ("yellow" if wait else "green")
    bar = Text(no_wrap=True)
    bar.append("wait ")
    label = inert(f" {wait}/{patience}")
    bar.append(cells_bar(wait, patience, max(1, width - 5 - len(label))), style=style)
    bar.append(label, style=f"bold {style}")
    lines.append(bar)

    if stopped:
        epoch = status.get("stopped_epoch") or state.epochs_done
        lines.append(
            Text(
                inert(
                    f"stopped at epoch {epoch}: no {monitor} improvement in "
                    f"{_plural(patience, 'epoch')}"
                ),
                style="bold red",
            )
        )
        if state.best_restored and best_epoch is not None:
            lines.append(Text(inert(f"best weights (epoch {best_epoch}) restored"), style="green"))
        elif state.finished is None and section.get("restore_best_weights"):
            lines.append(Text(inert(f"restoring the weights of epoch {best_epoch}"), style="dim"))
    elif state.live:
        left = status.get("epochs_left")
        if left is None:
            left = max(0, patience - wait)
        min_delta = number(status.get("min_delta"))
        if min_delta is None:
            min_delta = number(section.get("min_delta")) or 0.0
        if best is None:
            lines.append(Text(inert(f"stops after {_plural(left, 'epoch')} without a {monitor}")))
        else:
            bound = best - min_delta if mode == "min" else best + min_delta
            sign = "<" if mode == "min" else ">"
            line = Text(inert(f"stops in {_plural(left, 'epoch')} unless {monitor} {sign} "))
            line.append(fmt_number(bound), style="bold")
            epochs = state.epochs
            if epochs is not None and left > epochs - state.epochs_done:
                line.append(" (the run ends first)", style="dim")
            lines.append(line)
    else:
        outcome = {
            "completed": "did not stop early: every epoch ran",
            "stopped": f"stopped by request after epoch {state.epochs_done}",
        }.get(state.status, f"the run ended: {state.status_label}")
        lines.append(Text(inert(outcome), style="dim"))
        if state.best_restored and best_epoch is not None:
            lines.append(Text(inert(f"best weights (epoch {best_epoch}) restored"), style="green"))
    return lines


def _plateau(state: RunState) -> list[Text]:
    status = state.plateau
    if not status:
        if not state.plateau_enabled:
            return []
        section = state.section("plateau")
        return [
            Text(
                inert(
                    f"plateau: x{section.get('factor', '?')} after "
                    f"{section.get('patience', '?')}+1 bad epochs"
                ),
                style="dim",
            )
        ]
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("plateau ", style="bold")
    line.append(inert(f"wait {status.get('wait', 0)}/{status.get('patience', '?')}"))
    cooldown = status.get("cooldown_left")
    if cooldown:
        line.append(inert(f" · cooldown {cooldown}"), style="yellow")
    cuts = status.get("num_reductions")
    if cuts is not None:
        line.append(inert(f" · {_plural(cuts, 'cut')}"))
    if status.get("reduced"):
        line.append(" · lr cut", style="bold magenta")
    rate = status.get("learning_rate")
    if rate is not None:
        line.append(f" · lr {fmt_lr(rate)}", style="dim")
    return [line]


def _checkpoint(state: RunState) -> list[Text]:
    last = state.last_epoch
    if last is None or last.get("checkpoint_saved") is None:  # no checkpoint (a Track run)
        return []
    if last.get("checkpoint_saved"):
        saved = f"✓ checkpoint saved at epoch {last.get('epoch')} (best.keras)"
        return [Text(inert(saved), style="green")]
    checkpoint = last.get("checkpoint") or {}
    kept = checkpoint.get("best_epoch") or (state.best or {}).get("epoch")
    text = f"checkpoint not saved at epoch {last.get('epoch')}"
    if kept is not None:
        text += f"; best.keras is epoch {kept}"
    return [Text(inert(text), style="dim")]


def early_stopping_lines(state: RunState, width: int = 40) -> list[Text]:
    """The panel's lines: the monitor and best, the wait/patience bar, "stops in N epochs
    unless val_loss < X" (or when and why it stopped, and the restored weights), the plateau
    reducer's state when one is configured, and whether the last epoch saved a checkpoint.
    Every value from the run's events or config is written inert (`kerasdl.safe_text`)."""
    return _early_stopping(state, width) + _plateau(state) + _checkpoint(state)


class EarlyStoppingPanel(Widget):
    """The early-stopping panel (see `early_stopping_lines`)."""

    DEFAULT_CSS = """
    EarlyStoppingPanel {
        border: round $secondary 60%;
        border-title-style: bold;
        height: auto;
        min-height: 4;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.border_title = "early stopping"
        self.state = RunState()

    def show(self, state: RunState) -> None:
        self.state = state
        self.refresh()

    def render(self) -> Text:
        return Text("\n").join(early_stopping_lines(self.state, self.size.width or 40))
