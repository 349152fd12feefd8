"""TensorFlow's fused Adam kernel, the fast path of `Adam` and `AdamW` on that backend.

Keras's torch backend keeps its own fused (``torch._foreach``) versions of the built-in
optimizers for speed; this is the same idea for TensorFlow. `Adam.update_step`, written in
``keras.ops``, is some fifteen elementwise ops per variable, each a pass over the variable; on
a CPU, for the chapter's MLP, they are about a quarter of a training step. TensorFlow's
``ResourceApplyAdam`` does the moments and the update in one pass:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1)
    v += (g^2 - v) * (1 - beta_2)
    w -= alpha * m / (sqrt(v) + epsilon_hat)

Its epsilon is added to ``sqrt(v)``, not to ``sqrt(v_hat)`` as in PyTorch; given
``epsilon_hat = epsilon * sqrt(1 - beta_2^t)`` it computes PyTorch's update exactly, up to
rounding: ``alpha * m / (sqrt(v) + epsilon_hat) = lr / (1 - beta_1^t) * m / (sqrt(v_hat) +
epsilon)``. The tests check both paths against the same PyTorch trajectories.

This module imports TensorFlow; import it only when the backend is TensorFlow.
"""

import keras
import tensorflow as tf

try:
    from keras.src.backend.common.stateless_scope import in_stateless_scope
except ImportError:  # pragma: no cover - Keras moved it: never update in place then

    def in_stateless_scope():
        return True


def resource_handle(variable):
    """The resource handle of `variable` (a Keras or a TensorFlow variable), or None.

    None where a variable must not be updated in place: inside a ``keras.StatelessScope``,
    where updates are recorded in the scope, not made.
    """
    if in_stateless_scope():
        return None
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if isinstance(value, tf.Variable):
        return value.handle
    return None


def in_xla_context():
    """Whether the current graph is compiled by XLA (``tf.function(jit_compile=True)``, which
    ``model.compile(jit_compile=True)`` makes): there TensorFlow has no kernel for
    ``ResourceApplyAdamWithAmsgrad``."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow moved it: assume XLA, fall back
        return True
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def apply_adam(handles, gradient, *, lr, beta_1, beta_2, beta_1_power, beta_2_power, epsilon_hat):
    """One fused Adam step on ``handles = (variable, m, v)``, or an AMSGrad step on
    ``(variable, m, v, v_max)`` (resource handles).

    ``ResourceApplyAdamWithAmsgrad`` takes ``v_max = max(v_max, v)`` and divides by
    ``sqrt(v_max) + epsilon_hat``: PyTorch's AMSGrad by the same identity as above.
    """
    if len(handles) == 4:
        variable, m, v, v_max = handles
        tf.raw_ops.ResourceApplyAdamWithAmsgrad(
            var=variable,
            m=m,
            v=v,
            vhat=v_max,
            beta1_power=beta_1_power,
            beta2_power=beta_2_power,
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=epsilon_hat,
            grad=tf.convert_to_tensor(gradient),
            use_locking=False,
        )
        return
    variable, m, v = handles
    tf.raw_ops.ResourceApplyAdam(
        var=variable,
        m=m,
        v=v,
        beta1_power=beta_1_power,
        beta2_power=beta_2_power,
        lr=lr,
        beta1=beta_1,
        beta2=beta_2,
        epsilon=epsilon_hat,
        grad=tf.convert_to_tensor(gradient),
        use_locking=False,
        use_nesterov=False,
    )
