"""Parameter groups: PyTorch's ``param_groups`` for the kerasdl optimizers.

A group is a dict with one *selector* and the hyperparameters it overrides::

    {"variables": model.layers[0].trainable_variables, "learning_rate": 1e-4}
    {"pattern": "dense_1", "weight_decay": 0.0}    # regex searched in variable.path
    {"max_rank": 1, "weight_decay": 0.0}           # timm's "no decay for biases and norms"
    {"paths": ["dense/kernel"], "momentum": 0.5}   # what get_config stores for "variables"

A variable belongs to the first group that selects it; the variables no group selects form
the *default group*, which takes the optimizer's own arguments. Which group a variable is in
is decided once, in Python, when the optimizer is built (like which variables decay).

This module holds what does not depend on the optimizer: checking and normalising the dicts,
selecting, and serializing.
"""

import re

import keras

from kerasdl import _checks, _registration

SELECTORS = ("variables", "paths", "pattern", "max_rank")
_Schedule = keras.optimizers.schedules.LearningRateSchedule


def is_schedule(value):
    return isinstance(value, _Schedule)


def _selector(index, group):
    given = [key for key in SELECTORS if key in group]
    if len(given) != 1:
        raise ValueError(
            f"Each parameter group needs exactly one selector of {list(SELECTORS)}; "
            f"group {index} has {given or 'none'}. Received: group={_describe(group)}"
        )
    kind = given[0]
    value = group[kind]
    if kind == "variables":
        value = list(value)
        if not all(isinstance(v, keras.Variable) for v in value):
            raise ValueError(
                f"Group {index}: `variables` must be a list of keras.Variable. Received: {value!r}"
            )
    elif kind == "paths":
        if isinstance(value, str) or not all(isinstance(p, str) for p in value):
            raise ValueError(
                f"Group {index}: `paths` must be a list of variable paths. Received: {value!r}"
            )
        value = list(value)
    elif kind == "pattern":
        if not isinstance(value, str):
            raise ValueError(
                f"Group {index}: `pattern` must be a regular expression (a string). "
                f"Received: pattern={value!r}"
            )
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(
                f"Group {index}: `pattern` is not a valid regular expression ({error}). "
                f"Received: pattern={value!r}"
            ) from None
    else:
        value = _checks.non_negative_int(f"groups[{index}].max_rank", value)
    return kind, value


def _describe(group):
    return {k: (f"<{len(v)} variables>" if k == "variables" else v) for k, v in group.items()}


def normalized(groups, checks, optimizer_name):
    """`groups` as a list of ``(kind, selector, overrides)``, every value checked.

    Args:
        groups: The user's list of dicts (or None).
        checks: ``{hyperparameter: check(name, value) -> value}`` of the optimizer.
        optimizer_name: The optimizer's class name, for messages.
    """
    if groups is None:
        return []
    if isinstance(groups, dict) or not isinstance(groups, (list, tuple)):
        raise ValueError(f"Argument `groups` must be a list of dicts. Received: groups={groups!r}")
    result = []
    for index, group in enumerate(groups):
        if not isinstance(group, dict):
            raise ValueError(f"Group {index} must be a dict. Received: {group!r}")
        kind, selector = _selector(index, group)
        overrides = {}
        for key, value in group.items():
            if key in SELECTORS:
                continue
            if key not in checks:
                raise ValueError(
                    f"Unknown hyperparameter {key!r} in parameter group {index} of "
                    f"{optimizer_name}; a group may set {sorted(checks)}."
                )
            overrides[key] = checks[key](f"groups[{index}].{key}", value)
        result.append((kind, selector, overrides))
    return result


def _path(variable):
    return getattr(variable, "path", variable.name)


def same_path(a, b):
    """Paths equal up to leading components: Keras names a model's variables
    ``sequential/dense/kernel`` when the model builds them and ``dense/kernel`` after
    ``keras.saving.load_model``, so a stored path matches either form."""
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def selects(kind, selector, variable):
    """Whether one group's selector takes `variable` (a Keras variable)."""
    if kind == "variables":
        return any(variable is v for v in selector)
    if kind == "paths":
        return any(same_path(_path(variable), path) for path in selector)
    if kind == "pattern":
        return re.search(selector, _path(variable)) is not None
    return len(variable.shape) <= selector


def assign(groups, variables):
    """For each variable, the index of the first group that selects it, or None (the default
    group). Raises if a group selects no variable (PyTorch refuses an empty group too)."""
    membership = []
    for variable in variables:
        found = None
        for index, (kind, selector, _) in enumerate(groups):
            if selects(kind, selector, variable):
                found = index
                break
        membership.append(found)
    for index, (kind, selector, _) in enumerate(groups):
        if index not in membership:
            shown = f"<{len(selector)} variables>" if kind == "variables" else repr(selector)
            raise ValueError(
                f"Parameter group {index} ({kind}={shown}) selects none of the optimizer's "
                f"{len(variables)} variables (each variable goes to the first group that "
                f"selects it). Variable paths: {[_path(v) for v in variables][:20]}"
            )
    return membership


def to_config(groups):
    """The groups as JSON-able dicts: in-memory variables by their paths."""
    config = []
    for kind, selector, overrides in groups:
        entry = {}
        if kind == "variables":
            entry["paths"] = [_path(v) for v in selector]
        else:
            entry[kind] = selector
        for key, value in overrides.items():
            entry[key] = keras.saving.serialize_keras_object(value) if is_schedule(value) else value
        config.append(entry)
    return config


def from_config(config):
    """The user form of `to_config`'s dicts (schedules deserialized)."""
    if config is None:
        return None
    groups = []
    for entry in config:
        group = {}
        for key, value in entry.items():
            if isinstance(value, dict) and "class_name" in value:
                value = keras.saving.deserialize_keras_object(value)
            group[key] = value
        groups.append(group)
    return groups


def unwrapped(schedule):
    """`schedule`, or the schedule a `kerasdl.callbacks.PlateauScaledSchedule` wraps (this
    module does not import the callbacks)."""
    if _registration.plain_name(schedule) == "PlateauScaledSchedule":
        return schedule.schedule
    return schedule


def rebased(schedule, learning_rate):
    """`schedule` restarted from `learning_rate`, as PyTorch's schedulers scale each group from
    its own ``initial_lr``: ``schedule.rebased(lr)`` where the schedule has it, else a Python
    factor ``lr / schedule.initial_learning_rate`` on the schedule's value.

    A `kerasdl.callbacks.PlateauScaledSchedule` is rebased through: with groups,
    `ReduceLROnPlateau` scales each group by its own factor, never the wrapper's."""
    schedule = unwrapped(schedule)
    method = getattr(schedule, "rebased", None)
    if callable(method):
        return method(learning_rate), None
    initial = getattr(schedule, "initial_learning_rate", None)
    if initial is None:
        raise ValueError(
            f"A parameter group's float learning_rate={learning_rate!r} needs the optimizer's "
            f"schedule {_registration.plain_name(schedule)} to have "
            "`rebased(initial_learning_rate)` or an `initial_learning_rate`; give the group its "
            "own LearningRateSchedule instead."
        )
    return None, learning_rate / float(keras.ops.convert_to_numpy(initial))
