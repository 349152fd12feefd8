"""``kerasdl experiment init``: the direction of chapter 3.3's claims on small seeded networks,
the per-layer measurements against a NumPy forward and backward pass, and the command line.
"""

import dataclasses
import io
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from kerasdl.cli import app
from kerasdl.cli import experiment_init as cli
from kerasdl.experiments import init as experiment

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "textual", "jax", "torch")


def _no_traceback(result):
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return text


# ----------------------------------------------------------------------------- names


def test_cli_defaults_match_the_experiment():
    assert ",".join(experiment.DEFAULT_INITS) == cli.DEFAULT_INITS
    assert cli.ACTIVATIONS == experiment.ACTIVATIONS
    assert cli.THRESHOLD == experiment.THRESHOLD


def test_parse_inits_accepts_config_names_and_normal_std():
    assert experiment.parse_inits(" he_normal, normal:0.01 ,zeros") == [
        "he_normal",
        "normal:0.01",
        "zeros",
    ]


@pytest.mark.parametrize("text", ["", "he_normal,bogus", "normal:0", "normal:x", "zeros,zeros"])
def test_parse_inits_refuses_bad_lists(text):
    with pytest.raises(ValueError, match="got"):
        experiment.parse_inits(text)


# ----------------------------------------------------------------------------- NumPy reference


def _numpy_pass(kernels, x, y, activation):
    """Forward and backward of the MLP in float64 NumPy, written from the formulas."""
    acts = {
        "tanh": (np.tanh, lambda z, h: 1.0 - h**2),
        "relu": (lambda z: np.maximum(z, 0.0), lambda z, h: (z > 0).astype(float)),
    }
    f, df = acts[activation]
    hs, zs = [x], []
    for i, w in enumerate(kernels):
        z = hs[-1] @ w
        zs.append(z)
        hs.append(f(z) if i < len(kernels) - 1 else z)
    logits = hs[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    onehot = np.eye(logits.shape[1])[y]
    loss = -np.mean(np.sum(onehot * np.log(p), axis=1))
    dh = (p - onehot) / len(y)  # dL/dlogits
    kernel_norms, back_norms = [], []
    for i in reversed(range(len(kernels))):
        back_norms.append(np.linalg.norm(dh))
        dz = dh if i == len(kernels) - 1 else dh * df(zs[i], hs[i + 1])
        kernel_norms.append(np.linalg.norm(hs[i].T @ dz))
        dh = dz @ kernels[i].T
    return {
        "loss": loss,
        "activation_std": [np.std(h) for h in hs[1:]],
        "kernel_grad_norm": kernel_norms[::-1],
        "backprop_grad_norm": back_norms[::-1],
    }


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_probe_matches_a_numpy_forward_and_backward_pass(activation):
    rng = np.random.default_rng(7)
    sizes = [6, 8, 8, 8, 4]
    kernels = [rng.normal(0, 0.6, (sizes[i], sizes[i + 1])).astype(np.float32) for i in range(4)]
    biases = [np.zeros(n, np.float32) for n in sizes[1:]]
    x = rng.normal(0, 1, (16, 6)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    got = experiment.probe(kernels, biases, x, y, activation)
    want = _numpy_pass([k.astype(np.float64) for k in kernels], x.astype(np.float64), y, activation)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    for key in ("activation_std", "kernel_grad_norm", "backprop_grad_norm"):
        assert len(got[key]) == 4
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, err_msg=key)


# ----------------------------------------------------------------------------- the chapter's claims


def test_deep_tanh_with_a_tiny_normal_vanishes():
    result = experiment.run(
        inits=["normal:0.01"], depth=10, width=64, activation="tanh", batch_size=64
    )
    (r,) = result.results
    assert r.verdict == "vanishing"
    assert r.activation_ratio < 1e-6  # the std collapses layer after layer
    assert r.backprop_ratio < 1e-6  # so does the gradient flowing back to layer 1
    # The kernel gradient h_{l-1}^T dL/dz_l does not show it: both factors shrink in opposite
    # directions, so every layer's is about as (tiny) as the output layer's.
    assert 0.1 < r.grad_ratio < 10
    assert max(layer.kernel_grad_norm for layer in r.layers) < 1e-4
    assert "act-vanish" in r.layers[-2].flags and "grad-vanish" in r.layers[0].flags


def test_he_normal_keeps_relu_activations_within_a_few_times_over_ten_layers():
    result = experiment.run(inits=["he_normal", "normal:1.0"], depth=10, activation="relu")
    he, big = result.results
    stds = [layer.activation_std for layer in he.layers[:10]]
    assert max(stds) / min(stds) < 4
    assert he.verdict == "ok" and not any(layer.flags for layer in he.layers)
    assert big.verdict == "exploding" and big.activation_ratio > 1e6


def test_deep_sigmoid_gradients_vanish_even_with_xavier():
    (r,) = experiment.run(inits=["xavier_normal"], depth=10, width=64, activation="sigmoid",
                          batch_size=64).results  # fmt: skip
    assert r.grad_ratio < 1e-3 and r.backprop_ratio < 1e-3
    assert r.verdict == "vanishing"


def test_zeros_leave_every_hidden_unit_identical_after_sgd_steps():
    result = experiment.run(
        inits=["zeros"], depth=4, width=32, activation="sigmoid", batch_size=64, steps=5
    )
    (r,) = result.results
    assert r.verdict == "symmetric"
    symmetry = r.symmetry
    assert symmetry["steps"] == 5 and symmetry["identical"] is True
    assert symmetry["rtol"] == experiment.SYMMETRY_RTOL == 1e-4
    assert [row["layer"] for row in symmetry["layers"]] == [1, 2, 3, 4]
    # Identical up to round-off, not bitwise: AVX2's kernels reduce a block of columns in
    # another order than the columns left over (1e-7 of the largest |W| there, 0 on AVX-512).
    w_scale = max(row["kernel_max_abs"] for row in symmetry["layers"])
    h_scale = max(row["activation_max_abs"] for row in symmetry["layers"])
    for row in symmetry["layers"]:
        assert row["identical"] is True
        assert row["kernel_max_diff"] <= 1e-4 * w_scale
        assert row["activation_max_diff"] <= 1e-4 * h_scale
    # Not a vacuous check: the training changed the weights (the output layer moved, then the
    # last hidden one), and the loss went down, yet its units are still copies of each other.
    assert symmetry["layers"][-1]["kernel_max_abs"] > 0
    assert symmetry["losses"][-1] < symmetry["losses"][0]


def test_columns_identical_is_relative_to_the_networks_largest_value():
    rng = np.random.default_rng(0)
    copies = np.repeat(rng.normal(0, 1e-5, (50, 1)), 8, axis=1)
    tiny = copies * 1e-30  # a layer near float32's subnormal range, far below the network's scale
    scale = np.max(np.abs(copies))
    assert experiment.columns_identical([copies, tiny, np.zeros((3, 4))]) == [True] * 3
    roundoff = copies.copy()
    roundoff[:, 5] += 1e-6 * scale  # above any round-off measured (1.5e-6 at most)
    noisy_tiny = tiny.copy()
    noisy_tiny[:, 2] *= 2  # its own scale's noise, but nothing on the network's
    assert experiment.columns_identical([roundoff, noisy_tiny]) == [True, True]
    broken = copies.copy()
    broken[:, 5] += 1e-3 * scale
    assert experiment.columns_identical([broken, tiny]) == [False, True]
    assert experiment.columns_identical([broken], rtol=1e-2) == [True]
    assert experiment.columns_identical([noisy_tiny]) == [False]  # alone, it is its own scale


def test_a_tiny_random_init_breaks_the_symmetry_and_is_called_broken():
    rng = np.random.default_rng(3)
    sizes = [784, 32, 32, 10]
    kernels = [rng.normal(0, 1e-4, pair).astype(np.float32) for pair in itertools.pairwise(sizes)]
    biases = [np.zeros(n, np.float32) for n in sizes[1:]]
    x = rng.random((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    symmetry = experiment._symmetry(kernels, biases, x, y, "sigmoid", 5, 0.1)
    assert symmetry["identical"] is False and symmetry["exact"] is False
    for row in symmetry["layers"]:
        assert row["identical"] is False
        assert row["kernel_max_diff"] > 0.1 * row["kernel_max_abs"]  # far above the tolerance
    stats = experiment.probe(kernels, biases, x, y, "sigmoid")
    # Even a start that was called symmetric is not, once the SGD check says the units differ;
    # the verdict and the sentence under the check come from the same flag.
    r = experiment.summarize("tiny", stats, 2, 1e3, symmetric=True, symmetry=symmetry)
    assert r.verdict != "symmetric"
    text = _render_text({"settings": _SETTINGS, "results": [dataclasses.asdict(r)]})
    assert "the symmetry broke" in text and "never break the symmetry" not in text


_SETTINGS = {"data": "mnist-mini", "data_source": "test", "seed": 0, "backend": "test",
             "depth": 2, "width": 32, "activation": "sigmoid", "batch_size": 64,
             "threshold": 1e3}  # fmt: skip


def _render_text(result):
    buffer = io.StringIO()
    cli.render(result, Console(file=buffer, width=100, color_system=None))
    return buffer.getvalue()


def test_a_symmetric_verdict_is_followed_by_the_identical_sentence():
    result = experiment.run(inits=["zeros"], depth=3, width=16, activation="tanh", batch_size=32)
    data = result.to_dict()
    (zeros,) = data["results"]
    assert zeros["verdict"] == "symmetric" and zeros["symmetry"]["identical"]
    text = _render_text(data)
    assert "still identical" in text and "broke" not in text


def test_same_seed_same_numbers():
    kwargs = dict(inits=["xavier_uniform"], depth=3, width=16, batch_size=32, seed=3)
    first = experiment.run(**kwargs).to_dict()
    assert experiment.run(**kwargs).to_dict() == first
    other = experiment.run(**{**kwargs, "seed": 4}).to_dict()
    assert other["results"] != first["results"]


# ----------------------------------------------------------------------------- the command


SMALL = ["--depth", "3", "--width", "16", "--batch-size", "32"]


def test_json_prints_only_the_result():
    result = runner.invoke(
        app, ["experiment", "init", *SMALL, "--inits", "he_normal,zeros", "--json"]
    )
    _no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"settings", "results", "notice"}
    assert data["settings"]["depth"] == 3 and data["settings"]["threshold"] == 1000.0
    he, zeros = data["results"]
    assert he["name"] == "he_normal" and zeros["name"] == "zeros"
    expected = {
        "name", "loss", "layers", "first_activation_std", "last_activation_std",
        "activation_ratio", "grad_ratio", "backprop_ratio", "verdict", "symmetry",
    }  # fmt: skip
    assert set(he) == expected
    assert len(he["layers"]) == 4  # 3 hidden + the output
    assert set(he["layers"][0]) == {
        "layer", "units", "activation_std", "kernel_grad_norm", "backprop_grad_norm", "flags",
    }  # fmt: skip
    assert he["symmetry"] is None and zeros["symmetry"]["identical"] is True
    assert "forward and backward" in result.stderr  # progress goes to stderr


def test_render_shows_the_table_the_symmetry_check_and_the_plots():
    result = experiment.run(inits=["he_normal", "normal:0.01", "zeros"], depth=3, width=16,
                            activation="tanh", batch_size=32)  # fmt: skip
    buffer = io.StringIO()
    cli.render(result.to_dict(), Console(file=buffer, width=100, color_system=None))
    text = buffer.getvalue()
    for needle in ("initializer", "verdict", "he_normal", "symmetric", "0 (exact)",
                   "activation std per layer", "kernel gradient norm", "backprop gradient norm",
                   "below 1/1000"):  # fmt: skip
        assert needle in text, needle


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--inits", "he_normal,glorot"], "torch_default, xavier_uniform"),
        (["--inits", "normal:-1"], "STD must be a number > 0"),
        (["--activation", "gelu"], "--activation: got 'gelu'"),
        (["--depth", "0"], "--depth: got 0"),
        (["--depth", "51"], "allowed: an integer from 1 to 50"),
        (["--width", "100000"], "--width: got 100000"),
        (["--steps", "10001"], "--steps: got 10001"),
        (["--data", "cifar"], "--data: got 'cifar'"),
        (["--batch-size", "100000"], "at most the 5400 training examples"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, needle):
    result = runner.invoke(app, ["experiment", "init", *args])
    text = _no_traceback(result)
    assert result.exit_code == 2, text
    assert needle in result.stderr and "error:" in result.stderr
    assert result.stdout == ""


def test_help_imports_no_framework():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kerasdl", "experiment", "init", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--inits" in result.stdout
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "kerasdl" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
