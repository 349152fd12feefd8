"""System metrics of a run: CPU, memory and GPU use, sampled off the training thread.

`SystemSampler` is a daemon thread that every ``interval_s`` seconds (``system_metrics_interval_s``,
2 s by default) takes one `Reading` and hands it to a callback (the run emits it as a
``system`` event, see ``docs/events.md``). What it reads:

- ``cpu_percent``: the process's CPU time over the wall time since the last reading, in percent
  of one core (``os.times``: user + system, all threads; 200 is two cores busy);
- ``machine_cpu_percent``: the whole machine's busy share since the last reading, 0-100
  (``/proc/stat``; Linux only, else null);
- ``rss_mb``: the process's resident memory now (``/proc/self/statm``; Linux only, else null);
  ``rss_peak_mb``: its high-water mark (``resource.getrusage``'s ``ru_maxrss``), so a peak
  between two readings is not missed;
- ``gpu_memory_mb``, ``gpu_memory_total_mb``, ``gpu_util_percent``: with NVIDIA's management
  library (``pip install "kerasdl[gpu]"``, the ``nvidia-ml-py`` package, which imports as
  ``pynvml``) and a GPU it sees, the memory used on the visible GPUs (summed; the whole device,
  not only this process) and their mean utilisation. Without it, and with TensorFlow seeing a
  GPU, the memory TensorFlow holds on its first GPU (``tf.config.experimental.get_memory_info``);
  utilisation stays null. Without either, all three are null: nothing is an error.

A long run does not make ``events.jsonl`` big: after every `THIN_AFTER` readings the interval
doubles (2 s for the first hour, 4 s for the next two, ...), so a week of training writes about
15,000 of them.

Standard library only, apart from the optional GPU libraries: importing it is light.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = [
    "THIN_AFTER",
    "GpuProbe",
    "Reading",
    "SystemSampler",
    "fmt_mb",
    "gpu_probe",
    "latest_text",
    "machine_cpu_times",
    "process_rss_mb",
    "reader",
    "summary_text",
]

#: Readings after which the interval doubles (an hour at 2 s).
THIN_AFTER = 1800

_MB = 1 << 20
_logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Reading:
    """One sample (the fields of a ``system`` event); None where it cannot be read."""

    cpu_percent: float | None = None
    machine_cpu_percent: float | None = None
    cpu_count: int | None = None
    rss_mb: float | None = None
    rss_peak_mb: float | None = None
    gpu_memory_mb: float | None = None
    gpu_memory_total_mb: float | None = None
    gpu_util_percent: float | None = None

    def fields(self) -> dict:
        """The event's fields (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- CPU and memory


def cpu_count() -> int:
    """The cores this process may run on (its affinity where known, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def machine_cpu_times(path: str = "/proc/stat") -> tuple[float, float] | None:
    """``(busy, total)`` jiffies of the whole machine from ``/proc/stat``'s ``cpu`` line, or
    None where there is none (not Linux). Idle and I/O wait count as not busy."""
    try:
        with open(path, encoding="ascii") as handle:
            line = handle.readline()
    except OSError:
        return None
    parts = line.split()
    if len(parts) < 5 or parts[0] != "cpu":
        return None
    try:
        values = [float(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
    except ValueError:
        return None
    total = sum(values)
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return total - idle, total


def process_rss_mb(path: str = "/proc/self/statm") -> float | None:
    """The process's resident memory now, in MiB (``/proc/self/statm``), or None elsewhere."""
    try:
        with open(path, encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / _MB


def process_peak_rss_mb() -> float | None:
    """The process's peak resident memory so far, in MiB (``ru_maxrss``), or None."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


# ----------------------------------------------------------------------------- GPU


@dataclasses.dataclass
class GpuProbe:
    """Reads the GPUs: ``read()`` gives ``(memory_mb, total_mb, util_percent)`` (each may be
    None); ``close()`` lets the library go. ``source`` names it (``"nvml"``, ``"tensorflow"``)."""

    source: str
    read: Callable[[], tuple[float | None, float | None, float | None]]
    close: Callable[[], None] = lambda: None


def _visible_indices(count: int) -> list[int]:
    """The NVML indices of the GPUs ``CUDA_VISIBLE_DEVICES`` leaves (all of them when unset or
    not a list of numbers)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    try:
        indices = [int(v) for v in visible.split(",") if v.strip()]
    except ValueError:  # GPU UUIDs: all
        return list(range(count))
    return [i for i in indices if 0 <= i < count]


def _nvml_probe() -> GpuProbe | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: pynvml.NVMLError
        return None
    try:
        handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i)
            for i in _visible_indices(pynvml.nvmlDeviceGetCount())
        ]
    except Exception:
        handles = []
    if not handles:
        pynvml.nvmlShutdown()
        return None

    def read():
        used = total = 0.0
        utils = []
        for handle in handles:
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            used, total = used + memory.used / _MB, total + memory.total / _MB
            utils.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
        return used, total, sum(utils) / len(utils)

    return GpuProbe("nvml", read, pynvml.nvmlShutdown)


def _tensorflow_probe() -> GpuProbe | None:
    tf = sys.modules.get("tensorflow")  # only where the run imported it already
    if tf is None:
        return None
    try:
        gpus = tf.config.list_logical_devices("GPU")
    except Exception:
        return None
    if not gpus:
        return None
    name = gpus[0].name.split("device:")[-1]

    def read():
        return tf.config.experimental.get_memory_info(name)["current"] / _MB, None, None

    return GpuProbe("tensorflow", read)


def gpu_probe() -> GpuProbe | None:
    """The first of NVML (``pynvml``) and TensorFlow's own memory counter that sees a GPU, or
    None (no GPU, or no library to read it: the GPU fields stay null)."""
    for make in (_nvml_probe, _tensorflow_probe):
        try:
            probe = make()
        except Exception:  # an optional library that misbehaves must not stop a run
            _logger.debug("GPU probe %s failed", make.__name__, exc_info=True)
            probe = None
        if probe is not None:
            return probe
    return None


# ----------------------------------------------------------------------------- readings


def _finite(value, digits: int = 1) -> float | None:
    """``value`` rounded (an event stays short), None when missing or not finite."""
    return round(float(value), digits) if value is not None and math.isfinite(value) else None


def reader(gpu: GpuProbe | None = None, clock: Callable[[], float] = time.monotonic):
    """A function that returns one `Reading` each call, its CPU shares measured since the
    previous call (the first call's since ``reader`` was made).

    Args:
        gpu: What reads the GPUs, or None (the GPU fields are null).
        clock: The wall clock, in seconds. Defaults to ``time.monotonic``.
    """
    cores = cpu_count()
    last = {"wall": clock(), "cpu": _process_cpu_s(), "machine": machine_cpu_times()}

    def read() -> Reading:
        wall, cpu, machine = clock(), _process_cpu_s(), machine_cpu_times()
        elapsed = wall - last["wall"]
        cpu_percent = 100.0 * (cpu - last["cpu"]) / elapsed if elapsed > 0 else None
        if cpu_percent is not None:
            cpu_percent = min(max(cpu_percent, 0.0), 100.0 * cores)
        machine_percent = None
        if machine is not None and last["machine"] is not None:
            busy, total = (now - then for now, then in zip(machine, last["machine"], strict=True))
            machine_percent = min(max(100.0 * busy / total, 0.0), 100.0) if total > 0 else None
        last.update(wall=wall, cpu=cpu, machine=machine)
        memory = total_memory = util = None
        if gpu is not None:
            try:
                memory, total_memory, util = gpu.read()
            except Exception:
                _logger.debug("reading the GPU (%s) failed", gpu.source, exc_info=True)
        rss, peak = process_rss_mb(), process_peak_rss_mb()
        if rss is not None and peak is not None:
            peak = max(peak, rss)  # the kernel's high-water mark may trail statm a little
        return Reading(
            cpu_percent=_finite(cpu_percent),
            machine_cpu_percent=_finite(machine_percent),
            cpu_count=cores,
            rss_mb=_finite(rss),
            rss_peak_mb=_finite(peak),
            gpu_memory_mb=_finite(memory),
            gpu_memory_total_mb=_finite(total_memory),
            gpu_util_percent=_finite(util),
        )

    return read


# ----------------------------------------------------------------------------- the thread


class SystemSampler:
    """A daemon thread that hands a `Reading` to ``emit`` every ``interval_s`` seconds.

    ``stop()`` ends it, joins the thread and emits one last reading (in the calling thread);
    once it returns, ``emit`` is never called again (a reading being emitted when ``stop`` is
    called finishes first). A failing ``emit`` or
    reading ends the sampling (logged), never the run. The interval doubles after every
    `THIN_AFTER` readings.

    Args:
        emit: Called with each `Reading`, in the sampler's thread; it must be thread-safe
            (`kerasdl.events.EventWriter.emit` is).
        interval_s: Seconds between readings, > 0. Defaults to 2.
        gpu: What reads the GPUs: ``"auto"`` (`gpu_probe`), None (no GPU fields), or a
            `GpuProbe`. Defaults to ``"auto"``.
        thin_after: Readings after which the interval doubles. Defaults to `THIN_AFTER`.

    Example:

    ```python
    with SystemSampler(lambda r: writer.emit("system", **r.fields())):
        model.fit(...)
    ```
    """

    def __init__(
        self,
        emit: Callable[[Reading], None],
        interval_s: float = 2.0,
        *,
        gpu: GpuProbe | str | None = "auto",
        thin_after: int = THIN_AFTER,
    ):
        if not (isinstance(interval_s, (int, float)) and interval_s > 0):
            raise ValueError(f"Argument `interval_s` must be > 0. Received: {interval_s!r}")
        self._emit = emit
        self.interval_s = float(interval_s)
        self.current_interval_s = self.interval_s  # doubled after every `thin_after` readings
        self._gpu_arg = gpu
        self.gpu: GpuProbe | None = None
        self._thin_after = max(1, int(thin_after))
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while emitting: stop() waits for an emit to end
        self._thread: threading.Thread | None = None
        self._read: Callable[[], Reading] | None = None
        self._failed = False
        self.count = 0

    def start(self) -> SystemSampler:
        """Probe the GPU (in the calling thread) and start the thread. Returns self."""
        if self._thread is not None:
            raise RuntimeError("The sampler was started already.")
        self.gpu = gpu_probe() if self._gpu_arg == "auto" else self._gpu_arg
        self._read = read = reader(self.gpu)
        self._thread = threading.Thread(
            target=self._loop, args=(read,), name="kerasdl-system-metrics", daemon=True
        )
        self._thread.start()
        return self

    def _loop(self, read) -> None:
        try:
            while not self._stop.wait(self.current_interval_s):
                reading = read()
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._emit(reading)
                self.count += 1
                if self.count % self._thin_after == 0:
                    self.current_interval_s *= 2
        except Exception:
            self._failed = True
            _logger.warning("System metrics stopped: a reading failed.", exc_info=True)

    def stop(self, timeout: float = 5.0, *, final: bool = True) -> None:
        """Stop sampling, join the thread, and (``final``) emit one last reading, so the end
        of the run is covered and even a short run has a sample. Idempotent: no ``emit``
        happens after the first call returns."""
        self._stop.set()
        with self._lock:  # an emit in progress ends first; later ones see the stop
            pass
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        read, self._read = self._read, None
        if final and read is not None and not self._failed and not self.alive:
            try:
                self._emit(read())
                self.count += 1
            except Exception:
                _logger.warning("System metrics: the last reading failed.", exc_info=True)
        if self.gpu is not None and self._gpu_arg == "auto":
            gpu, self.gpu = self.gpu, None
            try:
                gpu.close()
            except Exception:
                _logger.debug("closing the GPU library failed", exc_info=True)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# ----------------------------------------------------------------------------- for the views


def fmt_mb(value: float | None, *, gib_from: float = 1024) -> str:
    """MiB as ``"812 MiB"`` or, from ``gib_from`` MiB on, ``"3.2 GiB"``; ``"-"`` for None.

    A process's RSS is shown in MiB up to 10 GiB (``gib_from=10240``: ``"1310 MiB"``), so the
    same run reads the same on machines where it peaks a little under or over 1 GiB."""
    if value is None:
        return "-"
    if value >= gib_from:
        return f"{value / 1024:.1f} GiB"
    return f"{value:.0f} MiB"


_RSS_GIB_FROM = 10240


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def summary_text(record) -> str | None:
    """One line for ``kerasdl runs show``: the peak RSS, the mean CPU % (of one core), the
    machine's mean CPU %, and the GPU's peak memory and mean utilisation when recorded; None for
    a run without ``system`` events.

    Args:
        record: A `kerasdl.events.record.RunRecord`.
    """
    if not record.system_samples:
        return None
    peak, mean = record.system_peak, record.system_mean
    rss = peak.get("rss_peak_mb", peak.get("rss_mb"))
    parts = [f"peak RSS {fmt_mb(rss, gib_from=_RSS_GIB_FROM)}"]
    cpu = mean("cpu_percent")
    if cpu is not None:
        cores = record.system.get("cpu_count") or peak.get("cpu_count")
        of = f" of {cores:.0f} cores" if cores else ""
        parts.append(f"CPU {_percent(cpu)} mean{of}")
    machine = mean("machine_cpu_percent")
    if machine is not None:
        parts.append(f"machine CPU {_percent(machine)} mean")
    gpu = peak.get("gpu_memory_mb")
    if gpu is not None:
        total = peak.get("gpu_memory_total_mb")
        parts.append(f"GPU peak {fmt_mb(gpu)}" + (f" of {fmt_mb(total)}" if total else ""))
    util = mean("gpu_util_percent")
    if util is not None:
        parts.append(f"GPU util {_percent(util)} mean")
    return ", ".join(parts)


def latest_text(record) -> str | None:
    """The latest sample in a few words, for the dashboard (``"CPU 104% · RSS 812 MiB ·
    machine 98% · GPU 3.2 GiB 45%"``); None before the first ``system`` event.

    Args:
        record: A `kerasdl.events.record.RunRecord`.
    """
    latest = record.system
    if not record.system_samples:
        return None
    parts = [f"CPU {_percent(latest.get('cpu_percent'))}"]
    parts.append(f"RSS {fmt_mb(latest.get('rss_mb'), gib_from=_RSS_GIB_FROM)}")
    if latest.get("machine_cpu_percent") is not None:
        parts.append(f"machine {_percent(latest['machine_cpu_percent'])}")
    if latest.get("gpu_memory_mb") is not None:
        gpu = f"GPU {fmt_mb(latest['gpu_memory_mb'])}"
        if latest.get("gpu_util_percent") is not None:
            gpu += f" {_percent(latest['gpu_util_percent'])}"
        parts.append(gpu)
    return " · ".join(parts)
