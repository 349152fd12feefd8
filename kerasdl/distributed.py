"""The multi-worker training loop: ``model.fit``'s job, under ``MultiWorkerMirroredStrategy``.

Keras 3.15's ``model.fit`` and ``model.evaluate`` fail under
``tf.distribute.MultiWorkerMirroredStrategy`` before the first step: Keras's symbolic build
converts a ``PerReplica`` batch to a tensor (`KERAS_MULTI_WORKER_BUG`; TensorFlow's side:
tensorflow/tensorflow#72388). `fit` and `evaluate` here do the same work with a small custom
loop, and `kerasdl.runner.train` uses them for ``strategy = "multi-worker"`` (``model.fit`` for
the others)::

    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch)                  # the runner sets the data epoch here
        for batch in strategy.experimental_distribute_dataset(epoch_dataset):
            # one tf.function step; in each replica (n = its examples, N = the global batch):
            #   loss  = sum(per_example_loss(y, model(x, training=True))) / N
            #           + sum(model.losses) / replicas           (the regularization, once)
            #   grads = tape.gradient(loss, trainable)           (summed over replicas by ...)
            #   model.optimizer.apply(grads, trainable)          (... the optimizer's all-reduce)
            # strategy.reduce(SUM) of (loss sum, metric sum, n) -> the running epoch means
            callbacks.on_train_batch_end(step, {"loss": ..., "accuracy": ...})
        logs |= {"val_" + k: v for k, v in evaluate(model, validation).items()}
        callbacks.on_epoch_end(epoch, logs)
        if any worker's model.stop_training: stop all    (one all-reduce an epoch)

The loss and metrics are what ``fit`` logs: means over the epoch's examples (the loss with the
model's regularization losses added), ``accuracy`` (sparse categorical) for classification,
``mae`` for regression. The gradient of one step is that of the mean over the whole global batch,
however the batch is split, so the run equals a one-device run with the same global batch.

Every worker runs every callback on the same reduced logs, so early stopping, the plateau's
reductions and the NaN check decide the same on every worker; the runner gives the non-chief
workers a temporary run directory (their checkpoints and events go there and are dropped).
"""

from __future__ import annotations

__all__ = ["KERAS_MULTI_WORKER_BUG", "evaluate", "fit"]

#: The Keras issue that keeps ``model.fit`` from running under ``MultiWorkerMirroredStrategy``.
KERAS_MULTI_WORKER_BUG = "https://github.com/keras-team/keras/issues/20585"


def fit(
    model,
    dataset,
    *,
    strategy,
    task: str,
    epochs: int,
    initial_epoch: int = 0,
    validation_data=None,
    callbacks=(),
    steps_per_epoch: int | None = None,
    on_peer_stop=None,
):
    """Train ``model`` (compiled, in ``strategy``'s scope) like ``model.fit`` would.

    ::

        for epoch in range(initial_epoch, epochs):  on_epoch_begin, steps, validation,
                                                    on_epoch_end, stop vote

    Args:
        model: A compiled Keras model made in ``strategy.scope()``; its ``loss`` and
            ``optimizer`` are used.
        dataset: A ``tf.data.Dataset`` of global ``(x, y)`` batches, iterated afresh every
            epoch (so a dataset whose order depends on the epoch, as
            `kerasdl.data.EpochDataset`'s, changes it in ``on_epoch_begin``).
        strategy: The ``tf.distribute`` strategy (any; made for ``MultiWorkerMirroredStrategy``).
        task: ``"classification"`` (metric ``accuracy``) or ``"regression"`` (``mae``).
        epochs: The epoch to end before (as ``fit``'s ``epochs``).
        initial_epoch: The epoch to start at. Defaults to 0.
        validation_data: A ``tf.data.Dataset`` evaluated after every epoch (``val_`` logs).
            Defaults to None.
        callbacks: Keras callbacks, given the model and ``{"epochs", "steps", "verbose"}``
            params as ``fit`` gives them. Defaults to none.
        steps_per_epoch: The ``steps`` param for the callbacks. Defaults to None.
        on_peer_stop: Called with the epoch (0-based) when this worker stops only because
            another worker's ``model.stop_training`` was set. Defaults to None.
    """
    import keras
    import tensorflow as tf

    loop = _Loop(model, strategy, task)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), model=model, epochs=epochs, steps=steps_per_epoch, verbose=0
    )
    distributed = strategy.experimental_distribute_dataset(dataset)
    model.stop_training = False
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        totals = None
        for step, (x, y) in enumerate(distributed):
            callback_list.on_train_batch_begin(step)
            values = loop.train_step(x, y).numpy()
            totals = values if totals is None else totals + values
            logs = loop.logs(totals)
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if validation_data is not None:
            results = evaluate(model, validation_data, strategy=strategy, task=task)
            epoch_logs.update({f"val_{name}": value for name, value in results.items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        stop = loop.any_worker(tf.constant(1.0 if model.stop_training else 0.0))
        if float(stop) > 0:
            if not model.stop_training and on_peer_stop is not None:
                on_peer_stop(epoch)
            model.stop_training = True
            break
    callback_list.on_train_end(logs)
    return logs


def evaluate(model, dataset, *, strategy, task: str, loop=None) -> dict:
    """``model.evaluate(dataset, return_dict=True)`` under ``strategy``: the loss (with the
    regularization losses) and the task's metric, means over all of ``dataset``'s examples.
    """
    loop = loop or _Loop(model, strategy, task)
    totals = None
    for x, y in strategy.experimental_distribute_dataset(dataset):
        values = loop.test_step(x, y).numpy()
        totals = values if totals is None else totals + values
    if totals is None:
        raise ValueError("evaluate() got an empty dataset")
    return loop.logs(totals)


class _Loop:
    """The compiled steps: each returns ``[loss sum, metric sum, examples]`` over all replicas."""

    def __init__(self, model, strategy, task):
        import keras
        import tensorflow as tf

        self.model = model
        self.strategy = strategy
        self.metric = "accuracy" if task == "classification" else "mae"
        loss = model.loss
        # The same loss, per example: this loop does the reduction itself (over the global batch).
        self.per_example_loss = type(loss).from_config({**loss.get_config(), "reduction": "none"})
        self._keras = keras
        sum_ = tf.distribute.ReduceOp.SUM
        self.train_step = tf.function(
            lambda x, y: strategy.reduce(sum_, strategy.run(self._train, (x, y)), axis=None)
        )
        self.test_step = tf.function(
            lambda x, y: strategy.reduce(sum_, strategy.run(self._test, (x, y)), axis=None)
        )
        self.any_worker = tf.function(
            lambda flag: strategy.reduce(sum_, strategy.run(lambda: tf.identity(flag)), axis=None)
        )

    def logs(self, totals):
        loss_sum, metric_sum, n = (float(v) for v in totals)
        return {"loss": loss_sum / n, self.metric: metric_sum / n}

    def _sums(self, loss_sum, y, y_pred, regularization, n):
        ops = self._keras.ops
        if self.metric == "accuracy":
            hits = ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int64"), ops.cast(y, "int64"))
            metric_sum = ops.sum(ops.cast(hits, "float32"))
        else:
            y = ops.reshape(ops.cast(y, y_pred.dtype), ops.shape(y_pred))
            metric_sum = ops.sum(ops.mean(ops.abs(y - y_pred), axis=-1))
        total = ops.cast(loss_sum, "float32") + ops.cast(regularization, "float32") * n
        return ops.stack([total, ops.cast(metric_sum, "float32"), n])

    def _regularization(self):
        ops = self._keras.ops
        losses = self.model.losses
        return ops.sum(ops.stack([ops.sum(v) for v in losses])) if losses else 0.0

    def _train(self, x, y):
        import tensorflow as tf

        ops = self._keras.ops
        model = self.model
        context = tf.distribute.get_replica_context()
        n = ops.cast(ops.shape(y)[0], "float32")
        n_global = context.all_reduce(tf.distribute.ReduceOp.SUM, n)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            regularization = self._regularization()
            loss_sum = ops.sum(self.per_example_loss(y, y_pred))
            loss = ops.cast(loss_sum, "float32") / ops.maximum(n_global, 1.0) + ops.cast(
                regularization, "float32"
            ) / float(context.num_replicas_in_sync)
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        model.optimizer.apply(gradients, variables)
        return self._sums(loss_sum, y, y_pred, regularization, n)

    def _test(self, x, y):
        ops = self._keras.ops
        y_pred = self.model(x, training=False)
        n = ops.cast(ops.shape(y)[0], "float32")
        loss_sum = ops.sum(self.per_example_loss(y, y_pred))
        return self._sums(loss_sum, y, y_pred, self._regularization(), n)
