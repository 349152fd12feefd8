"""The training loops a run can use, behind one interface (`TrainingLoop`), and the choice
among them (`choose_loop`, by `loop_name`)::

    "kerasdl"       KerasdlLoop      kerasdl.loop.fit over the arrays held in memory
                                     (one device: JAX, or TensorFlow without XLA: what "auto"
                                     picks there)
    "fit"           KerasFitLoop     Keras's model.fit over kerasdl.data.EpochDataset
    "multi-worker"  MultiWorkerLoop  kerasdl.distributed.fit and .evaluate (Keras's fit fails
                                     under MultiWorkerMirroredStrategy)

A loop trains (`TrainingLoop.fit`) and evaluates the test set (`TrainingLoop.evaluate`); its
``name`` is the ``loop`` field of ``run_started``. No other module tells the loops apart.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "LOOP_UNROLL",
    "LOOP_UNROLL_MIN_STEPS",
    "KerasFitLoop",
    "KerasdlLoop",
    "MultiWorkerLoop",
    "TrainingLoop",
    "choose_loop",
    "loop_name",
    "loop_unroll",
]

# `kerasdl.loop.fit` unrolls its compiled loop (4 steps an iteration) when a run has at least
# this many steps to go: unrolling saves about 0.1 ms a step of the preset on 2 cores, and
# tracing the 3 extra steps costs about 1.3 s once (docs/engine.md).
LOOP_UNROLL = 4
LOOP_UNROLL_MIN_STEPS = 10_000


def loop_unroll(steps_to_go: int, backend: str = "tensorflow") -> int:
    """The ``unroll`` of `kerasdl.loop.fit` for a run with ``steps_to_go`` optimizer steps.

    Args:
        steps_to_go: Optimizer steps left in this call.
        backend: The Keras backend. Defaults to ``"tensorflow"``.

    Returns:
        On TensorFlow, `LOOP_UNROLL` for at least `LOOP_UNROLL_MIN_STEPS` steps, else 1; on
        JAX always 1 (XLA compiles the loop's body as one program: unrolling there tripled
        the compile time, about 1.2 s to 3.4 s, for no measurable gain a step).
    """
    if backend != "tensorflow":
        return 1
    return LOOP_UNROLL if steps_to_go >= LOOP_UNROLL_MIN_STEPS else 1


class TrainingLoop:
    """How a run trains and tests its compiled model.

    ``run`` is the `kerasdl.run.session.Run`: the loops read its ``model``, ``config``,
    ``dataset``, ``strategy``, ``initial_epoch``, ``steps_per_epoch``,
    ``steps_per_execution`` and ``validation`` (the validation ``tf.data.Dataset``, or None).

    Attributes:
        name: The loop's name, as ``config.loop`` and ``run_started`` spell it.
        set_data_epoch: What the run monitor calls at each epoch's start to set the data
            order (`kerasdl.data.EpochDataset.set_epoch`), or None when the loop orders the
            data itself.
    """

    name: str = ""
    set_data_epoch: Callable[[int], None] | None = None

    def fit(self, run, callbacks) -> None:
        """Train ``run.model`` from ``run.initial_epoch`` to ``run.config.epochs``.

        Args:
            run: The run.
            callbacks: Its `kerasdl.run.callbacks.RunCallbacks`.
        """
        raise NotImplementedError

    def evaluate(self, run, test_data) -> dict:
        """The test metrics of ``run.model`` (``model.evaluate``).

        Args:
            run: The run.
            test_data: The test ``tf.data.Dataset``, or on JAX the arrays ``(x, y)``
                (`kerasdl.run.setup.load_data`), batched by ``eval_batch_size``.

        Returns:
            ``{metric: value}``, the values as Keras gives them.
        """
        if isinstance(test_data, tuple):
            x, y = test_data
            return run.model.evaluate(
                x, y, batch_size=run.config.eval_batch_size, verbose=0, return_dict=True
            )
        return run.model.evaluate(test_data, verbose=0, return_dict=True)


class KerasdlLoop(TrainingLoop):
    """`kerasdl.loop.fit`: the training arrays as tensors, ``steps_per_execution`` steps a
    compiled call, the validation arrays evaluated in one call an epoch.

    Args:
        config: The run's config.
        dataset: Its loaded `kerasdl.data.Dataset`.
    """

    name = "kerasdl"

    def __init__(self, config, dataset):
        self.config = config
        self.dataset = dataset

    def fit(self, run, callbacks) -> None:
        import keras

        from kerasdl import data, loop

        config, dataset = self.config, self.dataset
        y, seed = dataset.y_train, config.seed
        x, levels = dataset.compact_train_inputs()  # uint8 codes where MNIST has them
        validation_arrays = None
        if run.validation is not None:
            validation_arrays = (dataset.x_val, dataset.y_val)
        loop.fit(
            run.model,
            x,
            y,
            batch_size=config.batch_size,
            order=lambda epoch: data.epoch_order(len(x), seed, epoch),
            epochs=config.epochs,
            initial_epoch=run.initial_epoch,
            validation_data=validation_arrays,
            validation_batch_size=config.eval_batch_size,
            callbacks=callbacks.as_list(),
            steps_per_execution=run.steps_per_execution,
            unroll=loop_unroll(
                run.steps_per_epoch * (config.epochs - run.initial_epoch), keras.backend.backend()
            ),
            x_levels=levels,
        )


class KerasFitLoop(TrainingLoop):
    """Keras's ``model.fit`` over `kerasdl.data.EpochDataset` (epoch ``k``'s order fixed by
    ``(seed, k)``, set by the run monitor).

    Args:
        config: The run's config.
        dataset: Its loaded `kerasdl.data.Dataset`.
    """

    name = "fit"

    def __init__(self, config, dataset):
        import keras

        from kerasdl import data

        self.config = config
        self.dataset = dataset
        # On JAX and torch, NumPy batches (`EpochArrays`): tf.data's would be converted each step.
        self.arrays = keras.backend.backend() != "tensorflow"
        if self.arrays:
            x, levels = dataset.compact_train_inputs()
            self.train_data = data.EpochArrays(
                x, dataset.y_train, config.batch_size, seed=config.seed, levels=levels
            )
        else:
            self.train_data = data.EpochDataset(
                dataset.train_inputs(), dataset.y_train, config.batch_size, seed=config.seed
            )
        self.set_data_epoch = self.train_data.set_epoch

    def fit(self, run, callbacks) -> None:
        validation = run.validation
        if self.arrays and validation is not None:  # arrays too, batched by Keras
            validation = (self.dataset.x_val, self.dataset.y_val)
        run.model.fit(
            self.train_data.dataset,
            epochs=self.config.epochs,
            initial_epoch=run.initial_epoch,
            validation_data=validation,
            validation_batch_size=self.config.eval_batch_size if self.arrays else None,
            callbacks=callbacks.as_list(),
            shuffle=False,
            verbose=0,
        )


class MultiWorkerLoop(KerasFitLoop):
    """`kerasdl.distributed.fit` and `kerasdl.distributed.evaluate` over the same
    `kerasdl.data.EpochDataset`: Keras's ``fit`` fails under ``MultiWorkerMirroredStrategy``.

    Args:
        config: The run's config.
        dataset: Its loaded `kerasdl.data.Dataset`.
    """

    name = "multi-worker"

    def fit(self, run, callbacks) -> None:
        from kerasdl import distributed

        distributed.fit(
            run.model,
            self.train_data.dataset,
            strategy=run.strategy,
            task=run.dataset.task,
            epochs=self.config.epochs,
            initial_epoch=run.initial_epoch,
            validation_data=run.validation,
            callbacks=callbacks.as_list(),
            steps_per_epoch=run.steps_per_epoch,
            on_peer_stop=callbacks.monitor.stopped_by_peer,
        )

    def evaluate(self, run, test_data) -> dict:
        from kerasdl import distributed

        return distributed.evaluate(
            run.model, test_data, strategy=run.strategy, task=run.dataset.task
        )


_LOOPS = {loop.name: loop for loop in (KerasdlLoop, KerasFitLoop, MultiWorkerLoop)}


def loop_name(config, strategy, model) -> str:
    """The loop ``config.loop`` asks for, ``"auto"`` resolved: ``"multi-worker"`` for that
    strategy; else ``"kerasdl"`` on one device with the JAX backend (jitted) or the TensorFlow
    backend without XLA, and ``"fit"`` otherwise.

    Args:
        config: The run's validated config.
        strategy: Its ``tf.distribute`` strategy, or None.
        model: The compiled model (``jit_compile`` as Keras resolved it).

    Returns:
        ``"kerasdl"``, ``"fit"`` or ``"multi-worker"``.
    """
    import keras

    if config.strategy == "multi-worker":
        return MultiWorkerLoop.name
    if config.loop != "auto":
        return config.loop
    backend = keras.backend.backend()
    ours = (backend == "tensorflow" and not model.jit_compile) or (
        backend == "jax" and model.jit_compile
    )
    return KerasdlLoop.name if strategy is None and ours else KerasFitLoop.name


def choose_loop(config, strategy, model, dataset) -> TrainingLoop:
    """The `TrainingLoop` of `loop_name`, with its training data made.

    Args:
        config: The run's validated config.
        strategy: Its ``tf.distribute`` strategy, or None.
        model: The compiled model.
        dataset: The loaded `kerasdl.data.Dataset`.

    Returns:
        The loop.
    """
    return _LOOPS[loop_name(config, strategy, model)](config, dataset)
