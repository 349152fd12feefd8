"""The config's names -> kerasdl components: the learning rate, optimizer, loss, metrics and
the ``tf.distribute`` strategy of a `kerasdl.config.TrainConfig`.

`kerasdl.runner` re-exports the builders (they are public there); ``kerasdl lr-find`` and
``kerasdl schedule plot`` build with them too, so a run and those tools get the same objects.
Keras is imported inside each builder: importing this module stays light.
"""

from __future__ import annotations

from kerasdl.config import (
    METRICS,
    ConfigError,
    TrainConfig,
    check_classes,
    group_schedules,
    loss_spec,
    momentum_spec,
    optimizer_spec,
    schedule_spec,
)

__all__ = [
    "build_group_learning_rates",
    "build_learning_rate",
    "build_loss",
    "build_metrics",
    "build_momentum",
    "build_optimizer",
    "make_strategy",
    "strategy_scope",
]


def build_learning_rate(
    config: TrainConfig,
    steps_per_epoch: int,
    *,
    plateau_scale: float = 1.0,
    constant_as_schedule: bool = False,
):
    """The learning rate of ``config``: a float, or a schedule from `kerasdl.schedules`.

    ::

        lr = schedule(config)                      # StepLR(...), ... or the float rate
        if schedule.warmup_epochs:  lr = LinearWarmup(after=lr,
                                                      warmup_steps=warmup_epochs * steps_per_epoch)
        if plateau.enabled and lr is a schedule:   lr = PlateauScaledSchedule(lr, plateau_scale)

    The epoch schedules take ``steps_per_epoch``, so they change the rate once an epoch, as
    PyTorch's schedulers stepped after every epoch do (ERRATA 3.5.1). The plateau wrapper is
    put on here rather than by `kerasdl.callbacks.ReduceLROnPlateau` so that a resumed run
    gets back its reduced rate (``plateau_scale``, from ``state.json``) before compiling.

    Args:
        config: A validated config.
        steps_per_epoch: Optimizer steps in an epoch, ``>= 1``.
        plateau_scale: The plateau factor to start from. Defaults to 1.0.
        constant_as_schedule: Give a constant rate as a schedule that returns it
            (``LinearWarmup(after=lr, warmup_steps=0)``), so that no learning-rate variable is
            made. Under ``tf.distribute`` the runner builds the rate outside the strategy's
            scope with this on: Keras's ``float()`` of a distributed variable fails, and the
            plateau callback and the event log read the rate that way. Defaults to False.

    Returns:
        A float or a ``keras.optimizers.schedules.LearningRateSchedule``.
    """
    import keras

    import kerasdl.schedules
    from kerasdl.callbacks import PlateauScaledSchedule

    spec = schedule_spec(config, steps_per_epoch)
    learning_rate = config.optimizer.learning_rate
    if spec["class"] is not None:
        learning_rate = getattr(kerasdl.schedules, spec["class"])(**spec["kwargs"])
    if spec["warmup_steps"] > 0 or (constant_as_schedule and spec["class"] is None):
        learning_rate = kerasdl.schedules.LinearWarmup(
            after=learning_rate, warmup_steps=spec["warmup_steps"]
        )
    schedule = keras.optimizers.schedules.LearningRateSchedule
    if config.plateau.enabled and isinstance(learning_rate, schedule):
        learning_rate = PlateauScaledSchedule(learning_rate, scale=plateau_scale)
    return learning_rate


def build_momentum(config: TrainConfig, steps_per_epoch: int) -> dict:
    """The momentum a cycling schedule sets, as PyTorch's ``CyclicLR`` / ``OneCycleLR`` with
    ``cycle_momentum`` do: ``{"beta_1": m}`` (the Adam family), ``{"momentum": m}`` (sgd,
    momentum, nesterov, rmsprop), or ``{}`` when the schedule does not cycle it
    (`kerasdl.config.momentum_spec`)::

        m = schedule.momentum_schedule()           # a CycledMomentum of the config's schedule
        if schedule.warmup_epochs:  m = LinearWarmup(after=m, warmup_steps=...,
                                                     initial_learning_rate=max_momentum)

    During a warmup the momentum holds the cycle's first value, ``max_momentum`` (what PyTorch's
    scheduler sets when it is made), and the cycle then starts with the schedule's step 0.

    Args:
        config: A validated config.
        steps_per_epoch: Optimizer steps in an epoch, ``>= 1``.

    Returns:
        The keyword argument of `build_optimizer` (``cycled``).
    """
    import kerasdl.schedules

    key = momentum_spec(config)
    if key is None:
        return {}
    spec = schedule_spec(config, steps_per_epoch)
    schedule = getattr(kerasdl.schedules, spec["class"])(**spec["kwargs"])
    momentum = schedule.momentum_schedule()
    if spec["warmup_steps"] > 0:
        momentum = kerasdl.schedules.LinearWarmup(
            after=momentum,
            warmup_steps=spec["warmup_steps"],
            initial_learning_rate=schedule.max_momentum,
        )
    return {key: momentum}


def build_group_learning_rates(config: TrainConfig, steps_per_epoch: int) -> list:
    """The learning rate of each ``[[optimizer.groups]]`` table that has its own schedule
    (``max_lr`` under ``cyclic`` or ``onecycle``: PyTorch's per-group ``max_lr``;
    `kerasdl.config.group_schedules`), None for the others; warmed up as the optimizer's is.

    Not wrapped for the plateau: `kerasdl.callbacks.ReduceLROnPlateau` reduces a group's rate
    by its own factor (``optimizer.group_scale(i)``).

    Args:
        config: A validated config.
        steps_per_epoch: Optimizer steps in an epoch, ``>= 1``.

    Returns:
        One schedule or None per table, for `build_optimizer`'s ``group_rates``.
    """
    import kerasdl.schedules

    rates = []
    for spec in group_schedules(config, steps_per_epoch):
        rate = None
        if spec is not None:
            rate = getattr(kerasdl.schedules, spec["class"])(**spec["kwargs"])
            if spec["warmup_steps"] > 0:
                rate = kerasdl.schedules.LinearWarmup(after=rate, warmup_steps=spec["warmup_steps"])
        rates.append(rate)
    return rates


def build_optimizer(
    config: TrainConfig, learning_rate, cycled: dict | None = None, group_rates=None
):
    """The kerasdl optimizer of ``config.optimizer`` with ``learning_rate`` (a float or a
    schedule, e.g. from `build_learning_rate`) and the config's hyperparameters::

        kerasdl.optimizers.<name>(learning_rate=learning_rate, weight_decay=..., ...)

    ``cycled`` (from `build_momentum`) gives the momentum or ``beta_1`` schedule of a cycling
    schedule; ``group_rates`` (from `build_group_learning_rates`) the groups' own schedules.
    Build it inside a ``tf.distribute`` strategy's scope, so its variables are placed there.
    """
    import kerasdl.optimizers

    name, kwargs = optimizer_spec(config)
    kwargs["learning_rate"] = learning_rate
    kwargs.update(cycled or {})
    for group, rate in zip(kwargs.get("groups", []), group_rates or [], strict=False):
        if rate is not None:
            group["learning_rate"] = rate
    return getattr(kerasdl.optimizers, name)(**kwargs)


def build_loss(config: TrainConfig, num_classes: int | None = None):
    """The kerasdl loss of ``config.loss`` (cross-entropy on logits for classification; with
    ``loss.weight`` or ``ignore_index``, PyTorch's ``CrossEntropyLoss`` with them).

    Args:
        config: A validated config.
        num_classes: The data's classes, or None (regression, or not known): ``loss.weight``
            and ``ignore_index`` are checked against it (`kerasdl.config.check_classes`).

    Raises:
        ConfigError: ``loss.weight`` or ``ignore_index`` does not fit ``num_classes``.
    """
    import kerasdl.losses

    if num_classes is not None:
        check_classes(config, num_classes)
    name, kwargs = loss_spec(config)
    return getattr(kerasdl.losses, name)(**kwargs)


def build_metrics(task: str) -> list:
    """The metrics compiled besides the loss, named as `kerasdl.config.METRICS` names them."""
    import keras

    made = {
        "accuracy": lambda: keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
    }
    return [made[name]() for name in METRICS[task]]


def make_strategy(name: str):
    """The ``tf.distribute`` strategy of ``config.strategy``, or None for ``"default"``.

    ``"mirrored"`` is ``MirroredStrategy`` over the local GPUs, or over the local (logical)
    CPU devices when there is no GPU; ``"multi-worker"`` is
    ``MultiWorkerMirroredStrategy()``, which reads the cluster from ``TF_CONFIG`` (`train`
    then trains with `kerasdl.distributed.fit`). Both need the TensorFlow backend.

    Raises:
        ConfigError: A distributed strategy on another backend.
    """
    if name == "default":
        return None
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            "strategy",
            name,
            f"'default' on the {keras.backend.backend()} backend "
            "(tf.distribute strategies need KERAS_BACKEND=tensorflow)",
        )
    import tensorflow as tf

    if name == "mirrored":
        # Keras and TensorFlow's default is the GPUs, or CPU:0 alone without one; logical CPU
        # devices (tf.config.set_logical_device_configuration) count here too.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.MultiWorkerMirroredStrategy()


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def strategy_scope(strategy):
    """``strategy.scope()``, or a scope that does nothing for no strategy (None)."""
    return _NullScope() if strategy is None else strategy.scope()
