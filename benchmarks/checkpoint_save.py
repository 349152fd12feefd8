"""The per-epoch checkpoint save: last.keras + state.json as before (two atomic writes) against
kerasdl.run.resume.save_last (the same, plus the hashes that make them one unit), side by side.

    python benchmarks/checkpoint_save.py
"""

import statistics
import tempfile
import time
from pathlib import Path

from kerasdl import runs
from kerasdl.callbacks import save_model_atomically
from kerasdl.config import TrainConfig
from kerasdl.data import load_dataset
from kerasdl.models import build_model
from kerasdl.run import resume
from kerasdl.runner import build_loss, build_optimizer

cfg = TrainConfig().override({"data.name": "mnist-mini"}).validate()
ds = load_dataset(cfg)
m = build_model(cfg, ds)
m.compile(optimizer=build_optimizer(cfg, 1e-3), loss=build_loss(cfg))
m.fit(ds.x_train[:256], ds.y_train[:256], epochs=1, verbose=0)
d = Path(tempfile.mkdtemp())
state = {"version": 1, "epoch": 0}
old, new = [], []
for _round in range(20):  # alternating, side by side
    t = time.perf_counter()
    save_model_atomically(m, d / "last.keras")
    runs.save_resume_state(d, state)
    old.append(time.perf_counter() - t)
    t = time.perf_counter()
    resume.save_last(d, resume.save_model_for_last(m), state)
    new.append(time.perf_counter() - t)
old_ms, new_ms = statistics.median(old) * 1000, statistics.median(new) * 1000
size = (d / "last.keras").stat().st_size / 1e6
print(f"old {old_ms:.1f} ms, new {new_ms:.1f} ms, ratio {new_ms / old_ms:.3f}, {size:.2f} MB")
