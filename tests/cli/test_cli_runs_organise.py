"""Hyperparameters and organising: ``runs compare``'s table of the settings that differ (and
``--all``), ``train --print-config``, ``runs tag|note|rename|delete|restore``, and ``runs list
--tag/--status/--filter/--sort``; on run directories written with the real `EventWriter`
(no training), among them a folder of 30 experiment runs."""

import json

import pytest
import tomllib
from typer.testing import CliRunner

from kerasdl import hparams, run_meta, runs
from kerasdl.cli import app
from kerasdl.config import TrainConfig
from kerasdl.events import EventWriter
from kerasdl.experiments import _runs
from kerasdl.run.resume import RunLock

runner = CliRunner()
RAW = ("\x1b", "\x07", "\x9b")

#: (experiment, variant, overrides): 3 experiments x 10 variants = 30 runs.
EXPERIMENTS = [
    *(("optimizers", f"{name}-{i}", {"optimizer.name": name, "optimizer.learning_rate": lr})
      for i, (name, lr) in enumerate([("adam", 0.001), ("sgd", 0.1)] * 5)),
    *(("regularization", f"l2-{i}", {"model.regularizer": "l2", "model.l2": 1e-4 * (i + 1)})
      for i in range(10)),
    *(("losses", f"mse-{i}", {"loss.name": "mse" if i % 2 else "cross_entropy"})
      for i in range(10)),
]  # fmt: skip


def write_run(runs_dir, run_id, overrides=None, *, val_loss=0.5, status="completed", start=0):
    """A finished 2-epoch run as the runner writes it (config.toml and events.jsonl)."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    config = TrainConfig().override({"epochs": 2, "data.name": "mnist-mini", "run_name": run_id,
                                     **(overrides or {})})  # fmt: skip
    (run_dir / "config.toml").write_text(config.to_toml())
    clock = iter(range(1_700_000_000 + start, 1_700_000_100 + start))
    with EventWriter(run_dir / "events.jsonl", clock=lambda: float(next(clock))) as events:
        events.emit(
            "run_started", config=config.to_dict(), dataset={"name": "mnist-mini"}, params=10,
            backend="tensorflow", devices=["CPU:0"], epochs=2, steps_per_epoch=1, batch_size=64,
            optimizer={"name": "adamw", "learning_rate": 0.001}, resumed_from=None,
        )  # fmt: skip
        for epoch in (1, 2):
            metrics = {"loss": val_loss + 0.1, "val_loss": val_loss, "val_accuracy": 1 - val_loss}
            events.emit("epoch_ended", epoch=epoch, epochs=2, metrics=metrics,
                        learning_rate=0.001, epoch_seconds=1.0, samples_per_s=10.0)  # fmt: skip
        events.emit("run_finished", status=status, best_epoch=2,
                    best={"monitor": "val_loss", "value": val_loss},
                    test={"loss": val_loss, "accuracy": 1 - val_loss}, duration_s=2.0,
                    epochs_run=2, error=None)  # fmt: skip
    return run_dir


@pytest.fixture(scope="module")
def thirty(tmp_path_factory):
    """30 experiment runs, each tagged as `train_variant` tags it (its sink, at run_started)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    stamp = "20250131-154502-3fa9c1"
    for i, (experiment, variant, overrides) in enumerate(EXPERIMENTS):
        name = _runs.run_name(stamp, experiment, variant)
        run_dir = write_run(runs_dir, name, overrides, val_loss=0.1 + i / 100, start=i)
        assert _runs.experiment_of(name, variant) == experiment
        _runs.tagger(run_dir, experiment)({"type": "run_started"})
    return runs_dir


def invoke(*args, columns=80, input=None):
    result = runner.invoke(
        app, [*map(str, args)], env={"COLUMNS": str(columns)}, input=input, catch_exceptions=False
    )
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result, text


def test_thirty_runs_filtered_to_one_experiment_and_compared_by_what_differs(thirty):
    result, text = invoke("runs", "list", "--tag", "optimizers", "--runs-dir", thirty)
    assert result.exit_code == 0, text
    rows = [line for line in text.splitlines() if "-optimizers-" in line]
    assert len(rows) == 10 and "regularization" not in text and "losses" not in text
    assert all(len(line) <= 80 for line in text.splitlines())

    result, text = invoke("runs", "compare", "--tag", "optimizers", "--runs-dir", thirty)
    assert result.exit_code == 0, text
    settings = text[text.index("Settings that differ") : text.index("Best and final")]
    assert all(len(line) <= 80 for line in settings.splitlines()), settings
    header = next(line for line in settings.splitlines() if "learning_rate" in line)
    assert header.split() == ["run", "name", "learning_rate"]  # under "optimizer"
    rows = [line.split() for line in settings.splitlines() if "-optimizers-" in line]
    assert len(rows) == 10
    assert rows[0][-2:] == ["adam", "0.001"] and rows[1][-2:] == ["sgd", "0.1"]
    assert "run_name" not in settings and "epochs" not in settings

    result, text = invoke("runs", "compare", "--filter", "tag:regularization", "--runs-dir",
                          thirty, columns=200)  # fmt: skip
    settings = text[text.index("Settings that differ") : text.index("Best and final")]
    assert "l2" in settings and "0.0001" in settings and "0.001" in settings


def test_compare_all_shows_every_setting(thirty):
    ids = [p.name for p in sorted(thirty.iterdir())][:2]
    result, text = invoke("runs", "compare", *ids, "--all", "--runs-dir", thirty, columns=200)
    assert result.exit_code == 0, text
    settings = text[text.index("Settings") : text.index("Best and final")]
    for key in ("seed", "optimizer.learning_rate", "early_stopping.patience", "run_name"):
        assert f" {key} " in settings, key
    result, text = invoke("runs", "compare", ids[0], ids[0], "--runs-dir", thirty)
    assert "Settings that differ" not in text  # nothing differs: no table


def test_list_status_filter_and_sort(thirty, tmp_path):
    result, text = invoke("runs", "list", "--filter", "*sgd-3*", "--runs-dir", thirty)
    assert [line.split()[0] for line in text.splitlines() if "optimizers" in line] == [
        "3fa9c1-optimizers-sgd-3"
    ]
    result, text = invoke("runs", "list", "--filter", "optimizer.name=sgd tag:optimizers",
                          "--sort", "optimizer.learning_rate", "--runs-dir", thirty)  # fmt: skip
    assert len([line for line in text.splitlines() if "-sgd-" in line]) == 5
    assert "-adam-" not in text
    result, text = invoke("runs", "list", "--sort", "val_loss", "-r", "--runs-dir", thirty)
    ids = [line.split()[0] for line in text.splitlines() if "3fa9c1-" in line]
    assert ids[0] == "3fa9c1-losses-mse-9" and ids[-1] == "3fa9c1-optimizers-adam-0"
    result, text = invoke("runs", "list", "--sort", "model.l2", "-r", "--runs-dir", thirty)
    ids = [line.split()[0] for line in text.splitlines() if "3fa9c1-" in line]
    assert ids[:2] == ["3fa9c1-regularization-l2-9", "3fa9c1-regularization-l2-8"]
    result, text = invoke("runs", "list", "--sort", "bogus", "--runs-dir", thirty)
    assert result.exit_code == 2 and "cannot sort by 'bogus'" in text
    result, text = invoke("runs", "list", "--status", "nan", "--runs-dir", thirty)
    assert result.exit_code == 0 and "No runs in" in text and "match (30 in all)" in text


def test_tags_and_notes(tmp_path):
    write_run(tmp_path, "a")
    write_run(tmp_path, "b", start=10)
    result, text = invoke("runs", "tag", "a", "baseline", "keep", "--runs-dir", tmp_path)
    assert result.exit_code == 0 and "a: tags baseline, keep" in text
    invoke("runs", "tag", "a", "keep", "--remove", "--runs-dir", tmp_path)
    invoke("runs", "note", "a", "the one to beat", "--runs-dir", tmp_path)
    data = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert data == {"version": 1, "tags": ["baseline"], "note": "the one to beat"}
    result, text = invoke("runs", "show", "a", "--runs-dir", tmp_path)
    assert "tags            baseline" in text and "note            the one to beat" in text
    result, text = invoke("runs", "list", "--runs-dir", tmp_path, columns=200)
    assert "tags" in text and "baseline" in text
    result, text = invoke("runs", "tag", "a", "bad tag", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "not a plain tag" in text
    result, text = invoke("runs", "note", "a", "x" * 3000, "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "at most 2000" in text
    # A copied run keeps them.
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    assert run_meta.read_meta(tmp_path / "copy").tags == ["baseline"]


def test_rename_refuses_bad_names_existing_runs_and_runs_in_training(tmp_path):
    write_run(tmp_path, "a")
    write_run(tmp_path, "b", start=10)
    for name, why in [("../x", "not a plain name"), ("b", "exists"), (".hidden", "plain")]:
        result, text = invoke("runs", "rename", "a", name, "--runs-dir", tmp_path)
        assert result.exit_code == 2 and why in text, text
    with RunLock(tmp_path / "a"):
        result, text = invoke("runs", "rename", "a", "c", "--runs-dir", tmp_path)
        assert result.exit_code == 2 and "in use" in text, text
    result, text = invoke("runs", "rename", "a", "c", "--runs-dir", tmp_path)
    assert result.exit_code == 0 and "renamed a -> c" in text
    assert not (tmp_path / "a").exists() and runs.load_run(tmp_path / "c").status == "completed"
    assert tomllib.loads((tmp_path / "c" / "config.toml").read_text())["run_name"] == "c"


def test_a_running_run_is_refused(tmp_path):
    run_dir = tmp_path / "live"
    run_dir.mkdir()
    with EventWriter(run_dir / "events.jsonl") as events:  # run_started, no run_finished
        events.emit("run_started", config={}, dataset={}, params=1, backend="tensorflow",
                    devices=[], epochs=2, steps_per_epoch=1, batch_size=1, optimizer={},
                    resumed_from=None)  # fmt: skip
    assert runs.load_run(run_dir).status == "running"  # our pid, alive
    for args in (["rename", "live", "other"], ["delete", "live", "--yes"]):
        result, text = invoke("runs", *args, "--runs-dir", tmp_path)
        assert result.exit_code == 2 and "it is running" in text, text
    assert run_dir.is_dir()


def test_delete_asks_moves_to_the_trash_and_restore_brings_it_back(tmp_path):
    write_run(tmp_path, "a")
    write_run(tmp_path, "b", start=10)
    result, text = invoke("runs", "delete", "a", "--runs-dir", tmp_path, input="n\n")
    assert result.exit_code == 1 and "Move 1 run to the trash (a)?" in text
    assert (tmp_path / "a").is_dir()
    result, text = invoke("runs", "delete", "a", "--runs-dir", tmp_path, input="y\n")
    assert result.exit_code == 0 and not (tmp_path / "a").exists()
    assert (tmp_path / ".trash" / "a" / "events.jsonl").is_file()
    _, text = invoke("runs", "list", "--runs-dir", tmp_path)
    assert " a " not in text and " b " in text  # the trash is not a run, nor are its runs
    with RunLock(tmp_path / "b"):
        result, text = invoke("runs", "delete", "b", "--yes", "--runs-dir", tmp_path)
        assert result.exit_code == 2 and "in use" in text
    write_run(tmp_path, "a", start=20)  # a new run of the same name, deleted too
    invoke("runs", "delete", "a", "--yes", "--runs-dir", tmp_path)
    assert sorted(p.name for p in (tmp_path / ".trash").iterdir()) == ["a", "a-2"]
    _, text = invoke("runs", "restore", "--runs-dir", tmp_path)
    assert "a-2" in text
    result, text = invoke("runs", "restore", "a-2", "--runs-dir", tmp_path)
    assert result.exit_code == 0 and "restored a" in text
    assert not (tmp_path / "a" / ".trashed.json").exists()
    result, text = invoke("runs", "restore", "a", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "exists" in text  # its id is taken again
    result, text = invoke("runs", "restore", "zzz", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "no run 'zzz'" in text


def test_a_bad_meta_json_never_hides_the_run_and_shows_inert(tmp_path):
    write_run(tmp_path, "garbage")
    (tmp_path / "garbage" / "meta.json").write_text("{not json")
    write_run(tmp_path, "huge", start=1)
    (tmp_path / "huge" / "meta.json").write_text(json.dumps({"note": "x" * (1 << 17)}))
    write_run(tmp_path, "evil", start=2)
    (tmp_path / "evil" / "meta.json").write_text(json.dumps({
        "tags": ["ok", "x\x1b]0;pwned\x07", 7, "[bold red]BIG"] + [f"t{i}" for i in range(40)],
        "note": "n\x1b[2J[/red][link=http://evil.example]x[/link]", "future": {"kept": 1},
    }))  # fmt: skip
    write_run(tmp_path, "link", start=3)
    (tmp_path / "link" / "meta.json").symlink_to(tmp_path / "evil" / "meta.json")
    result, text = invoke("runs", "list", "--runs-dir", tmp_path, columns=300)
    assert result.exit_code == 0
    assert all(f" {name} " in text for name in ("garbage", "huge", "evil", "link")), text
    for char in RAW:
        assert char not in text
    meta = run_meta.read_meta(tmp_path / "evil")
    assert meta.tags[0] == "ok" and len(meta.tags) == run_meta.MAX_TAGS
    assert "x\x1b]0;pwned\x07" not in meta.tags
    result, text = invoke("runs", "show", "evil", "--runs-dir", tmp_path, columns=300)
    assert "n\\x1b[2J[/red][link=http://evil.example]x[/link]" in text
    assert "left out" in text
    for name in ("garbage", "huge", "link"):
        result, text = invoke("runs", "show", name, "--runs-dir", tmp_path, columns=300)
        assert result.exit_code == 0 and "meta.json" in text, text
    # Writing keeps what this version does not know.
    with pytest.raises(runs.RunError, match="at most 32 tags"):
        run_meta.add_tags(tmp_path / "evil", ["new"])
    run_meta.remove_tags(tmp_path / "evil", ["t0"])
    run_meta.add_tags(tmp_path / "evil", ["new"])
    assert json.loads((tmp_path / "evil" / "meta.json").read_text())["future"] == {"kept": 1}
    _, text = invoke("runs", "list", "--filter", "tag:new", "--runs-dir", tmp_path)
    assert " evil " in text and " garbage " not in text


def test_settings_of_a_track_run_and_untrusted_configs():
    fit = {
        "optimizer": {"name": "Adam", "config": {"learning_rate": 0.01}},
        "epochs": 3,
        "deep": {"a": {"b": {"c": {"d": 1}}}},
        "many": {f"k{i}": i for i in range(900)},
    }
    info = runs.RunInfo(run_id="t", path=None, status="completed", fit=fit)

    flat = hparams.settings(info)
    assert flat["optimizer.config.learning_rate"] == 0.01 and flat["epochs"] == 3
    assert len(flat) == hparams.MAX_KEYS and not any(k.startswith("deep.a.b.c") for k in flat)
    a = hparams.settings({"x": 1, "y": [1, 2], "z": None, "run_name": "a"})
    b = hparams.settings({"x": 1.0, "y": [1, 3], "run_name": "b"})
    assert hparams.differing([a, b]) == ["y"]  # 1 == 1.0, a missing key is None
    assert hparams.value_text(b["y"]) == "1,3" and hparams.value_text(None, True) == "-"


def test_print_config_prints_the_resolved_config_and_trains_nothing(tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text('epochs = 7\n[optimizer]\nname = "sgd"\n')
    result, text = invoke("train", "--config", config_file, "--lr", "0.05", "--set",
                          "model.activation=gelu", "--runs-dir", tmp_path / "r",
                          "--print-config")  # fmt: skip
    assert result.exit_code == 0, text
    config = TrainConfig.from_toml_string(result.stdout)
    assert (config.epochs, config.optimizer.name, config.optimizer.learning_rate) == (
        7,
        "sgd",
        0.05,
    )
    assert config.model.activation == "gelu" and not (tmp_path / "r").exists()
    write_run(tmp_path / "runs", "old", {"epochs": 3})
    result, text = invoke("train", "--resume", "old", "--epochs", "9", "--runs-dir",
                          tmp_path / "runs", "--print-config")  # fmt: skip
    assert result.exit_code == 0, text
    config = TrainConfig.from_toml_string(result.stdout)
    assert config.epochs == 9 and config.run_name == "old"
    result, text = invoke("train", "--set", "nope=1", "--print-config")
    assert result.exit_code == 2 and "unknown key" in text
