"""Golden values for kerasdl.losses from PyTorch's own loss modules (chapter 3.1).

Each case holds the inputs (``y_true``, ``y_pred``), the kerasdl class and its arguments, the
PyTorch call that made the reference (``torch``), the mean loss (``expected``) and, where the loss
is smooth at the inputs, its gradient with respect to ``y_pred`` (``grad``, else ``None``).

The reference is always computed in float64. A ``"float32"`` case rounds its inputs to float32
first, so the test compares kerasdl's float32 arithmetic against the exact value for the very same
inputs. kerasdl's class axis is the last one; PyTorch's is axis 1, so inputs are moved there.

Categorical cross-entropy on probabilities is ``CrossEntropyLoss`` on ``max(log p, -100)`` (the
clamp that ``BCELoss`` applies to its logs): ``log_softmax(log p) = log(p / sum(p))``.

Hyperparameters rotate over the shapes instead of crossing them: every loss still meets every
shape, and each (loss, arguments, shape, dtype) holds two data sets, so a test that compiles per
configuration (JAX) compiles about half as often as a full cross product would need.

The cases of ``"group": "options"`` (tests/components/test_losses_torch.py replays them) hold
PyTorch's options: ``reduction`` ('mean', 'sum', 'none'; 'batchmean' for KLDivLoss) in
``kwargs``, class ``weight``, ``ignore_index``, ``pos_weight``, and ``NLLLoss``/``KLDivLoss``.
There ``expected`` is the loss as PyTorch returns it (a nested list for 'none'; NaN where PyTorch
gives NaN: every target ignored) and ``grad`` the gradient of its sum.
"""

import itertools

import torch
from torch import nn

SEED = 20240531


def generate():
    torch.manual_seed(SEED)
    cases = []
    for dtype in ("float64", "float32"):
        cases += _regression(dtype)
        cases += _binary(dtype)
        cases += _categorical(dtype)
        cases += _sparse(dtype)
    cases += _float64_only()
    for case in cases:
        case["group"] = "chapter"
    for dtype in ("float64", "float32"):
        cases += _options(dtype)
    return cases


# --------------------------------------------------------------------------- regression

SHAPES = {"1d": (7,), "2d": (4, 5), "3d": (2, 3, 4)}
REGRESSION = [  # (id, kerasdl class, kwargs, PyTorch module)
    ("mse", "MeanSquaredError", {}, nn.MSELoss()),
    ("mae", "MeanAbsoluteError", {}, nn.L1Loss()),
    *[("huber", "Huber", {"delta": d}, nn.HuberLoss(delta=d)) for d in (0.5, 1.0, 2.0)],
    *[("smoothl1", "SmoothL1", {"beta": b}, nn.SmoothL1Loss(beta=b)) for b in (0.0, 0.5, 1.0, 3.0)],
]


def _regression(dtype):
    cases = []
    # MSE and MAE meet every shape; the deltas and betas take the shapes in turn.
    plan = [(entry, shape_id) for entry in REGRESSION[:2] for shape_id in SHAPES]
    plan += zip(REGRESSION[2:5], SHAPES, strict=True)
    plan += zip(REGRESSION[5:], itertools.cycle(SHAPES), strict=False)
    for (name, loss, kwargs, module), shape_id in plan:
        shape = SHAPES[shape_id]
        y_true = torch.randn(shape, dtype=torch.float64)
        data = {
            "randn": (y_true, y_true + 1.5 * torch.randn(shape, dtype=torch.float64)),
            "large": (1e3 * torch.randn(shape, dtype=torch.float64),
                      1e6 * torch.randn(shape, dtype=torch.float64)),
        }  # fmt: skip
        for data_id, (t, p) in data.items():
            tag = "-".join(f"{k}{v}" for k, v in kwargs.items())
            case_id = f"{name}{tag and '-' + tag}/{dtype}/{shape_id}-{data_id}"
            cases.append(_case(case_id, loss, kwargs, dtype, t, p, module))
    # Errors of exactly 0, and exactly +-delta / +-beta: the kinks. PyTorch takes the linear
    # branch at |x| = delta (strict `<`), as kerasdl does; its gradient at a zero error is 0.
    t = torch.zeros(6, dtype=torch.float64)
    p = torch.tensor([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=torch.float64)
    for name, loss, kwargs, module in (
        ("mae", "MeanAbsoluteError", {}, nn.L1Loss()),
        ("huber-delta0.5", "Huber", {"delta": 0.5}, nn.HuberLoss(delta=0.5)),
        ("smoothl1-beta0.0", "SmoothL1", {"beta": 0.0}, nn.SmoothL1Loss(beta=0.0)),
        ("smoothl1-beta1.0", "SmoothL1", {"beta": 1.0}, nn.SmoothL1Loss(beta=1.0)),
    ):
        cases.append(_case(f"{name}/{dtype}/kinks", loss, kwargs, dtype, t, p, module))
    return cases


# --------------------------------------------------------------------------- binary

BINARY_SHAPES = {"1d": (8,), "2d": (4, 3), "3d": (2, 3, 2)}


def _binary(dtype):
    cases = []
    for shape_id, shape in BINARY_SHAPES.items():
        targets = {
            "hard": torch.randint(0, 2, shape).to(torch.float64),
            "soft": torch.rand(shape, dtype=torch.float64),
        }
        for target_id, t in targets.items():
            tag = f"{dtype}/{shape_id}-{target_id}"
            probs = 0.01 + 0.98 * torch.rand(shape, dtype=torch.float64)
            logits = 3.0 * torch.randn(shape, dtype=torch.float64)
            cases.append(
                _case(f"bce-probs/{tag}", "BinaryCrossentropy", {}, dtype, t, probs, nn.BCELoss())
            )
            cases.append(
                _case(f"bce-logits/{tag}", "BinaryCrossentropy", {"from_logits": True}, dtype, t,
                      logits, nn.BCEWithLogitsLoss())
            )  # fmt: skip
    # Probabilities of exactly 0 and 1 against every kind of target: BCELoss's -100 clamp.
    # PyTorch's BCELoss has its own gradient there (divided by max(p(1 - p), 1e-12)): no grad.
    p = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.5, 1.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.3, 1.0], [1.0, 0.5, 0.0]], dtype=torch.float64)
    cases.append(
        _case(f"bce-probs/{dtype}/zeros-and-ones", "BinaryCrossentropy", {}, dtype, t, p,
              nn.BCELoss(), grad=False)
    )  # fmt: skip
    # Logits of +-1e4: saturated, yet a finite loss and the gradient sigmoid(x) - y.
    x = torch.tensor([[1e4, -1e4, 1e4], [-1e4, 0.0, 1e4]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.5, 0.25]], dtype=torch.float64)
    cases.append(
        _case(f"bce-logits/{dtype}/pm1e4", "BinaryCrossentropy", {"from_logits": True}, dtype, t,
              x, nn.BCEWithLogitsLoss())
    )  # fmt: skip
    return cases


# --------------------------------------------------------------------------- categorical

SMOOTHINGS = (0.0, 0.1, 0.35, 1.0)
CATEGORICAL_SHAPES = {"2d": (5, 4), "3d": (2, 3, 4)}


def _categorical(dtype):
    cases = []
    for from_logits in (True, False):
        kind = "logits" if from_logits else "probs"
        for eps, shape_id in zip(SMOOTHINGS, itertools.cycle(CATEGORICAL_SHAPES), strict=False):
            shape = CATEGORICAL_SHAPES[shape_id]
            labels = torch.randint(0, shape[-1], shape[:-1])
            targets = {
                "onehot": nn.functional.one_hot(labels, shape[-1]).to(torch.float64),
                "soft": torch.softmax(torch.randn(shape, dtype=torch.float64), dim=-1),
            }
            for target_id, t in targets.items():
                if from_logits:
                    p = 2.0 * torch.randn(shape, dtype=torch.float64)
                else:
                    p = torch.softmax(torch.randn(shape, dtype=torch.float64), dim=-1)
                case_id = f"cce-{kind}/{dtype}/{shape_id}-{target_id}-ls{eps}"
                cases.append(_cce(case_id, dtype, t, p, from_logits, eps))
    # Probabilities that do not sum to 1: CrossEntropyLoss(log p) renormalises them.
    unnormalised = 0.05 + torch.rand(4, 3, dtype=torch.float64)
    t = nn.functional.one_hot(torch.tensor([0, 2, 1, 2]), 3).to(torch.float64)
    for eps in (0.0, 0.2):
        cases.append(
            _cce(f"cce-probs/{dtype}/unnormalised-ls{eps}", dtype, t, unnormalised, False, eps)
        )
    # Probabilities of exactly 0 and 1: the clamped log gives a finite loss (PyTorch's
    # CrossEntropyLoss(log p) would give inf or nan, and its gradient is nan there: no grad).
    p = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.3, 0.7], [1.0, 0.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    for eps in (0.0, 0.1):
        cases.append(
            _cce(f"cce-probs/{dtype}/zeros-and-ones-ls{eps}", dtype, t, p, False, eps, grad=False)
        )
    # Logits of +-1e4.
    x = 1e4 * torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, -1.0]])
    x = x.to(torch.float64)
    t = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], dtype=torch.float64)
    for eps in (0.0, 0.1):
        cases.append(_cce(f"cce-logits/{dtype}/pm1e4-ls{eps}", dtype, t, x, True, eps))
    return cases


SPARSE_LAYOUTS = {"n": ((6,), 5, False), "n1": ((6,), 5, True), "3d": ((2, 3), 4, False)}


def _sparse(dtype):
    cases = []
    for from_logits in (True, False):
        kind = "logits" if from_logits else "probs"
        for eps, layout_id in zip(SMOOTHINGS, itertools.cycle(SPARSE_LAYOUTS), strict=False):
            batch, num_classes, column = SPARSE_LAYOUTS[layout_id]
            for draw in ("a", "b"):
                labels = torch.randint(0, num_classes, batch)
                shape = (*batch, num_classes)
                if from_logits:
                    p = 2.0 * torch.randn(shape, dtype=torch.float64)
                else:
                    p = torch.softmax(torch.randn(shape, dtype=torch.float64), dim=-1)
                y_true = labels[..., None] if column else labels
                case_id = f"scce-{kind}/{dtype}/{layout_id}-ls{eps}-{draw}"
                cases.append(_scce(case_id, dtype, y_true, labels, p, from_logits, eps))
    labels = torch.tensor([0, 1, 2])
    x = 1e4 * torch.tensor([[1.0, -1.0, -1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    x = x.to(torch.float64)
    for eps in (0.0, 0.1):
        cases.append(_scce(f"scce-logits/{dtype}/pm1e4-ls{eps}", dtype, labels, labels, x, True,
                           eps))  # fmt: skip
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7], [0.5, 0.5, 0.0]], dtype=torch.float64)
    for eps in (0.0, 0.1):
        cases.append(_scce(f"scce-probs/{dtype}/zeros-and-ones-ls{eps}", dtype, labels, labels,
                           p, False, eps, grad=False))  # fmt: skip
    return cases


def _float64_only():
    """Probabilities below exp(-100), which float32 cannot hold: the log itself is clamped."""
    p = torch.tensor([[1e-50, 1.0 - 1e-15], [1e-300, 0.5]], dtype=torch.float64)
    t = torch.tensor([[1.0, 1.0], [0.6, 0.0]], dtype=torch.float64)
    cases = [
        _case("bce-probs/float64/tiny", "BinaryCrossentropy", {}, "float64", t, p, nn.BCELoss(),
              grad=False)
    ]  # fmt: skip
    p = torch.tensor([[1e-50, 0.5, 0.5], [1e-300, 1e-200, 1.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    cases.append(_cce("cce-probs/float64/tiny", "float64", t, p, False, 0.0, grad=False))
    return cases


# --------------------------------------------------------------------------- plumbing


def _cce(case_id, dtype, y_true, y_pred, from_logits, eps, grad=True):
    kwargs = {"from_logits": from_logits, "label_smoothing": eps}
    module = _ClassAxisLast(nn.CrossEntropyLoss(label_smoothing=eps), from_logits)
    return _case(case_id, "CategoricalCrossentropy", kwargs, dtype, y_true, y_pred, module,
                 grad=grad)  # fmt: skip


def _scce(case_id, dtype, y_true, labels, y_pred, from_logits, eps, grad=True):
    kwargs = {"from_logits": from_logits, "label_smoothing": eps}
    module = _ClassAxisLast(nn.CrossEntropyLoss(label_smoothing=eps), from_logits, sparse=True)
    case = _case(case_id, "SparseCategoricalCrossentropy", kwargs, dtype, labels, y_pred, module,
                 grad=grad)  # fmt: skip
    case["y_true"] = y_true.tolist()
    return case


class _ClassAxisLast:
    """CrossEntropyLoss on kerasdl's layout: the classes move from the last axis to axis 1.

    On probabilities the input is ``max(log p, -100)``.
    """

    def __init__(self, module, from_logits, sparse=False):
        self.module, self.from_logits, self.sparse = module, from_logits, sparse

    def __call__(self, y_pred, y_true):
        z = y_pred if self.from_logits else torch.clamp(torch.log(y_pred), min=-100.0)
        z = torch.movedim(z, -1, 1)
        target = y_true if self.sparse else torch.movedim(y_true, -1, 1)
        return self.module(z, target)

    def __repr__(self):
        inner = "y_pred" if self.from_logits else "clamp(log(y_pred), min=-100)"
        target = "y_true" if self.sparse else "movedim(y_true, -1, 1)"
        return f"{_describe(self.module)}(movedim({inner}, -1, 1), {target})"


def _describe(module):
    """``nn.HuberLoss(delta=0.5)``: the module and the argument that matters."""
    if isinstance(module, _ClassAxisLast):
        return repr(module)
    name = type(module).__name__
    argument = {"HuberLoss": "delta", "SmoothL1Loss": "beta", "CrossEntropyLoss": "label_smoothing"}
    if name in argument:
        return f"nn.{name}({argument[name]}={getattr(module, argument[name])!r})"
    return f"nn.{name}()"


def _case(case_id, loss, kwargs, dtype, y_true, y_pred, module, grad=True):
    if dtype == "float32":  # the inputs kerasdl will see, held exactly in float64
        y_pred = y_pred.to(torch.float32).to(torch.float64)
        if y_true.is_floating_point():
            y_true = y_true.to(torch.float32).to(torch.float64)
    y_pred = y_pred.clone().requires_grad_(True)
    value = module(y_pred, y_true)
    value.backward()
    if not torch.isfinite(value):
        raise AssertionError(f"{case_id}: PyTorch's loss is not finite")
    if grad and not torch.isfinite(y_pred.grad).all():
        raise AssertionError(f"{case_id}: PyTorch's gradient is not finite")
    return {
        "id": case_id,
        "loss": loss,
        "kwargs": kwargs,
        "dtype": dtype,
        "torch": _describe(module),
        "y_true": y_true.tolist(),
        "y_pred": y_pred.detach().tolist(),
        "expected": value.item(),
        "grad": y_pred.grad.tolist() if grad else None,
    }


# --------------------------------------------------------------------------- PyTorch's options

OPTION_REDUCTIONS = ("mean", "sum", "none")
OPTION_SHAPES = {"2d": (4, 3), "3d": (2, 3, 2)}


def _options(dtype):
    cases = _option_regression(dtype) + _option_binary(dtype) + _option_categorical(dtype)
    cases += _option_sparse(dtype) + _option_nll(dtype) + _option_kl(dtype)
    for case in cases:
        case["group"] = "options"
    return cases


def _option_regression(dtype):
    """Several columns: PyTorch's 'sum' and 'none' are over every element."""
    losses = [
        ("mse", "MeanSquaredError", {}, nn.MSELoss),
        ("mae", "MeanAbsoluteError", {}, nn.L1Loss),
        ("huber", "Huber", {"delta": 0.7}, lambda **k: nn.HuberLoss(delta=0.7, **k)),
        ("smoothl1", "SmoothL1", {"beta": 0.5}, lambda **k: nn.SmoothL1Loss(beta=0.5, **k)),
    ]
    cases = []
    for name, loss, kwargs, make in losses:
        for reduction in OPTION_REDUCTIONS:
            for shape_id, shape in OPTION_SHAPES.items():
                t = torch.randn(shape, dtype=torch.float64)
                p = t + torch.randn(shape, dtype=torch.float64)
                case_id = f"opt-{name}-{reduction}/{dtype}/{shape_id}"
                cases.append(_opt(case_id, loss, {**kwargs, "reduction": reduction}, dtype, t, p,
                                  make(reduction=reduction)))  # fmt: skip
    return cases


def _option_binary(dtype):
    cases = []
    shape = (5, 3)
    column = [0.5, 2.0, 1.5]
    full = (0.2 + torch.rand(shape, dtype=torch.float64)).tolist()
    probs_plan = [("none", None), ("column", column), ("full", full)]
    logits_plan = [
        ("none", None, None),
        ("pos", None, [3.0, 0.5, 1.0]),
        ("weight", column, None),
        ("both", full, [0.25, 4.0, 2.0]),
    ]
    for reduction in OPTION_REDUCTIONS:
        t = torch.randint(0, 2, shape).to(torch.float64)
        t[0] = torch.rand(3, dtype=torch.float64)  # a soft row
        probs = 0.01 + 0.98 * torch.rand(shape, dtype=torch.float64)
        for wid, weight in probs_plan:
            kwargs = {"weight": weight, "reduction": reduction}
            module = nn.BCELoss(weight=_tensor(weight), reduction=reduction)
            cases.append(_opt(f"opt-bce-probs-w{wid}-{reduction}/{dtype}", "BinaryCrossentropy",
                              kwargs, dtype, t, probs, module))  # fmt: skip
        logits = 3.0 * torch.randn(shape, dtype=torch.float64)
        logits[1] = torch.tensor([1e4, -1e4, 30.0])  # saturated: PyTorch's stable form
        for wid, weight, pos in logits_plan:
            kwargs = {"from_logits": True, "weight": weight, "pos_weight": pos,
                      "reduction": reduction}  # fmt: skip
            module = nn.BCEWithLogitsLoss(weight=_tensor(weight), pos_weight=_tensor(pos),
                                          reduction=reduction)  # fmt: skip
            cases.append(_opt(f"opt-bce-logits-w{wid}-{reduction}/{dtype}", "BinaryCrossentropy",
                              kwargs, dtype, t, logits, module))  # fmt: skip
    return cases


CLASS_WEIGHT = [0.3, 2.0, 1.0, 0.7]


def _option_categorical(dtype):
    """Probability targets: PyTorch's 'mean' divides by N even with weights."""
    cases = []
    for from_logits in (True, False):
        kind = "logits" if from_logits else "probs"
        for reduction, eps, shape_id in (("mean", 0.0, "2d"), ("sum", 0.2, "3d"),
                                         ("none", 0.1, "2d"), ("mean", 0.3, "3d")):  # fmt: skip
            shape = (5, 4) if shape_id == "2d" else (2, 3, 4)
            t = torch.softmax(torch.randn(shape, dtype=torch.float64), dim=-1)
            if from_logits:
                p = 2.0 * torch.randn(shape, dtype=torch.float64)
            else:
                p = torch.softmax(torch.randn(shape, dtype=torch.float64), dim=-1)
            module = nn.CrossEntropyLoss(weight=_tensor(CLASS_WEIGHT), label_smoothing=eps,
                                         reduction=reduction)  # fmt: skip
            kwargs = {"from_logits": from_logits, "label_smoothing": eps, "weight": CLASS_WEIGHT,
                      "reduction": reduction}  # fmt: skip
            case_id = f"opt-cce-{kind}-{reduction}-ls{eps}/{dtype}/{shape_id}"
            cases.append(_opt(case_id, "CategoricalCrossentropy", kwargs, dtype, t, p,
                              _ClassAxisLast(module, from_logits)))  # fmt: skip
    return cases


def _option_sparse(dtype):
    """Weights, ignore_index (-100, and a class in range), smoothing, every reduction."""
    plan = [  # (weight, ignore_index, label_smoothing, reduction, layout)
        (CLASS_WEIGHT, None, 0.0, "mean", "2d"),
        (CLASS_WEIGHT, -100, 0.0, "mean", "3d"),
        (None, -100, 0.0, "mean", "2d"),
        (None, 2, 0.1, "mean", "3d"),
        (CLASS_WEIGHT, -100, 0.1, "mean", "2d"),
        (CLASS_WEIGHT, 1, 0.35, "mean", "3d"),
        (CLASS_WEIGHT, -100, 0.2, "sum", "2d"),
        (CLASS_WEIGHT, 3, 0.0, "sum", "3d"),
        (CLASS_WEIGHT, -100, 0.2, "none", "3d"),
        (None, -100, 0.0, "none", "2d"),
    ]
    cases = []
    for from_logits in (True, False):
        kind = "logits" if from_logits else "probs"
        for weight, ignore, eps, reduction, layout in plan:
            batch = (6,) if layout == "2d" else (2, 3)
            labels = torch.randint(0, 4, batch)
            labels.view(-1)[1] = 0 if ignore is None else ignore
            labels.view(-1)[4] = 3 if ignore is None else ignore
            if from_logits:
                p = 2.0 * torch.randn((*batch, 4), dtype=torch.float64)
            else:
                p = torch.softmax(torch.randn((*batch, 4), dtype=torch.float64), dim=-1)
            case_id = f"opt-scce-{kind}-w{weight is not None}-ig{ignore}-ls{eps}-{reduction}"
            cases.append(_opt_sparse(f"{case_id}/{dtype}/{layout}", dtype, labels, p, from_logits,
                                     weight, ignore, eps, reduction))  # fmt: skip
        # Every target ignored: PyTorch's 'mean' is 0 / 0 = NaN (with or without weights).
        labels = torch.full((3,), -100)
        p = 2.0 * torch.randn((3, 4), dtype=torch.float64)
        for weight in (None, CLASS_WEIGHT):
            case_id = f"opt-scce-{kind}-w{weight is not None}-all-ignored/{dtype}"
            p_in = p if from_logits else torch.softmax(p, dim=-1)
            cases.append(_opt_sparse(case_id, dtype, labels, p_in, from_logits, weight, -100, 0.0,
                                     "mean", finite=False))  # fmt: skip
    return cases


def _option_nll(dtype):
    cases = []
    for weight, ignore, reduction, layout in (
        (None, -100, "mean", "2d"),
        (CLASS_WEIGHT, -100, "mean", "3d"),
        (CLASS_WEIGHT, 0, "sum", "2d"),
        (None, None, "sum", "3d"),
        (CLASS_WEIGHT, -100, "none", "2d"),
    ):
        batch = (6,) if layout == "2d" else (2, 3)
        labels = torch.randint(0, 4, batch)
        if ignore is not None:
            labels.view(-1)[2] = ignore
        p = torch.log_softmax(2.0 * torch.randn((*batch, 4), dtype=torch.float64), dim=-1)
        kwargs = {"weight": weight, "reduction": reduction}
        torch_kwargs = {"weight": _tensor(weight), "reduction": reduction}
        if ignore != -100:
            kwargs["ignore_index"] = ignore
            torch_kwargs["ignore_index"] = -1000 if ignore is None else ignore
        module = _ClassAxisLast(nn.NLLLoss(**torch_kwargs), True, sparse=True)
        case_id = f"opt-nll-w{weight is not None}-ig{ignore}-{reduction}/{dtype}/{layout}"
        cases.append(_opt(case_id, "NLLLoss", kwargs, dtype, labels, p, module))
    return cases


def _option_kl(dtype):
    cases = []
    for log_target in (False, True):
        for reduction in ("mean", "batchmean", "sum", "none"):
            for shape_id, shape in OPTION_SHAPES.items():
                t = torch.softmax(2.0 * torch.randn(shape, dtype=torch.float64), dim=-1)
                if not log_target:
                    t.view(-1)[1] = 0.0  # 0 * log 0 = 0, as PyTorch's xlogy
                else:
                    t = torch.log(t)
                p = torch.log_softmax(torch.randn(shape, dtype=torch.float64), dim=-1)
                module = nn.KLDivLoss(reduction=reduction, log_target=log_target)
                kwargs = {"log_target": log_target, "reduction": reduction}
                case_id = f"opt-kl-log{log_target}-{reduction}/{dtype}/{shape_id}"
                cases.append(_opt(case_id, "KLDivLoss", kwargs, dtype, t, p, module))
    return cases


def _tensor(values):
    return None if values is None else torch.tensor(values, dtype=torch.float64)


def _opt_sparse(case_id, dtype, labels, y_pred, from_logits, weight, ignore, eps, reduction,
                finite=True):  # fmt: skip
    kwargs = {"from_logits": from_logits, "label_smoothing": eps, "weight": weight,
              "ignore_index": ignore, "reduction": reduction}  # fmt: skip
    torch_ignore = -1000 if ignore is None else ignore  # nothing is ignored
    module = nn.CrossEntropyLoss(weight=_tensor(weight), ignore_index=torch_ignore,
                                 label_smoothing=eps, reduction=reduction)  # fmt: skip
    module = _ClassAxisLast(module, from_logits, sparse=True)
    return _opt(case_id, "SparseCategoricalCrossentropy", kwargs, dtype, labels, y_pred, module,
                finite=finite)  # fmt: skip


def _opt(case_id, loss, kwargs, dtype, y_true, y_pred, module, finite=True):
    """A case whose ``expected`` is PyTorch's output, whatever its shape; ``grad`` of its sum."""
    if dtype == "float32":
        y_pred = y_pred.to(torch.float32).to(torch.float64)
        if y_true.is_floating_point():
            y_true = y_true.to(torch.float32).to(torch.float64)
    y_pred = y_pred.clone().requires_grad_(True)
    value = module(y_pred, y_true)
    grad = None
    if finite:
        value.sum().backward()
        if not (torch.isfinite(value).all() and torch.isfinite(y_pred.grad).all()):
            raise AssertionError(f"{case_id}: PyTorch's loss or gradient is not finite")
        grad = y_pred.grad.tolist()
    elif not torch.isnan(value).all():
        raise AssertionError(f"{case_id}: PyTorch's loss was expected to be NaN")
    return {
        "id": case_id,
        "loss": loss,
        "kwargs": kwargs,
        "dtype": dtype,
        "torch": _describe_options(module),
        "y_true": y_true.tolist(),
        "y_pred": y_pred.detach().tolist(),
        "expected": value.tolist(),
        "grad": grad,
    }


_OPTION_ATTRIBUTES = ("delta", "beta", "label_smoothing", "ignore_index", "log_target",
                      "reduction", "weight", "pos_weight")  # fmt: skip


def _describe_options(module):
    """``nn.CrossEntropyLoss(weight=[...], reduction='sum')``: the arguments that were given."""
    inner = module.module if isinstance(module, _ClassAxisLast) else module
    arguments = []
    for name in _OPTION_ATTRIBUTES:
        value = getattr(inner, name, None)
        if value is None or (name == "ignore_index" and value == -100):
            continue
        value = value.tolist() if isinstance(value, torch.Tensor) else value
        arguments.append(f"{name}={value!r}")
    call = f"nn.{type(inner).__name__}({', '.join(arguments)})"
    if isinstance(module, _ClassAxisLast):
        inner_input = "y_pred" if module.from_logits else "clamp(log(y_pred), min=-100)"
        target = "y_true" if module.sparse else "movedim(y_true, -1, 1)"
        return f"{call}(movedim({inner_input}, -1, 1), {target})"
    return call
