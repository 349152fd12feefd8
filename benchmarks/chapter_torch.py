"""The chapter's complete example (3.6) in PyTorch, timed per epoch, on full MNIST.

This is the chapter's script with two changes that do not touch the training loop: the data
comes from the four IDX files (``--data-dir``) as tensors instead of torchvision (which is not
needed to reproduce ``ToTensor() + Normalize((0.1307,), (0.3081,))``: the same float32 arithmetic
is done here), and each epoch's wall time and the final test accuracy are printed as JSON.

Run it with a Python that has torch (``pip install torch==2.13.0 numpy``)::

    python benchmarks/chapter_torch.py --data-dir ../shared/data/mnist --epochs 3

`benchmarks/chapter.py` runs it side by side with kerasdl's preset.

Two options for `benchmarks/peers.py`, which leave the loop as it is:

- ``--split kerasdl``: train on the preset's 54,000 training images and validate on its 6,000
  held-out ones every epoch (`_peers_common.load_split`, the very same arrays), then evaluate
  the 10,000 test images once at the end (``--limit N``: ``data.limit``, for smoke runs). The
  JSON line then has the fields of `_peers_common.report`.
- ``--compile``: the model under ``torch.compile`` (TorchInductor, C++ kernels on the CPU):
  forward and backward are compiled; the optimizer step stays eager (``--compile-step`` compiles
  ``optimizer.step`` too). The first epoch holds the compilation.
"""

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(data_dir, train):
    prefix = "train" if train else "t10k"
    images = read_idx(Path(data_dir) / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(Path(data_dir) / f"{prefix}-labels-idx1-ubyte.gz")
    # ToTensor(): uint8 / 255 as float32, shape (N, 1, 28, 28); Normalize: (x - mean) / std.
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    x = (x - 0.1307) / 0.3081
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))


# 2. The chapter's model, verbatim.
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.bn1 = nn.BatchNorm1d(256)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)  # Flatten
        x = torch.relu(self.bn1(self.fc1(x)))
        x = self.dropout(x)
        x = torch.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def kerasdl_split(data_dir, limit):
    """The preset's arrays (`_peers_common.load_split`) as train / validation / test sets."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _peers_common import load_split

    d = load_split(data_dir, limit)

    def tensors(x, y):
        return TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))

    return (
        tensors(d.x_train, d.y_train),
        tensors(d.x_val, d.y_val),
        tensors(d.x_test, d.y_test),
    )


def accuracy(model, loader, device):
    """The chapter's ``validate()`` counting: argmax of the logits, batch by batch."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data.to(device))
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.to(device).view_as(pred)).sum().item()
    return correct / len(loader.dataset)


def train_one_epoch(model, loader, optimizer, criterion, device, step):
    model.train()
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, target)
        loss.backward()
        step()
        loss.item()  # the chapter accumulates train_loss += loss.item() every batch
        output.argmax(dim=1, keepdim=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("chapter", "kerasdl"), default="chapter")
    parser.add_argument("--limit", type=int, default=None, help="with --split kerasdl")
    parser.add_argument("--compile", action="store_true", help="the model under torch.compile")
    parser.add_argument("--compile-step", action="store_true", help="and optimizer.step too")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: keep)")
    return parser.parse_args()


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.split == "kerasdl":
        train_set, val_set, test_set = kerasdl_split(args.data_dir, args.limit)
    else:
        train_set, test_set = load(args.data_dir, True), load(args.data_dir, False)
        val_set = test_set  # the chapter validates on the test set
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=1000, shuffle=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = MLP().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=0.001, weight_decay=0.01)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    step = optimizer.step
    if args.compile:
        model = torch.compile(model)
    if args.compile_step:
        step = torch.compile(optimizer.step)

    # 4. and 5. The chapter's loop (train_one_epoch + validate + scheduler.step), timed.
    epoch_seconds, val_accuracy = [], None
    for _epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_one_epoch(model, train_loader, optimizer, criterion, device, step)
        val_accuracy = accuracy(model, val_loader, device)
        scheduler.step()
        epoch_seconds.append(time.perf_counter() - start)

    about = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    impl = "chapter-pytorch" + ("-compile" if args.compile or args.compile_step else "")
    if args.split == "chapter":
        out = {"impl": impl, **about, "epoch_seconds": epoch_seconds}
        out["test_accuracy"] = val_accuracy
    else:
        from _peers_common import report

        test_loader = DataLoader(test_set, batch_size=1000, shuffle=False)
        out = report(
            impl,
            epoch_seconds,
            test_accuracy=accuracy(model, test_loader, device),
            val_accuracy=val_accuracy,
            train_examples=len(train_set),
            compile=args.compile,
            compile_step=args.compile_step,
            **about,
        )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
