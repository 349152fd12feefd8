"""Golden values for kerasdl.models, from the chapter's own PyTorch network (3.6).

Run with ``python tests/reference/make_golden.py models`` (needs torch). Two kinds of case,
told apart by ``"kind"``:

- ``structure``: the chapter's ``MLP`` exactly as 3.6 writes it: its parameters and buffers
  (names, shapes in PyTorch's layout), their counts, and ``nn.BatchNorm1d``'s defaults
  (``momentum``, ``eps``) read from the module;
- ``forward``: a small network of the same shape (Linear-BN-ReLU-Dropout-Linear-ReLU-Linear)
  in float64: its weights, an input batch, the eval-mode logits, and one train-mode forward
  (dropout off) with the logits and the running statistics PyTorch updated.
"""

import torch
from torch import nn


class ChapterMLP(nn.Module):
    """The chapter's 3.6 ``MLP``, verbatim but for the sizes being arguments."""

    def __init__(self, n_in=784, h1=256, h2=128, n_out=10, p=0.5):
        super().__init__()
        self.fc1 = nn.Linear(n_in, h1)
        self.bn1 = nn.BatchNorm1d(h1)
        self.dropout = nn.Dropout(p)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, n_out)

    def forward(self, x):
        x = x.view(x.size(0), -1)  # Flatten
        x = torch.relu(self.bn1(self.fc1(x)))
        x = self.dropout(x)
        x = torch.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def _structure():
    torch.manual_seed(0)
    model = ChapterMLP()
    return {
        "id": "structure-chapter-mlp",
        "kind": "structure",
        "parameters": [[name, list(p.shape)] for name, p in model.named_parameters()],
        "buffers": [[name, list(b.shape)] for name, b in model.named_buffers()],
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "n_running_stats": sum(b.numel() for name, b in model.named_buffers() if "running" in name),
        "bn_momentum": model.bn1.momentum,
        "bn_eps": model.bn1.eps,
    }


def _forward(seed, n_in, h1, h2, n_out, batch):
    torch.manual_seed(seed)
    model = ChapterMLP(n_in, h1, h2, n_out).double()
    with torch.no_grad():  # non-trivial running statistics for the eval-mode forward
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(batch, n_in, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        logits_eval = model(x)
    model.train()
    model.dropout.p = 0.0  # masks differ between frameworks; BN's batch statistics do not
    with torch.no_grad():
        logits_train = model(x)
        batch_mean = model.fc1(x).mean(0)
        batch_var_biased = model.fc1(x).var(0, unbiased=False)
    return {
        "id": f"forward-{n_in}-{h1}-{h2}-{n_out}-b{batch}-s{seed}",
        "kind": "forward",
        "sizes": [n_in, h1, h2, n_out],
        "weights": {
            name: value.tolist()
            for name, value in state.items()
            if name != "bn1.num_batches_tracked"
        },
        "x": x.tolist(),
        "logits_eval": logits_eval.tolist(),
        "logits_train": logits_train.tolist(),
        "batch_mean": batch_mean.tolist(),
        "batch_var_biased": batch_var_biased.tolist(),
        "running_mean_after": model.bn1.running_mean.tolist(),
        "running_var_after": model.bn1.running_var.tolist(),
    }


def generate():
    return [
        _structure(),
        _forward(1, 12, 8, 6, 3, 16),
        _forward(2, 20, 16, 8, 10, 64),
    ]
