"""``kerasdl runs show``'s ``system`` line: the peak RSS and mean CPU of a run's ``system``
events (written with the real `EventWriter`), none without them, and the texts of
`kerasdl.system_metrics` for the views."""

import pytest
from typer.testing import CliRunner

from kerasdl import system_metrics
from kerasdl.cli import app
from kerasdl.events import EventWriter
from kerasdl.events.record import RunRecord

runner = CliRunner()


def _write(run_dir, samples):
    run_dir.mkdir(parents=True)
    clock = iter(range(1_700_000_000, 1_700_000_100))
    with EventWriter(run_dir / "events.jsonl", clock=lambda: float(next(clock))) as events:
        events.emit("run_started", epochs=1, steps_per_epoch=1, batch_size=1)
        for sample in samples:
            events.emit("system", **sample)
        events.emit("epoch_ended", epoch=1, epochs=1, metrics={"loss": 0.5}, epoch_seconds=1.0)
        events.emit("run_finished", status="completed", epochs_run=1, duration_s=3.0)


SAMPLES = [
    {"cpu_percent": 80.0, "machine_cpu_percent": 90.0, "cpu_count": 2, "rss_mb": 700.0,
     "rss_peak_mb": 710.0},
    {"cpu_percent": 120.0, "machine_cpu_percent": 100.0, "cpu_count": 2, "rss_mb": 760.0,
     "rss_peak_mb": 812.0, "gpu_memory_mb": 3277.0, "gpu_memory_total_mb": 81920.0,
     "gpu_util_percent": 40.0},
    {"cpu_percent": "NaN", "rss_mb": -1.0, "gpu_util_percent": 60.0},  # bad numbers left out
]  # fmt: skip


def test_show_prints_the_peak_rss_and_the_mean_cpu(tmp_path):
    _write(tmp_path / "sys", SAMPLES)
    result = runner.invoke(app, ["runs", "show", "sys", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("system")]
    text = " ".join(line.split())
    assert "peak RSS 812 MiB" in text
    assert "CPU 100% mean of 2 cores" in text
    assert "machine CPU 95% mean" in text
    assert "GPU peak 3.2 GiB of 80.0 GiB" in text
    assert "GPU util 50% mean" in text


def test_show_has_no_system_line_without_samples(tmp_path):
    _write(tmp_path / "quiet", [])
    result = runner.invoke(app, ["runs", "show", "quiet", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("system")]


def _record(samples):
    record = RunRecord()
    for sample in samples:
        record.apply({"schema": 1, "type": "system", "time": 1.0, **sample})
    return record


def test_the_texts_of_the_views():
    assert system_metrics.summary_text(RunRecord()) is None
    assert system_metrics.latest_text(RunRecord()) is None
    record = _record(SAMPLES[:2])
    assert system_metrics.latest_text(record) == (
        "CPU 120% · RSS 760 MiB · machine 100% · GPU 3.2 GiB 40%"
    )
    only_rss = _record([{"rss_mb": 5.0}])
    assert system_metrics.latest_text(only_rss) == "CPU - · RSS 5 MiB"
    assert system_metrics.summary_text(only_rss) == "peak RSS 5 MiB"


@pytest.mark.parametrize(("mb", "text"), [(None, "-"), (0.4, "0 MiB"), (1023, "1023 MiB"),
                                          (1536, "1.5 GiB")])  # fmt: skip
def test_fmt_mb(mb, text):
    assert system_metrics.fmt_mb(mb) == text


def test_rss_stays_in_mib_up_to_10_gib():
    """The same run peaks a little under 1 GiB on one machine and over it on another: its
    ``runs show`` line reads the same on both (docs/cli.md's example is checked as text)."""
    for rss, shown in ((1000.0, "1000 MiB"), (1400.0, "1400 MiB"), (12288.0, "12.0 GiB")):
        assert system_metrics.summary_text(_record([{"rss_mb": rss}])) == f"peak RSS {shown}"
