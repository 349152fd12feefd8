"""Golden learning rates for kerasdl.callbacks.ReduceLROnPlateau from PyTorch (chapter 3.5.1).

Every case steps ``torch.optim.lr_scheduler.ReduceLROnPlateau`` once an epoch with a scripted
metric sequence and records, after each step, the learning rate of the optimizer
(``param_groups[0]["lr"]``) and the scheduler's own state: ``num_bad_epochs``,
``cooldown_counter`` and ``best`` (``None`` while it is still infinite). PyTorch keeps learning
rates as Python floats, so the references are float64.

``schedule`` says what else moves the learning rate:

- ``{"kind": "constant"}``: nothing; the learning rate is a plain float.
- ``{"kind": "exponential", "gamma": g}``: an ``ExponentialLR(gamma=g)`` chained with the plateau
  scheduler. Each epoch runs ``exponential.step()`` and then ``plateau.step(metric)``; PyTorch's
  schedulers are chainable (each multiplies the current lr), so the lr after epoch ``e`` is
  ``lr0 * g**(e + 1)`` times every plateau reduction so far, and ``min_lr`` bounds the lr only at
  the moment of a reduction. A Keras ``ExponentialDecay(lr0, decay_steps=steps_per_epoch,
  decay_rate=g, staircase=True)`` at optimizer step ``(e + 1) * steps_per_epoch`` is the same
  schedule.
- ``{"kind": "multistep", "milestones": [...], "gamma": g}``: a ``MultiStepLR`` chained the same
  way; the Keras twin is ``PiecewiseConstantDecay`` with boundaries ``m * steps_per_epoch - 1``.

For chained cases ``schedule_lr`` is the lr the schedule alone gives (same PyTorch scheduler, no
plateau), so ``lr / schedule_lr`` is the factor that the plateau reductions have applied.
"""

import math

import numpy as np
import torch
from torch.optim import lr_scheduler

STEPS_PER_EPOCH = 3


def generate():
    cases = []
    rng = np.random.default_rng(20240604)
    schedules = [
        {"kind": "constant"},
        {"kind": "exponential", "gamma": 0.9},
        {"kind": "multistep", "milestones": [4, 9, 15, 22], "gamma": 0.5},
    ]
    # A grid over the arguments, one random metric sequence for each combination drawn.
    index = 0
    for mode in ("min", "max"):
        for threshold_mode in ("rel", "abs"):
            for schedule in schedules:
                for _ in range(4):
                    params = {
                        "mode": mode,
                        "threshold_mode": threshold_mode,
                        "threshold": float(rng.choice([0.0, 1e-4, 1e-2, 0.05])),
                        "patience": int(rng.choice([0, 1, 2, 3, 5])),
                        "cooldown": int(rng.choice([0, 0, 1, 3])),
                        "factor": float(rng.choice([0.1, 0.5, 0.3])),
                        "min_lr": float(rng.choice([0.0, 0.0, 2e-3, 1e-2])),
                        "eps": 1e-8,
                    }
                    lr0 = float(rng.choice([0.1, 0.05]))
                    metrics = _metric_sequence(rng, index, mode)
                    cases.append(_case(f"grid-{index:02d}", params, lr0, schedule, metrics))
                    index += 1
    cases += _edge_cases()
    return cases


def _metric_sequence(rng, index, mode):
    """A validation curve: improves, wobbles and stalls; some have ties, some are negative."""
    n = int(rng.integers(25, 50))
    kind = index % 4
    if kind == 0:  # a noisy decreasing loss that levels off
        values = 1.0 + np.cumsum(rng.normal(-0.02, 0.03, n)) * np.exp(-np.arange(n) / 15)
    elif kind == 1:  # a staircase with many exact ties
        values = np.round(1.0 - 0.05 * np.floor(np.cumsum(rng.random(n) < 0.35)), 2)
    elif kind == 2:  # rounded noise around a plateau: ties and tiny changes
        values = np.round(0.5 + rng.normal(0.0, 0.01, n), 3)
    else:  # negative values, where a relative threshold turns around
        values = -1.0 + np.cumsum(rng.normal(-0.01, 0.02, n))
    if mode == "max":
        values = -values
    return [float(v) for v in values]


def _edge_cases():
    def p(**kwargs):
        params = {
            "mode": "min",
            "threshold_mode": "rel",
            "threshold": 1e-4,
            "patience": 2,
            "cooldown": 0,
            "factor": 0.5,
            "min_lr": 0.0,
            "eps": 1e-8,
        }
        params.update(kwargs)
        return params

    flat = [1.0] * 40
    const = {"kind": "constant"}
    expo = {"kind": "exponential", "gamma": 0.9}
    return [
        # The chapter's call: ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=5).
        _case("chapter", p(factor=0.1, patience=5), 0.1, const, flat),
        # Reductions stop when one would change the lr by no more than eps (1e-8).
        _case("eps-stops", p(patience=0), 1e-7, const, flat[:12]),
        _case("eps-stops-schedule", p(patience=0), 1e-7, expo, flat[:12]),
        # min_lr: the lr is clamped at a reduction, and a schedule may take it lower later.
        _case("min-lr-clamp", p(patience=1, factor=0.1, min_lr=2e-3), 0.1, const, flat[:20]),
        _case("min-lr-schedule", p(patience=1, factor=0.1, min_lr=2e-3), 0.1, expo, flat[:20]),
        # Cooldown longer than patience; patience 0 reduces after every bad epoch.
        _case("cooldown-long", p(patience=1, cooldown=4), 0.1, const, flat[:30]),
        _case("patience-0", p(patience=0, factor=0.9), 0.1, const, flat[:30]),
        # NaN is never better: it counts as a bad epoch.
        _case("nan", p(patience=1), 0.1, const, [1.0, math.nan, 0.9, math.nan, math.nan, 0.95]),
    ]


def _case(case_id, params, lr0, schedule, metrics):
    lrs, bad, cool, best = _run(params, lr0, schedule, metrics)
    case = {
        "id": case_id,
        "params": params,
        "initial_lr": lr0,
        "schedule": schedule,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "metrics": [None if math.isnan(m) else m for m in metrics],
        "lr": lrs,
        "num_bad_epochs": bad,
        "cooldown_counter": cool,
        "best": best,
    }
    if schedule["kind"] != "constant":
        case["schedule_lr"] = _run(params, lr0, schedule, metrics, plateau=False)[0]
    return case


def _make_schedule(optimizer, schedule):
    if schedule["kind"] == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=schedule["gamma"])
    if schedule["kind"] == "multistep":
        return lr_scheduler.MultiStepLR(
            optimizer, milestones=schedule["milestones"], gamma=schedule["gamma"]
        )
    return None


def _run(params, lr0, schedule, metrics, plateau=True):
    parameter = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    optimizer = torch.optim.SGD([parameter], lr=lr0)
    other = _make_schedule(optimizer, schedule)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **params) if plateau else None
    lrs, bad, cool, best = [], [], [], []
    for metric in metrics:
        optimizer.step()  # no gradient: nothing moves, but the schedulers see a step first
        if other is not None:
            other.step()
        if scheduler is not None:
            scheduler.step(metric)
            bad.append(int(scheduler.num_bad_epochs))
            cool.append(int(scheduler.cooldown_counter))
            best.append(None if math.isinf(scheduler.best) else float(scheduler.best))
        lrs.append(float(optimizer.param_groups[0]["lr"]))
    return lrs, bad, cool, best
