"""kerasdl.system_metrics: plausible readings, a thread that stops, null GPU fields without a
library, the ``system`` event in the schema, and RunRecord's latest, peak and mean.

The two runs at the end (mnist-mini, 2 epochs) check the runner's part: samples between
``run_started`` and ``run_finished``, the thread joined after a run and after an error.
"""

import math
import sys
import threading
import time
import types

import keras
import pytest

from kerasdl import runner, system_metrics
from kerasdl.config import TrainConfig
from kerasdl.events import EventWriter, read_events
from kerasdl.events.record import RunRecord
from kerasdl.events.schema import from_dict
from kerasdl.system_metrics import GpuProbe, Reading, SystemSampler

THREAD = "kerasdl-system-metrics"


def _sampler_threads():
    return [t for t in threading.enumerate() if t.name == THREAD]


def _burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(i * i for i in range(1000))


# ----------------------------------------------------------------------------- readings


def test_a_reading_is_plausible():
    read = system_metrics.reader(gpu=None)
    _burn(0.2)
    reading = read()
    cores = system_metrics.cpu_count()
    assert reading.cpu_count == cores >= 1
    assert 0 <= reading.cpu_percent <= 100 * cores
    assert reading.cpu_percent > 5  # it burnt CPU since the reader was made
    if sys.platform.startswith("linux"):
        assert reading.rss_mb > 1
        assert reading.rss_peak_mb >= reading.rss_mb
        assert 0 <= reading.machine_cpu_percent <= 100
    assert reading.gpu_memory_mb is None and reading.gpu_util_percent is None


def test_proc_files_that_are_missing_or_odd_give_none(tmp_path):
    assert system_metrics.machine_cpu_times(str(tmp_path / "absent")) is None
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    assert system_metrics.machine_cpu_times(str(tmp_path / "stat")) is None
    (tmp_path / "stat").write_text("cpu  10 0 10 70 10 0 0 0 0 0\n")
    assert system_metrics.machine_cpu_times(str(tmp_path / "stat")) == (20.0, 100.0)
    assert system_metrics.process_rss_mb(str(tmp_path / "absent")) is None
    (tmp_path / "statm").write_text("garbage\n")
    assert system_metrics.process_rss_mb(str(tmp_path / "statm")) is None


def test_no_gpu_library_gives_null_gpu_fields(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert system_metrics.gpu_probe() is None
    sampler = SystemSampler(lambda reading: None, 60)
    sampler.start()
    try:
        assert sampler.gpu is None
    finally:
        sampler.stop()
    reading = system_metrics.reader(None)()
    assert (reading.gpu_memory_mb, reading.gpu_memory_total_mb, reading.gpu_util_percent) == (
        None,
        None,
        None,
    )


def _fake_pynvml(count=2, fail_init=False):
    calls = []

    def init():
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")
        calls.append("init")

    return types.SimpleNamespace(
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(
            used=(h + 1) * 512 << 20, total=8192 << 20
        ),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=40 + 20 * h),
        calls=calls,
    )


def test_nvml_gives_the_visible_gpus_memory_and_utilisation(monkeypatch):
    fake = _fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    probe = system_metrics.gpu_probe()
    assert probe.source == "nvml"
    reading = system_metrics.reader(probe)()
    assert reading.gpu_memory_mb == 512 + 1024
    assert reading.gpu_memory_total_mb == 2 * 8192
    assert reading.gpu_util_percent == 50
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    reading = system_metrics.reader(system_metrics.gpu_probe())()
    assert (reading.gpu_memory_mb, reading.gpu_util_percent) == (1024, 60)
    probe.close()
    assert "shutdown" in fake.calls


def test_an_nvml_without_a_driver_is_no_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(fail_init=True))
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert system_metrics.gpu_probe() is None


def test_a_gpu_that_fails_to_read_gives_nulls_not_an_error():
    def broken():
        raise OSError("GPU is lost")

    reading = system_metrics.reader(GpuProbe("test", broken))()
    assert reading.gpu_memory_mb is None
    assert reading.rss_mb is None or reading.rss_mb > 0


# ----------------------------------------------------------------------------- the thread


def test_the_sampler_emits_then_stops_and_joins():
    readings = []
    sampler = SystemSampler(readings.append, 0.02, gpu=None).start()
    deadline = time.monotonic() + 10
    while len(readings) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(readings) >= 3 and all(isinstance(r, Reading) for r in readings)
    count = len(readings)
    sampler.stop()
    assert not sampler.alive and not _sampler_threads()
    assert len(readings) >= count + 1  # and a last one, from stop()
    count = len(readings)
    sampler.stop()  # idempotent
    time.sleep(0.1)
    assert len(readings) == count  # nothing after stop()


def test_a_short_run_still_gets_the_last_reading():
    readings = []
    sampler = SystemSampler(readings.append, 60, gpu=None).start()
    sampler.stop()
    assert len(readings) == 1
    sampler = SystemSampler(readings.append, 60, gpu=None).start()
    sampler.stop(final=False)
    assert len(readings) == 1


def test_stop_waits_for_an_emit_in_progress():
    entered, release, after = threading.Event(), threading.Event(), []

    def slow(reading):
        entered.set()
        release.wait(5)
        after.append(reading)

    sampler = SystemSampler(slow, 0.01, gpu=None).start()
    assert entered.wait(5)
    stopper = threading.Thread(target=sampler.stop)
    stopper.start()
    time.sleep(0.05)
    assert stopper.is_alive()  # waiting for the emit
    release.set()
    stopper.join(5)
    assert not sampler.alive and len(after) == 2  # the one in progress, then the last


def test_a_failing_emit_ends_the_sampling_not_the_process(caplog):
    def broken(reading):
        raise RuntimeError("writer closed")

    sampler = SystemSampler(broken, 0.01, gpu=None).start()
    sampler._thread.join(5)
    assert not sampler.alive
    assert "System metrics stopped" in caplog.text
    sampler.stop()


def test_the_interval_doubles_after_thin_after_samples():
    seen = []
    sampler = SystemSampler(lambda r: None, 0.01, gpu=None, thin_after=2)

    def emit(reading):
        seen.append(sampler.current_interval_s)

    sampler._emit = emit
    sampler.start()
    deadline = time.monotonic() + 10
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert seen[:5] == [0.01, 0.01, 0.02, 0.02, 0.04]


def test_a_bad_interval_is_refused():
    with pytest.raises(ValueError, match="interval_s"):
        SystemSampler(print, 0)


# ----------------------------------------------------------------------------- events, record


def test_the_schema_accepts_a_system_event_and_the_writer_writes_it(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        writer.emit("system", **system_metrics.reader(None)().fields())
    (event,) = read_events(path)
    assert from_dict(event).problems == ()
    assert event["cpu_count"] >= 1


def _system(time_, **fields):
    return {"schema": 1, "type": "system", "time": time_, **fields}


def test_the_record_keeps_the_latest_the_peak_and_the_mean():
    record = RunRecord()
    record.apply(_system(1.0, cpu_percent=50.0, rss_mb=100.0, gpu_memory_mb=None))
    record.apply(_system(2.0, cpu_percent=150.0, rss_mb=300.0, rss_peak_mb=310.0))
    record.apply(_system(3.0, cpu_percent=100.0, rss_mb=200.0))
    assert record.system_samples == 3
    assert record.system == {"cpu_percent": 100.0, "rss_mb": 200.0}
    assert record.system_peak["rss_mb"] == 300.0
    assert record.system_peak["rss_peak_mb"] == 310.0
    assert record.system_mean("cpu_percent") == 100.0
    assert record.system_mean("gpu_util_percent") is None


@pytest.mark.parametrize(
    "bad", ["NaN", "Infinity", -5.0, "lots", True, 1e300, [1], {"a": 1}], ids=repr
)
def test_the_record_reads_only_finite_non_negative_numbers(bad):
    record = RunRecord()
    record.apply(_system(1.0, cpu_percent=bad, rss_mb=bad, cpu_count=bad))
    record.apply(_system(2.0, rss_mb=10.0))
    assert record.system == {"rss_mb": 10.0}
    assert "cpu_percent" not in record.system_peak
    assert record.system_peak["rss_mb"] == 10.0
    assert all(math.isfinite(v) for v in record.system_peak.values())


# ----------------------------------------------------------------------------- in a run


def _config(runs_dir, **dotted):
    settings = {
        "data.name": "mnist-mini",
        "data.limit": 600,
        "epochs": 2,
        "steps_per_execution": 4,
        "runs_dir": str(runs_dir),
        "system_metrics_interval_s": 0.1,
    }
    settings.update(dotted)
    return TrainConfig().override(settings).validate()


class _SlowEpochs(keras.callbacks.Callback):
    def __init__(self, crash_at=None):
        super().__init__()
        self.crash_at = crash_at

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.3)  # room for a few samples on a fast machine
        if epoch == self.crash_at:
            raise RuntimeError("disk on fire")


def test_a_run_records_samples_between_its_start_and_its_end(tmp_path):
    runner.train(_config(tmp_path, run_name="sys"), callbacks=[_SlowEpochs()])
    events = read_events(tmp_path / "sys" / "events.jsonl")
    types_ = [e["type"] for e in events]
    assert types_[0] == "run_started" and types_[-1] == "run_finished"
    samples = [e for e in events if e["type"] == "system"]
    assert samples
    assert all(from_dict(e).problems == () for e in samples)
    assert max(e["rss_mb"] for e in samples) > 0
    assert not _sampler_threads()
    record = RunRecord.read(tmp_path / "sys" / "events.jsonl")
    assert record.system_samples == len(samples) and record.system_peak["rss_mb"] > 0


def test_the_sampler_stops_after_an_error_and_nothing_follows_run_finished(tmp_path):
    with pytest.raises(RuntimeError, match="disk on fire"):
        runner.train(_config(tmp_path, run_name="crash"), callbacks=[_SlowEpochs(crash_at=0)])
    time.sleep(0.3)  # a sampler left running would write meanwhile
    events = read_events(tmp_path / "crash" / "events.jsonl")
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "failed"
    assert any(e["type"] == "system" for e in events)
    assert not _sampler_threads()


def test_system_metrics_off_writes_none(tmp_path):
    runner.train(_config(tmp_path, run_name="off", system_metrics=False, epochs=1))
    events = read_events(tmp_path / "off" / "events.jsonl")
    assert not [e for e in events if e["type"] == "system"]
