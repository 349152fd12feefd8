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
    chapter = _step_lr() + _exponential_lr() + _cosine() + _noam() + _linear_warmup()
    cases = chapter + _torch_schedulers() + _rebased_chapter() + _plateau_on_steplr()
    return cases + _plateau_on_every_schedule()


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


# ----------------------------------------------------------------------------- the rest of torch
#
# The cases below hold, besides ``lr``, ``rebased``: ``{"initial_learning_rate": g, "lr": [...]}``,
# the lr of a second parameter group whose lr is ``g`` on the same optimizer and scheduler
# (PyTorch scales each group from its own ``initial_lr``), and for CyclicLR / OneCycleLR with
# ``cycle_momentum`` ``momentum``: ``param_groups[0]["momentum"]`` (SGD) or
# ``param_groups[0]["betas"][0]`` (Adam, ``"optimizer": "adam"``) when step ``k`` runs.
# Composite configs hold their members as ``{"schedule": ..., "config": ...}``; ``lr_lambda`` and
# ``scale_fn`` are names of the functions in LAMBDAS (the test suite writes the same in keras.ops).

LAMBDAS = {
    "exp095": lambda e: 0.95**e,
    "warmup5": lambda e: min(1.0, (e + 1) / 5),
    "const09": lambda e: 0.9,
    "slowing": lambda e: 1.0 - 0.5 / (e + 1),
    "inverse_cycle": lambda c: 1.0 / c,
}


def _two_groups(lr, lr2, kind="sgd"):
    params = [torch.nn.Parameter(torch.zeros((), dtype=torch.float64)) for _ in range(2)]
    groups = [{"params": [params[0]], "lr": lr}, {"params": [params[1]], "lr": lr2}]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def _record(optimizer, kind):
    group = optimizer.param_groups[0]
    if kind == "adam":
        return float(group["betas"][0])
    return float(group["momentum"])


def _run_groups(optimizer, scheduler, steps, spe=1, kind=None, per_step=None):
    """``(lr group 0, lr group 1, momentum)`` at each optimizer step."""
    lrs, lrs2, momenta = [], [], []
    for k in range(steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        lrs2.append(float(optimizer.param_groups[1]["lr"]))
        if kind is not None:
            momenta.append(_record(optimizer, kind))
        optimizer.step()
        if per_step is not None:  # CosineAnnealingWarmRestarts' step(epoch + i / iters)
            scheduler.step(k // spe + (k % spe) / spe)
        elif (k + 1) % spe == 0 and k + 1 < steps:
            scheduler.step()
    return lrs, lrs2, momenta


def _make(optimizer, name, config):
    """The PyTorch scheduler of a kerasdl ``(name, config)`` (its arguments, PyTorch's names)."""
    c = {k: v for k, v in config.items() if k not in ("steps_per_epoch", "initial_learning_rate")}
    c.pop("per_step", None)
    c.pop("max_epochs", None)
    for key in ("lr_lambda", "scale_fn"):
        if key in c and c[key] is not None:
            c[key] = LAMBDAS[c[key]]
    if name in ("SequentialLR", "ChainedScheduler"):
        members = [_make(optimizer, m["schedule"], m["config"]) for m in c.pop("schedules")]
        if name == "ChainedScheduler":
            return lr_scheduler.ChainedScheduler(members, optimizer=optimizer)
        return lr_scheduler.SequentialLR(optimizer, members, **c)
    return getattr(lr_scheduler, name)(optimizer, **c)


def _torch_case(case_id, name, config, steps, lr2, kind=None):
    """A case of PyTorch's ``name`` scheduler run ``steps`` optimizer steps, two groups."""
    spe = config.get("steps_per_epoch", 1)
    if name == "ChainedScheduler":  # stepped as its members count
        spe = config["schedules"][0]["config"].get("steps_per_epoch", 1)
    lr = config.get("initial_learning_rate")
    if lr is None and "schedules" in config:  # a composite: the group's lr is its members'
        lr = config["schedules"][0]["config"]["initial_learning_rate"]
    if lr is None:  # CyclicLR, OneCycleLR: their own rates override the group's
        lr = 0.123
    optimizer = _two_groups(lr, lr2, kind or "sgd")
    scheduler = _make(optimizer, name, config)
    per_step = True if config.get("per_step") else None
    lrs, lrs2, momenta = _run_groups(optimizer, scheduler, steps, spe, kind, per_step)
    args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "schedules")
    how = "step(epoch + i / iters) every batch" if per_step else f"step() every {spe} steps"
    case = {
        "id": case_id,
        "schedule": name,
        "config": config,
        "torch": f"{name}(optimizer, {args}), {how}",
        "lr": lrs,
        "rebased": {"initial_learning_rate": lr2, "lr": lrs2},
    }
    if kind is not None:
        case["optimizer"] = kind
        case["momentum"] = momenta
    return case


def _s(name, **config):
    return {"schedule": name, "config": config}


def _torch_schedulers():
    t = _torch_case
    return [
        t("multistep/spe1", "MultiStepLR", dict(
            initial_learning_rate=0.1, milestones=[3, 7]), 12, 0.3),
        t("multistep/twice-spe3", "MultiStepLR", dict(
            initial_learning_rate=0.05, milestones=[2, 2, 5], gamma=0.5, steps_per_epoch=3),
          24, 0.01),
        t("constant/defaults", "ConstantLR", dict(initial_learning_rate=0.1), 9, 0.02),
        t("constant/spe4", "ConstantLR", dict(
            initial_learning_rate=0.2, factor=0.5, total_iters=3, steps_per_epoch=4), 24, 1.0),
        t("linear/defaults", "LinearLR", dict(initial_learning_rate=0.1), 9, 0.4),
        t("linear/spe2", "LinearLR", dict(
            initial_learning_rate=0.3, start_factor=0.1, end_factor=0.5, total_iters=4,
            steps_per_epoch=2), 16, 0.05),
        t("linear/decreasing", "LinearLR", dict(
            initial_learning_rate=0.1, start_factor=1.0, end_factor=0.1, total_iters=6), 10, 0.2),
        t("polynomial/defaults", "PolynomialLR", dict(initial_learning_rate=0.1), 8, 0.5),
        t("polynomial/power2-spe3", "PolynomialLR", dict(
            initial_learning_rate=0.05, total_iters=6, power=2.0, steps_per_epoch=3), 27, 0.2),
        t("polynomial/sqrt", "PolynomialLR", dict(
            initial_learning_rate=1.0, total_iters=9, power=0.5), 12, 0.1),
        t("lambda/exp", "LambdaLR", dict(initial_learning_rate=0.1, lr_lambda="exp095"), 30, 0.7),
        t("lambda/warmup-spe3", "LambdaLR", dict(
            initial_learning_rate=0.2, lr_lambda="warmup5", steps_per_epoch=3), 24, 0.01),
        t("multiplicative/const", "MultiplicativeLR", dict(
            initial_learning_rate=0.1, lr_lambda="const09", max_epochs=40), 41, 0.5),
        t("multiplicative/slowing-spe2", "MultiplicativeLR", dict(
            initial_learning_rate=0.5, lr_lambda="slowing", max_epochs=12, steps_per_epoch=2),
          26, 0.1),
        t("restarts/tmult1", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.1, T_0=3, eta_min=0.001), 16, 0.05),
        t("restarts/tmult2-spe3", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.1, T_0=2, T_mult=2, steps_per_epoch=3), 3 * 31, 0.3),
        t("restarts/tmult3", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=1.0, T_0=1, T_mult=3, eta_min=0.01), 45, 0.5),
        t("restarts/per-step-tmult2", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.1, T_0=2, T_mult=2, steps_per_epoch=5, per_step=True),
          5 * 15, 0.02),
        t("restarts/per-step-tmult1", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.05, T_0=3, eta_min=0.005, steps_per_epoch=4, per_step=True),
          4 * 10, 0.5),
        t("cyclic/triangular", "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4), 30, 0.3,
          "sgd"),
        t("cyclic/triangular2-asym", "CyclicLR", dict(
            base_lr=0.001, max_lr=0.01, step_size_up=3, step_size_down=5, mode="triangular2"),
          50, 0.3, "sgd"),
        t("cyclic/exp_range", "CyclicLR", dict(
            base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.99), 80, 0.3,
          "sgd"),
        t("cyclic/adam-betas", "CyclicLR", dict(
            base_lr=1e-4, max_lr=1e-3, step_size_up=6, step_size_down=2, base_momentum=0.85,
            max_momentum=0.95), 40, 0.3, "adam"),
        t("cyclic/scale_fn-cycle", "CyclicLR", dict(
            base_lr=0.02, max_lr=0.2, step_size_up=2, step_size_down=3, scale_fn="inverse_cycle",
            scale_mode="cycle", cycle_momentum=False), 30, 0.3),
        t("onecycle/cos", "OneCycleLR", dict(max_lr=0.1, total_steps=50), 51, 0.3, "sgd"),
        t("onecycle/linear", "OneCycleLR", dict(
            max_lr=0.5, total_steps=40, pct_start=0.25, anneal_strategy="linear"), 41, 0.3, "sgd"),
        t("onecycle/three-phase-cos", "OneCycleLR", dict(
            max_lr=0.2, total_steps=60, three_phase=True, div_factor=10.0,
            final_div_factor=100.0), 61, 0.3, "sgd"),
        t("onecycle/three-phase-linear-adam", "OneCycleLR", dict(
            max_lr=1e-3, total_steps=30, pct_start=0.4, anneal_strategy="linear",
            three_phase=True, base_momentum=0.8, max_momentum=0.9), 31, 0.3, "adam"),
        t("onecycle/no-momentum", "OneCycleLR", dict(
            max_lr=0.05, total_steps=20, cycle_momentum=False), 21, 0.3),
        t("sequential/linear-exponential", "SequentialLR", dict(
            schedules=[_s("LinearLR", initial_learning_rate=0.1, start_factor=0.2, total_iters=3),
                       _s("ExponentialLR", initial_learning_rate=0.1, gamma=0.9)],
            milestones=[3]), 15, 0.4),
        t("sequential/constant-cosine-step-spe2", "SequentialLR", dict(
            schedules=[
                _s("ConstantLR", initial_learning_rate=0.1, factor=0.1, total_iters=5,
                   steps_per_epoch=2),
                _s("CosineAnnealingLR", initial_learning_rate=0.1, T_max=4, eta_min=0.01,
                   steps_per_epoch=2),
                _s("StepLR", initial_learning_rate=0.1, step_size=2, gamma=0.5,
                   steps_per_epoch=2)],
            milestones=[2, 8], steps_per_epoch=2), 2 * 14, 0.02),
        t("sequential/linear-multiplicative-quirk", "SequentialLR", dict(
            schedules=[_s("LinearLR", initial_learning_rate=0.1, start_factor=0.25, total_iters=4),
                       _s("MultiplicativeLR", initial_learning_rate=0.1, lr_lambda="const09",
                          max_epochs=20)],
            milestones=[3]), 15, 0.3),
        t("sequential/exponential-restarts", "SequentialLR", dict(
            schedules=[_s("ExponentialLR", initial_learning_rate=0.1, gamma=0.5),
                       _s("CosineAnnealingWarmRestarts", initial_learning_rate=0.1, T_0=3,
                          T_mult=2)],
            milestones=[2]), 20, 0.3),
        t("sequential/three-linear-polynomial-constant", "SequentialLR", dict(
            schedules=[_s("LinearLR", initial_learning_rate=0.1, start_factor=0.5, total_iters=2),
                       _s("PolynomialLR", initial_learning_rate=0.1, total_iters=4),
                       _s("ConstantLR", initial_learning_rate=0.1, factor=0.2, total_iters=2)],
            milestones=[3, 6]), 12, 0.6),
        t("chained/constant-exponential", "ChainedScheduler", dict(
            schedules=[_s("ConstantLR", initial_learning_rate=0.05, factor=0.1, total_iters=20),
                       _s("ExponentialLR", initial_learning_rate=0.05, gamma=0.9)]), 30, 0.2),
        t("chained/linear-step-multistep-spe2", "ChainedScheduler", dict(
            schedules=[
                _s("LinearLR", initial_learning_rate=0.1, start_factor=0.5, total_iters=3,
                   steps_per_epoch=2),
                _s("StepLR", initial_learning_rate=0.1, step_size=4, gamma=0.5, steps_per_epoch=2),
                _s("MultiStepLR", initial_learning_rate=0.1, milestones=[5, 9], gamma=0.3,
                   steps_per_epoch=2)]), 2 * 12, 0.01),
        t("chained/polynomial-multiplicative", "ChainedScheduler", dict(
            schedules=[_s("PolynomialLR", initial_learning_rate=0.2, total_iters=8, power=2.0),
                       _s("MultiplicativeLR", initial_learning_rate=0.2, lr_lambda="slowing",
                          max_epochs=12)]), 12, 0.1),
    ]  # fmt: skip


def _rebased_chapter():
    """The chapter's schedules with two parameter groups (the ``rebased`` rule)."""
    t = _torch_case
    cases = [
        t("rebased/steplr", "StepLR", dict(
            initial_learning_rate=0.1, step_size=2, gamma=0.5, steps_per_epoch=2), 12, 0.03),
        t("rebased/exponential", "ExponentialLR", dict(initial_learning_rate=0.1, gamma=0.9), 20,
          0.7),
        t("rebased/cosine-eta_min", "CosineAnnealingLR", dict(
            initial_learning_rate=0.1, T_max=5, eta_min=0.01), 16, 0.05),
        # A group below eta_min: PyTorch's cosine rises from it to eta_min.
        t("rebased/cosine-group-below-eta_min", "CosineAnnealingLR", dict(
            initial_learning_rate=0.1, T_max=4, eta_min=0.05, steps_per_epoch=2), 20, 0.02),
    ]  # fmt: skip
    # NoamWarmup and LinearWarmup: their PyTorch form is a LambdaLR, which scales each group.
    optimizer = _two_groups(2.0, 0.5)
    noam = _noam_factor(64, 10)
    lrs, lrs2, _ = _run_groups(optimizer, lr_scheduler.LambdaLR(optimizer, noam), 30)
    cases.append({
        "id": "rebased/noam", "schedule": "NoamWarmup",
        "config": {"d_model": 64, "warmup_steps": 10, "scale": 2.0},
        "torch": "LambdaLR(two groups lr=2.0 and 0.5, noam(k + 1)), stepped every step",
        "lr": lrs, "rebased": {"initial_learning_rate": 0.5, "lr": lrs2},
    })  # fmt: skip
    cosine = _schedule("CosineAnnealingLR", initial_learning_rate=0.1, T_max=5, steps_per_epoch=2)
    warm = _warmup_case("check", cosine, 4, 0.02, 24)
    factors = [v / 0.1 for v in warm["lr"]]
    optimizer = _two_groups(0.1, 0.4)
    scheduler = lr_scheduler.LambdaLR(optimizer, lambda k: factors[min(k, len(factors) - 1)])
    lrs, lrs2, _ = _run_groups(optimizer, scheduler, 24)
    cases.append({
        "id": "rebased/linear-warmup-cosine", "schedule": "LinearWarmup",
        "config": warm["config"],
        "torch": "LambdaLR(two groups lr=0.1 and 0.4, the warmup's lr / 0.1), stepped every step",
        "lr": lrs, "rebased": {"initial_learning_rate": 0.4, "lr": lrs2},
    })  # fmt: skip
    return cases


def _plateau_on_steplr():
    """StepLR and ReduceLROnPlateau on one optimizer, both stepped at each epoch's end.

    PyTorch's documented chaining: ``scheduler.step()`` then ``plateau.step(metric)``. StepLR
    multiplies the current lr, so the lr is StepLR's times the plateau reductions (and
    ``min_lr`` bounds it only at a reduction). ``lr[e]`` is the lr of epoch ``e + 1``.
    """
    cases = []
    runs = [
        ("plateau/steplr", dict(factor=0.5, patience=1, min_lr=0.0), 0.1, 3, 0.5),
        ("plateau/steplr-min_lr", dict(factor=0.1, patience=0, min_lr=2e-3), 0.1, 2, 0.5),
    ]
    metrics = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77, 0.78, 0.6]
    for case_id, params, lr, step_size, gamma in runs:
        optimizer = _optimizer(lr)
        steplr = lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
        plateau = lr_scheduler.ReduceLROnPlateau(optimizer, **params)
        lrs = []
        for value in metrics:
            optimizer.step()
            steplr.step()
            plateau.step(value)
            lrs.append(float(optimizer.param_groups[0]["lr"]))
        config = {"initial_learning_rate": lr, "step_size": step_size, "gamma": gamma}
        cases.append({
            "id": case_id, "schedule": "StepLR", "config": config, "plateau": params,
            "metrics": metrics,
            "torch": f"StepLR(step_size={step_size}, gamma={gamma}).step() then "
                     f"ReduceLROnPlateau({params}).step(metric) at each epoch's end",
            "lr": lrs,
        })  # fmt: skip
    return cases


# ----------------------------------------------------------------------------- plateau on top
#
# ReduceLROnPlateau on top of every scheduler, PyTorch's documented way: one optimizer with two
# parameter groups (lrs ``lr`` and ``lr2``), ``scheduler.step()`` once an epoch (once a batch for
# the per-step ones: CyclicLR, OneCycleLR, the warmups' LambdaLR, CosineAnnealingWarmRestarts'
# ``step(epoch + i / iters)``), and ``plateau.step(metric)`` at each epoch's end, after the
# scheduler's step. The plateau sets ``group["lr"]`` itself; each scheduler's later steps go on
# from that value as its own ``get_lr`` does (a chainable one multiplies it, a recomputing one
# starts again from its base, CosineAnnealingLR's recursive form scales its distance to
# eta_min). A case holds ``plateau`` (the plateau's arguments, ``min_lr`` a list: one per group),
# ``epoch_steps`` (optimizer steps in an epoch of the loop), ``per_step``, ``metrics``, and at every
# optimizer step ``lr`` and ``lr2`` (the two groups' rates when the step runs) and
# ``schedule_lr`` (group 0's without the plateau).

_PLATEAUS = {
    # A reduction after every bad epoch, several in a row.
    "eager": dict(factor=0.5, patience=0, cooldown=0, threshold=1e-4),
    # Patience, cooldown and a min_lr that clamps (per group: see _plateau_case).
    "cooldown": dict(factor=0.3, patience=1, cooldown=2, threshold=1e-4),
}


def _metrics(epochs):
    """A validation loss that improves, stalls and worsens: runs of bad epochs of every length."""
    base = [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77, 0.78, 0.6,
            0.65, 0.66, 0.5, 0.55, 0.56, 0.57, 0.58, 0.59, 0.45, 0.46]  # fmt: skip
    return [base[e % len(base)] - 0.5 * (e // len(base)) for e in range(epochs)]


def _lambda_maker(factor):
    return lambda optimizer, name, config: lr_scheduler.LambdaLR(optimizer, factor)


def _plateau_case(case_id, name, config, epochs, lr2, kind, *, epoch_steps=None, per_step=False,
                  make=None, lr=None, min_lr=None):  # fmt: skip
    """PyTorch's ``name`` scheduler (``make(optimizer, name, config)``, else `_make`) with a
    ReduceLROnPlateau on top, run ``epochs`` epochs of ``epoch_steps`` optimizer steps."""
    spe = epoch_steps or config.get("steps_per_epoch", 1)
    if name == "ChainedScheduler":  # stepped as its members count
        spe = config["schedules"][0]["config"].get("steps_per_epoch", 1)
    if lr is None:
        lr = config.get("initial_learning_rate")
    if lr is None and "schedules" in config:
        lr = config["schedules"][0]["config"]["initial_learning_rate"]
    if lr is None:
        lr = 0.123  # CyclicLR, OneCycleLR: their own rates
    params = dict(_PLATEAUS[kind], min_lr=min_lr or ([0.0, 0.0] if kind == "eager" else
                                                     [0.002 * lr / 0.1, 0.0]))  # fmt: skip
    metrics = _metrics(epochs)
    runs = {}
    for plateau_on in (True, False):
        optimizer = _two_groups(lr, lr2)
        scheduler = (make or _make)(optimizer, name, config)
        plateau = lr_scheduler.ReduceLROnPlateau(optimizer, **params) if plateau_on else None
        lrs, lrs2 = [], []
        for epoch in range(epochs):
            for batch in range(spe):
                k = epoch * spe + batch
                lrs.append(float(optimizer.param_groups[0]["lr"]))
                lrs2.append(float(optimizer.param_groups[1]["lr"]))
                optimizer.step()
                if per_step == "epoch-fraction":  # CosineAnnealingWarmRestarts per batch
                    scheduler.step(k // spe + (k % spe) / spe)
                elif per_step and scheduler is not None:
                    scheduler.step()
            if not per_step and scheduler is not None:
                scheduler.step()
            if plateau is not None:
                plateau.step(metrics[epoch])
        runs[plateau_on] = (lrs, lrs2)
    how = "every batch" if per_step else "every epoch"
    return {
        "id": case_id, "schedule": name, "config": config, "plateau": params,
        "epoch_steps": spe, "per_step": bool(per_step), "metrics": metrics,
        "groups_lr": [lr, lr2],
        "torch": f"{name}(two groups lr={lr}, {lr2}).step() {how}, then "
                 f"ReduceLROnPlateau({params}).step(metric) at each epoch's end",
        "lr": runs[True][0], "lr2": runs[True][1], "schedule_lr": runs[False][0],
    }  # fmt: skip


def _plateau_on_every_schedule():
    p = _plateau_case
    noam = _noam_factor(32, 6)
    cosine = _schedule("CosineAnnealingLR", initial_learning_rate=0.1, T_max=3, steps_per_epoch=2)
    warm = _warmup_case("check", cosine, 5, 0.01, 2 * 16)
    warm_factors = [v / 0.1 for v in warm["lr"]]
    return [
        # Chainable: each multiplies the current lr, so a reduction persists.
        p("plateau-on/steplr", "StepLR", dict(
            initial_learning_rate=0.1, step_size=3, gamma=0.5), 16, 0.03, "eager"),
        p("plateau-on/steplr-spe3", "StepLR", dict(
            initial_learning_rate=0.1, step_size=2, gamma=0.7, steps_per_epoch=3), 14, 0.3,
          "cooldown"),
        p("plateau-on/multistep-spe2", "MultiStepLR", dict(
            initial_learning_rate=0.05, milestones=[2, 2, 5], gamma=0.5, steps_per_epoch=2), 14,
          0.01, "cooldown"),
        p("plateau-on/exponential", "ExponentialLR", dict(
            initial_learning_rate=0.1, gamma=0.9), 20, 0.4, "eager"),
        p("plateau-on/constant-spe2", "ConstantLR", dict(
            initial_learning_rate=0.2, factor=0.5, total_iters=4, steps_per_epoch=2), 12, 1.0,
          "eager"),
        p("plateau-on/linear", "LinearLR", dict(
            initial_learning_rate=0.1, start_factor=0.25, total_iters=5), 14, 0.2, "cooldown"),
        p("plateau-on/linear-to-zero", "LinearLR", dict(
            initial_learning_rate=0.1, start_factor=1.0, end_factor=0.0, total_iters=6), 10,
          0.2, "eager"),
        p("plateau-on/polynomial-past-end", "PolynomialLR", dict(
            initial_learning_rate=0.1, total_iters=6, power=2.0), 12, 0.5, "eager"),
        p("plateau-on/multiplicative", "MultiplicativeLR", dict(
            initial_learning_rate=0.1, lr_lambda="slowing", max_epochs=30), 18, 0.5, "cooldown"),
        # Recomputing from the base lrs: a reduction lasts until the scheduler's next step.
        p("plateau-on/lambda", "LambdaLR", dict(
            initial_learning_rate=0.1, lr_lambda="exp095"), 16, 0.7, "eager"),
        p("plateau-on/lambda-spe3", "LambdaLR", dict(
            initial_learning_rate=0.2, lr_lambda="warmup5", steps_per_epoch=3), 14, 0.01,
          "cooldown"),
        p("plateau-on/restarts", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.1, T_0=3, T_mult=2, eta_min=0.001), 20, 0.05, "eager"),
        p("plateau-on/restarts-spe2", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.1, T_0=2, steps_per_epoch=2), 14, 0.3, "cooldown"),
        p("plateau-on/restarts-per-step", "CosineAnnealingWarmRestarts", dict(
            initial_learning_rate=0.05, T_0=3, eta_min=0.005, steps_per_epoch=4, per_step=True),
          12, 0.5, "eager", per_step="epoch-fraction"),
        p("plateau-on/cyclic", "CyclicLR", dict(
            base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"),
          14, 0.3, "eager", epoch_steps=4, per_step=True),
        p("plateau-on/onecycle-cos", "OneCycleLR", dict(max_lr=0.1, total_steps=5 * 12),
          12, 0.3, "eager", epoch_steps=5, per_step=True),
        p("plateau-on/onecycle-linear", "OneCycleLR", dict(
            max_lr=0.5, total_steps=3 * 14, pct_start=0.25, anneal_strategy="linear"),
          14, 0.3, "cooldown", epoch_steps=3, per_step=True),
        p("plateau-on/noam", "NoamWarmup", dict(d_model=32, warmup_steps=6, scale=2.0), 12,
          0.5, "eager", epoch_steps=3, per_step=True, make=_lambda_maker(noam), lr=2.0),
        p("plateau-on/linear-warmup", "LinearWarmup", warm["config"], 16, 0.4, "cooldown",
          epoch_steps=2, per_step=True, lr=0.1,
          make=_lambda_maker(lambda k: warm_factors[min(k, len(warm_factors) - 1)])),
        # No warmup, a constant after it: PyTorch has no scheduler, the reductions persist.
        p("plateau-on/warmup-none-constant", "LinearWarmup", dict(
            after=0.05, warmup_steps=0, initial_learning_rate=0.0), 12, 0.05, "eager",
          epoch_steps=2, lr=0.05, make=lambda optimizer, name, config: None),
        # CosineAnnealingLR's recursive form: ratio 0 at T_max (mod 2 T_max), an additive step
        # after it; runs past 2 * T_max.
        p("plateau-on/cosine", "CosineAnnealingLR", dict(initial_learning_rate=0.1, T_max=4),
          20, 0.05, "eager"),
        p("plateau-on/cosine-eta_min-spe2", "CosineAnnealingLR", dict(
            initial_learning_rate=0.1, T_max=3, eta_min=0.01, steps_per_epoch=2), 16, 0.02,
          "cooldown"),
        p("plateau-on/cosine-tmax2-eta_min", "CosineAnnealingLR", dict(
            initial_learning_rate=0.1, T_max=2, eta_min=0.001), 14, 0.3, "eager"),
        p("plateau-on/cosine-tmax1", "CosineAnnealingLR", dict(
            initial_learning_rate=0.1, T_max=1, eta_min=0.02), 10, 0.01, "eager"),
        # Compositions.
        p("plateau-on/sequential-linear-exponential", "SequentialLR", dict(
            schedules=[_s("LinearLR", initial_learning_rate=0.1, start_factor=0.2, total_iters=3),
                       _s("ExponentialLR", initial_learning_rate=0.1, gamma=0.9)],
            milestones=[3]), 16, 0.4, "eager"),
        p("plateau-on/sequential-constant-cosine-step-spe2", "SequentialLR", dict(
            schedules=[
                _s("ConstantLR", initial_learning_rate=0.1, factor=0.1, total_iters=5,
                   steps_per_epoch=2),
                _s("CosineAnnealingLR", initial_learning_rate=0.1, T_max=4, eta_min=0.01,
                   steps_per_epoch=2),
                _s("StepLR", initial_learning_rate=0.1, step_size=2, gamma=0.5,
                   steps_per_epoch=2)],
            milestones=[2, 8], steps_per_epoch=2), 16, 0.02, "cooldown"),
        p("plateau-on/sequential-exponential-restarts", "SequentialLR", dict(
            schedules=[_s("ExponentialLR", initial_learning_rate=0.1, gamma=0.5),
                       _s("CosineAnnealingWarmRestarts", initial_learning_rate=0.1, T_0=3,
                          T_mult=2)],
            milestones=[4]), 16, 0.3, "eager"),
        p("plateau-on/sequential-lambda-step", "SequentialLR", dict(
            schedules=[_s("LambdaLR", initial_learning_rate=0.1, lr_lambda="warmup5"),
                       _s("StepLR", initial_learning_rate=0.1, step_size=3, gamma=0.5)],
            milestones=[5]), 16, 0.3, "eager"),
        p("plateau-on/sequential-linear-multiplicative", "SequentialLR", dict(
            schedules=[_s("LinearLR", initial_learning_rate=0.1, start_factor=0.25, total_iters=4),
                       _s("MultiplicativeLR", initial_learning_rate=0.1, lr_lambda="const09",
                          max_epochs=20)],
            milestones=[3]), 16, 0.3, "cooldown"),
        p("plateau-on/chained-constant-exponential", "ChainedScheduler", dict(
            schedules=[_s("ConstantLR", initial_learning_rate=0.05, factor=0.1, total_iters=6),
                       _s("ExponentialLR", initial_learning_rate=0.05, gamma=0.9)]), 16, 0.2,
          "eager"),
        p("plateau-on/chained-linear-step-multistep-spe2", "ChainedScheduler", dict(
            schedules=[
                _s("LinearLR", initial_learning_rate=0.1, start_factor=0.5, total_iters=3,
                   steps_per_epoch=2),
                _s("StepLR", initial_learning_rate=0.1, step_size=4, gamma=0.5, steps_per_epoch=2),
                _s("MultiStepLR", initial_learning_rate=0.1, milestones=[5, 9], gamma=0.3,
                   steps_per_epoch=2)]), 14, 0.01, "cooldown"),
        p("plateau-on/chained-polynomial-multiplicative", "ChainedScheduler", dict(
            schedules=[_s("PolynomialLR", initial_learning_rate=0.2, total_iters=8, power=2.0),
                       _s("MultiplicativeLR", initial_learning_rate=0.2, lr_lambda="slowing",
                          max_epochs=16)]), 14, 0.1, "eager"),
    ]  # fmt: skip
