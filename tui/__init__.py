"""kerasdl's Textual dashboard, installed under the import name ``kerasdl_tui``.

Importing this package is light (no Textual, no Keras): the CLI asks `choose_ui` which view to
use before anything heavy loads. The application itself is `kerasdl_tui.app.DashboardApp`.

Layout::

    app.py, app.tcss    DashboardApp: the screens, the quit logic, the global keys
    state.py            RunState: the events of a run folded into what the screen shows
    sources.py          where events come from: a script, a followed file, the runner
    messages.py         the messages a source thread posts to the UI
    screens/            the run screen, the runs browser, help and confirmation modals
    widgets/            one widget per file (header, progress, charts, early stopping, ...)
    format.py           how numbers, durations and bars are written
    choose.py           choose_ui: dashboard or plain view for ``--ui auto`` (light)
    __main__.py         ``python -m kerasdl_tui [RUN]``, the same as ``kerasdl dashboard``

See ``docs/dashboard.md``.
"""

from kerasdl_tui.choose import MIN_SIZE, choose_ui

__all__ = ["MIN_SIZE", "choose_ui"]
