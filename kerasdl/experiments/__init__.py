"""The chapter's claims as experiments: the work behind ``kerasdl experiment ...``.

Each module runs one experiment and returns a result object with ``to_dict()`` (what
``--json`` prints); the CLI modules ``kerasdl.cli.experiment_*`` render them. Modules import
Keras (at the top or inside their functions): the CLI imports them when an experiment runs.

- `kerasdl.experiments.optimizers`: the same network, initial weights and data order with each
  optimizer (chapter 3.2.9).
- `kerasdl.experiments.init`: activation and gradient scales through a deep MLP per
  initializer (3.3).
- `kerasdl.experiments.regularization`: L1, L2, dropout and batch norm side by side (3.4).
- `kerasdl.experiments.losses`: MSE, MAE, Huber and SmoothL1 on data with outliers (3.1.2).
- `kerasdl.experiments.lr_find`: the learning-rate range test.
"""
