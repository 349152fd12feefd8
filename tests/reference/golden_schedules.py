"""Golden learning rates for kerasdl.schedules from PyTorch's schedulers (chapter 3.5).

Every case runs a PyTorch training loop the PyTorch way: an SGD optimizer over one parameter,
``optimizer.step()`` once a step, and the scheduler's ``step()`` once an epoch (every
``steps_per_epoch`` optimizer steps) for StepLR, ExponentialLR and CosineAnnealingLR, or once a
step for the warmups (``LambdaLR``). ``lr[k]`` is ``param_groups[0]["lr"]`` when optimizer step
``k`` runs (0-based), which is what a Keras optimizer gets from ``schedule(k)``. PyTorch keeps
learning rates as Python floats, so the references are float64.

A case holds ``schedule`` and ``config``: the kerasdl class and its arguments (for
``LinearWarmup``, ``after`` is a float or ``{"schedule": ..., "config": ...}``), ``torch``: the
PyTorch code that made the reference, and ``lr``: one value per optimizer step.

The warmups have no PyTorch class; their reference is a ``LambdaLR`` (base lr times a factor of
the step) whose lambda is written here from the formula:

- ``NoamWarmup`` is ``LambdaLR(SGD(lr=scale), lambda k: noam(k + 1))``, cross-checked against the
  chapter's own ``WarmupScheduler`` class (3.5.2) stepped before each optimizer step.
- ``LinearWarmup(after, W, eta_w)`` is a ``LambdaLR`` whose lambda is the ramp
  ``eta_w + (after_0 - eta_w) * k / W`` for ``k < W``, then the learning rates that PyTorch's own
  ``after`` scheduler (StepLR, ExponentialLR, CosineAnnealingLR, stepped once an epoch) gives
  at ``k - W``. One case is PyTorch's own join, ``SequentialLR([LambdaLR, CosineAnnealingLR])``,
  checked here to equal the ``LambdaLR`` form.
"""

import math

import torch
from torch.optim import lr_scheduler


def generate():
    return _step_lr() + _exponential_lr() + _cosine() + _noam() + _linear_warmup()


def _optimizer(lr):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros((), dtype=torch.float64))], lr=lr)


def _run(optimizer, scheduler, steps, steps_per_epoch=1):
    """The lr of each of ``steps`` optimizer steps, the scheduler stepped once an epoch."""
    lrs = []
    for k in range(steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()  # no gradient: the parameter stays, the lr schedule is what matters
        if (k + 1) % steps_per_epoch == 0:
            scheduler.step()
    return lrs


def _epoch_case(case_id, schedule, config, torch_code, make_scheduler, epochs):
    """A case of a per-epoch PyTorch scheduler, run for ``epochs`` epochs."""
    spe = config.get("steps_per_epoch", 1)
    optimizer = _optimizer(config["initial_learning_rate"])
    lrs = _run(optimizer, make_scheduler(optimizer), epochs * spe, spe)
    return {"id": case_id, "schedule": schedule, "config": config, "torch": torch_code, "lr": lrs}


# ----------------------------------------------------------------------------- epoch schedules


def _step_lr_case(case_id, lr, step_size, gamma, spe, epochs):
    config = {"initial_learning_rate": lr, "step_size": step_size, "gamma": gamma}
    config["steps_per_epoch"] = spe
    code = f"StepLR(SGD(lr={lr}), step_size={step_size}, gamma={gamma}), stepped every {spe}"
    return _epoch_case(
        case_id,
        "StepLR",
        config,
        code,
        lambda opt: lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma),
        epochs,
    )


def _step_lr():
    return [
        # The chapter's StepLR(step_size=30, gamma=0.1) (3.5.1).
        _step_lr_case("steplr/chapter-spe1", 0.1, 30, 0.1, 1, 100),
        _step_lr_case("steplr/spe1", 0.1, 3, 0.1, 1, 13),
        _step_lr_case("steplr/spe4", 0.05, 2, 0.5, 4, 9),
        _step_lr_case("steplr/step1-spe3", 0.3, 1, 0.7, 3, 10),
    ]


def _exponential_case(case_id, lr, gamma, spe, epochs):
    config = {"initial_learning_rate": lr, "gamma": gamma, "steps_per_epoch": spe}
    code = f"ExponentialLR(SGD(lr={lr}), gamma={gamma}), stepped every {spe}"
    return _epoch_case(
        case_id,
        "ExponentialLR",
        config,
        code,
        lambda opt: lr_scheduler.ExponentialLR(opt, gamma=gamma),
        epochs,
    )


def _exponential_lr():
    return [
        # The chapter's ExponentialLR(gamma=0.95) (3.5.1), long enough for float32's gamma to
        # drift if it were not corrected.
        _exponential_case("exponential/chapter-spe1", 0.1, 0.95, 1, 200),
        _exponential_case("exponential/spe3", 0.01, 0.9, 3, 40),
        _exponential_case("exponential/growth-spe2", 0.001, 1.02, 2, 30),
    ]


def _cosine_case(case_id, lr, T_max, eta_min, spe, epochs):
    config = {"initial_learning_rate": lr, "T_max": T_max, "eta_min": eta_min}
    config["steps_per_epoch"] = spe
    code = f"CosineAnnealingLR(SGD(lr={lr}), T_max={T_max}, eta_min={eta_min}), stepped every {spe}"
    return _epoch_case(
        case_id,
        "CosineAnnealingLR",
        config,
        code,
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min),
        epochs,
    )


def _cosine():
    # Past T_max PyTorch's recursive form climbs back to the base lr at 2 * T_max: the cases run
    # to 3 * T_max (inclusive) to pin that down.
    return [
        # The chapter's CosineAnnealingLR(T_max=100) (3.5.1).
        _cosine_case("cosine/chapter-spe1", 0.1, 100, 0.0, 1, 301),
        _cosine_case("cosine/eta_min-spe5", 0.02, 7, 0.001, 5, 22),
        _cosine_case("cosine/tmax1-spe2", 1.0, 1, 0.1, 2, 4),
        _cosine_case("cosine/eta_min-equals-lr", 0.01, 3, 0.01, 1, 10),
    ]


# ----------------------------------------------------------------------------- warmups


def _noam_factor(d_model, warmup_steps):
    def factor(k):
        s = k + 1  # ERRATA 3.5.2: steps count from 1
        return d_model**-0.5 * min(s**-0.5, s * warmup_steps**-1.5)

    return factor


class ChapterWarmupScheduler:
    """The chapter's ``WarmupScheduler`` (3.5.2), verbatim."""

    def __init__(self, optimizer, warmup_steps, d_model):
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.d_model = d_model
        self.current_step = 0

    def step(self):
        self.current_step += 1
        lr = self.d_model**-0.5 * min(
            self.current_step**-0.5, self.current_step * self.warmup_steps**-1.5
        )
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr


def _noam_case(case_id, d_model, warmup_steps, scale, steps):
    optimizer = _optimizer(scale)  # LambdaLR's base lr: it multiplies the lambda
    lrs = _run(
        optimizer, lr_scheduler.LambdaLR(optimizer, _noam_factor(d_model, warmup_steps)), steps
    )
    if scale == 1.0:
        # The chapter's class, stepped before each optimizer step, gives the same rates.
        chapter = ChapterWarmupScheduler(_optimizer(0.0), warmup_steps, d_model)
        chapter_lrs = []
        for _ in range(steps):
            chapter.step()
            chapter_lrs.append(chapter.optimizer.param_groups[0]["lr"])
        assert all(
            math.isclose(a, b, rel_tol=1e-15) for a, b in zip(lrs, chapter_lrs, strict=True)
        ), case_id
    config = {"d_model": d_model, "warmup_steps": warmup_steps, "scale": scale}
    code = (
        f"LambdaLR(SGD(lr={scale}), lambda k: {d_model}**-0.5 * min((k + 1)**-0.5, "
        f"(k + 1) * {warmup_steps}**-1.5)), stepped every step"
    )
    return {"id": case_id, "schedule": "NoamWarmup", "config": config, "torch": code, "lr": lrs}


def _noam():
    return [
        # The Transformer's d_model=512 with a shortened warmup, three times past the peak.
        _noam_case("noam/d512-w400", 512, 400, 1.0, 1200),
        _noam_case("noam/scale2-w10", 64, 10, 2.0, 40),
        _noam_case("noam/w1", 16, 1, 1.0, 10),
    ]


def _after_reference(after, steps):
    """PyTorch's lrs for ``after`` (a kerasdl-style description), over ``steps`` steps."""
    if not isinstance(after, dict):
        return [after] * steps, f"{after}"
    config = after["config"]
    spe = config.get("steps_per_epoch", 1)
    optimizer = _optimizer(config["initial_learning_rate"])
    make = {
        "StepLR": lambda opt: lr_scheduler.StepLR(
            opt, step_size=config["step_size"], gamma=config["gamma"]
        ),
        "ExponentialLR": lambda opt: lr_scheduler.ExponentialLR(opt, gamma=config["gamma"]),
        "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(
            opt, T_max=config["T_max"], eta_min=config.get("eta_min", 0.0)
        ),
    }[after["schedule"]]
    args = ", ".join(f"{k}={v}" for k, v in config.items() if k != "steps_per_epoch")
    code = f"{after['schedule']}({args}) stepped every {spe}"
    return _run(optimizer, make(optimizer), steps, spe), code


def _warmup_case(case_id, after, warmup_steps, initial_learning_rate, steps):
    after_lrs, after_code = _after_reference(after, steps + 1)  # + the scheduler's last step
    base = after_lrs[0]  # LambdaLR multiplies its lambda by the optimizer's base lr

    def factor(k):
        if k < warmup_steps:
            return (
                initial_learning_rate + (base - initial_learning_rate) * k / warmup_steps
            ) / base
        return after_lrs[k - warmup_steps] / base

    optimizer = _optimizer(base)
    lrs = _run(optimizer, lr_scheduler.LambdaLR(optimizer, factor), steps)
    config = {
        "after": after,
        "warmup_steps": warmup_steps,
        "initial_learning_rate": initial_learning_rate,
    }
    code = (
        f"LambdaLR(SGD(lr={base}), ramp from {initial_learning_rate} over {warmup_steps} steps, "
        f"then [{after_code}] / {base}), stepped every step"
    )
    return {"id": case_id, "schedule": "LinearWarmup", "config": config, "torch": code, "lr": lrs}


def _sequential_case(case_id, lr, T_max, warmup_steps, steps):
    """The idiomatic PyTorch join, ``SequentialLR``, one step per epoch."""
    optimizer = _optimizer(lr)
    ramp = lr_scheduler.LambdaLR(optimizer, lambda k: k / warmup_steps)
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=T_max)
    joined = lr_scheduler.SequentialLR(optimizer, [ramp, cosine], milestones=[warmup_steps])
    lrs = _run(optimizer, joined, steps)
    after = {
        "schedule": "CosineAnnealingLR",
        "config": {"initial_learning_rate": lr, "T_max": T_max},
    }
    config = {"after": after, "warmup_steps": warmup_steps, "initial_learning_rate": 0.0}
    code = (
        f"SequentialLR(SGD(lr={lr}), [LambdaLR(lambda k: k / {warmup_steps}), "
        f"CosineAnnealingLR(T_max={T_max})], milestones=[{warmup_steps}]), stepped every step"
    )
    return {"id": case_id, "schedule": "LinearWarmup", "config": config, "torch": code, "lr": lrs}


def _schedule(name, **config):
    return {"schedule": name, "config": config}


def _linear_warmup():
    cosine = _schedule(
        "CosineAnnealingLR", initial_learning_rate=0.1, T_max=5, eta_min=0.001, steps_per_epoch=4
    )
    step = _schedule("StepLR", initial_learning_rate=0.1, step_size=2, gamma=0.5, steps_per_epoch=3)
    exponential = _schedule("ExponentialLR", initial_learning_rate=0.1, gamma=0.9)
    cases = [
        _warmup_case("warmup/cosine-spe4", cosine, 6, 0.0, 6 + 4 * 15),
        _warmup_case("warmup/steplr-spe3-from-0.01", step, 5, 0.01, 5 + 3 * 8),
        _warmup_case("warmup/exponential-spe1", exponential, 3, 0.0, 20),
        _warmup_case("warmup/constant", 0.05, 10, 0.0, 20),
        _warmup_case("warmup/w1-constant-from-0.2", 0.1, 1, 0.2, 4),
        _warmup_case("warmup/none-steplr", step, 0, 0.0, 3 * 8),
        _sequential_case("warmup/sequentiallr-cosine", 0.1, 8, 4, 4 + 2 * 8 + 1),
    ]
    # The SequentialLR join equals the LambdaLR one.
    seq = cases[-1]
    cosine1 = _schedule("CosineAnnealingLR", initial_learning_rate=0.1, T_max=8)
    same = _warmup_case("check", cosine1, 4, 0.0, len(seq["lr"]))
    assert all(
        math.isclose(a, b, rel_tol=1e-12) for a, b in zip(seq["lr"], same["lr"], strict=True)
    )
    return cases
