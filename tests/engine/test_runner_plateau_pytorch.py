"""kerasdl train with ``plateau.on_schedule = "pytorch"``: PyTorch's rates, and a resume keeps
the reset.

A cosine schedule (PyTorch's recursive form carries a reduced rate until the cosine's next zero)
and a plateau that reduces after every epoch from the second on. The references: PyTorch's
``CosineAnnealingLR.get_lr`` and ``ReduceLROnPlateau.step`` written out in plain Python below,
and the uninterrupted run itself (the resumed one must reproduce it exactly).
"""

import math
import threading

import numpy as np
import pytest
from test_runner import Recorder

from kerasdl import runner
from kerasdl.config import TrainConfig

EPOCHS, T_MAX, ETA_MIN, LR, FACTOR = 5, 2, 1e-4, 1e-3, 0.5


def config(runs_dir, **dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": EPOCHS,
        "runs_dir": str(runs_dir),
        "optimizer.learning_rate": LR,
        "schedule.name": "cosine",
        "schedule.t_max": T_MAX,
        "schedule.eta_min": ETA_MIN,
        "plateau.enabled": True,
        "plateau.patience": 0,
        "plateau.threshold": 0.9,  # "better" means 10x lower: every epoch after the first is bad
        "plateau.factor": FACTOR,
        "plateau.on_schedule": "pytorch",
        "early_stopping.patience": 10,
    }
    settings.update(dotted)
    return TrainConfig().override(settings).validate()


def pytorch_rates():
    """The rate of each epoch: CosineAnnealingLR.step() then ReduceLROnPlateau.step() at each
    epoch's end (torch 2.13's recursive get_lr; a reduction after every epoch but the
    first)."""
    lr, rates = LR, []
    for epoch in range(EPOCHS):
        rates.append(lr)
        i = epoch + 1  # the cosine's step
        if (i - 1 - T_MAX) % (2 * T_MAX) == 0:
            lr = lr + (LR - ETA_MIN) * (1 - math.cos(math.pi / T_MAX)) / 2
        else:
            ratio = (1 + math.cos(math.pi * i / T_MAX)) / (1 + math.cos(math.pi * (i - 1) / T_MAX))
            lr = ETA_MIN + ratio * (lr - ETA_MIN)
        if epoch > 0 and lr - lr * FACTOR > 1e-8:
            lr = lr * FACTOR
    return rates


def scaled_rates():
    """What on_schedule="scale" gives: the cosine's closed form times the reductions."""
    scale, rates = 1.0, []
    for epoch in range(EPOCHS):
        rates.append(
            scale * (ETA_MIN + (LR - ETA_MIN) * (1 + math.cos(math.pi * epoch / T_MAX)) / 2)
        )
        if epoch > 0:
            scale *= FACTOR
    return rates


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    full = Recorder()
    runner.train(config(runs_dir, run_name="full"), sinks=[full])
    stop = threading.Event()
    first = Recorder(stop_after_epoch=1, stop=stop)
    stopped = runner.train(config(runs_dir, run_name="split"), sinks=[first], stop=stop)
    second = Recorder()
    resumed_config = TrainConfig.from_toml(stopped.run_dir / "config.toml")
    runner.train(resumed_config, sinks=[second], resume=stopped.run_dir)
    return full, first, second


def test_the_rates_are_pytorchs(runs):
    full, _, _ = runs
    rates = [event["learning_rate"] for event in full.of("epoch_ended")]
    np.testing.assert_allclose(rates, pytorch_rates(), rtol=1e-6)
    # Not the scaled schedule: after the cosine's low point (epoch 2) PyTorch adds an unscaled
    # step (2.5e-4 at epoch 3, where the scaled schedule has 1.375e-4).
    assert abs(rates[3] / scaled_rates()[3] - 1) > 0.5


def test_a_resume_carries_the_reset(runs):
    full, first, second = runs
    epochs = first.of("epoch_ended") + second.of("epoch_ended")
    assert [event["epoch"] for event in epochs] == list(range(1, EPOCHS + 1))
    for a, b in zip(full.of("epoch_ended"), epochs, strict=True):
        assert a["learning_rate"] == b["learning_rate"]
        assert a["metrics"] == b["metrics"]
