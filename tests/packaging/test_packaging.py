"""The installed package: its wheel's layout, its light import, its entry points."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# textual_serve and its aiohttp: `kerasdl dashboard --serve` only.
HEAVY = (
    "tensorflow",
    "keras",
    "textual",
    "textual_serve",
    "aiohttp",
    "tensorboard",
    "jax",
    "torch",
)


def _imported_modules(*args):
    """Top-level modules a fresh interpreter imports while running ``args``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".")[0])
    assert modules, "python -X importtime printed nothing: the check would prove nothing"
    return modules, result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("-c", "import kerasdl"),
        ("-m", "kerasdl", "--help"),
        ("-m", "kerasdl", "--version"),
        ("-m", "kerasdl", "dashboard", "--help"),
    ],
    ids=["import", "help", "version", "dashboard-help"],
)
def test_light_start_imports_no_framework(args):
    modules, _ = _imported_modules(*args)
    assert "kerasdl" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_submodules_load_lazily_on_attribute_access():
    code = (
        "import sys, kerasdl\n"
        "assert 'keras' not in sys.modules\n"
        "kerasdl.losses\n"
        "assert 'keras' in sys.modules and 'kerasdl.losses' in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_console_script_help_lists_commands():
    exe = Path(sys.executable).with_name("kerasdl")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage: kerasdl" in result.stdout
    assert "info" in result.stdout


def test_python_dash_m_matches_console_script():
    result = subprocess.run(
        [sys.executable, "-m", "kerasdl", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    import kerasdl

    assert result.stdout.strip() == f"kerasdl {kerasdl.__version__}"


@pytest.mark.slow
def test_wheel_top_level_modules_are_kerasdl_and_kerasdl_tui(tmp_path):
    # --no-build-isolation: the test extra brings setuptools, so nothing is downloaded.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("kerasdl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"kerasdl", "kerasdl_tui"}
    # Every source package of the checkout is in the wheel, under its import name.
    for init in REPO.joinpath("kerasdl").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names
    for init in REPO.joinpath("tui").rglob("__init__.py"):
        rel = init.relative_to(REPO / "tui").as_posix()
        assert f"kerasdl_tui/{rel}" in names


@pytest.mark.slow
def test_fresh_process_loads_a_model_saved_with_every_family(tmp_path):
    """Keras only finds registered classes once their module is imported: in a new process
    `kerasdl.load_model` (or importing the families) must be enough, without custom_objects."""
    path = tmp_path / "model.keras"
    save = f"""
import numpy as np, keras, kerasdl
kerasdl.register_all()
from kerasdl import initializers, losses, optimizers, regularizers, schedules
model = keras.Sequential([
    keras.Input((3,)),
    keras.layers.Dense(4, kernel_initializer=initializers.HeNormal(seed=1),
                       kernel_regularizer=regularizers.L2(0.01)),
    keras.layers.Dense(1),
])
model.compile(optimizer=optimizers.AdamW(schedules.StepLR(0.1, step_size=2)),
              loss=losses.Huber(delta=0.5))
x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
model.fit(x, x[:, :1], epochs=1, batch_size=4, verbose=0)
model.save({str(path)!r})
np.save({str(tmp_path / "pred.npy")!r}, model.predict(x, verbose=0))
"""
    load = f"""
import numpy as np, kerasdl
model = kerasdl.load_model({str(path)!r})
x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
np.testing.assert_array_equal(model.predict(x, verbose=0), np.load({str(tmp_path / "pred.npy")!r}))
assert type(model.optimizer).__module__.startswith("kerasdl.optimizers"), type(model.optimizer)
assert type(model.loss).__module__.startswith("kerasdl.losses"), type(model.loss)
print("ok")
"""
    for code in (save, load):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
