"""The training engine behind `kerasdl.runner.train`, one concern a module.

- `kerasdl.run.builders`: the config's names -> the learning rate, optimizer, loss, metrics
  and ``tf.distribute`` strategy (re-exported by `kerasdl.runner`).
- `kerasdl.run.threads`: TensorFlow's thread pools (the ``"auto"`` rule, setting them).
- `kerasdl.run.setup`: the steps before ``run_started``: check, backend (the clock starts),
  data, build, run directory.
- `kerasdl.run.loops`: the training loops behind one interface, and the choice among them.
- `kerasdl.run.callbacks`: the runner's monitor and last checkpoint, and the callback list.
- `kerasdl.run.resume`: ``last.keras`` + ``state.json`` (the format, its content, the lock)
  and continuing a run from them.
- `kerasdl.run.status`: the one rule of a run's status.
- `kerasdl.run.session`: one call from ``run_started`` to ``run_finished`` and
  ``summary.json``.

Importing any of them is light: Keras and TensorFlow are imported inside the functions.
"""
