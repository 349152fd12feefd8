"""The chapter's complete example (3.6) in PyTorch, timed per epoch, on full MNIST.

This is the chapter's script with two changes that do not touch the training loop: the data
comes from the four IDX files (``--data-dir``) as tensors instead of torchvision (which is not
needed to reproduce ``ToTensor() + Normalize((0.1307,), (0.3081,))``: the same float32 arithmetic
is done here), and each epoch's wall time and the final test accuracy are printed as JSON.

Run it with a Python that has torch (``pip install torch==2.13.0 numpy``)::

    python benchmarks/chapter_torch.py --data-dir ../shared/data/mnist --epochs 3

`benchmarks/chapter.py` runs it side by side with kerasdl's preset.
"""

import argparse
import gzip
import json
import struct
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    train_loader = DataLoader(load(args.data_dir, True), batch_size=64, shuffle=True)
    test_loader = DataLoader(load(args.data_dir, False), batch_size=1000, shuffle=False)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = MLP().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.AdamW(model.parameters(), lr=0.001, weight_decay=0.01)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)

    # 4. and 5. The chapter's loop (train_one_epoch + validate + scheduler.step), timed.
    epoch_seconds, test_accuracy = [], None
    for _epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        for data, target in train_loader:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            loss.item()  # the chapter accumulates train_loss += loss.item() every batch
            output.argmax(dim=1, keepdim=True)
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data.to(device))
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.to(device).view_as(pred)).sum().item()
        test_accuracy = correct / len(test_loader.dataset)
        scheduler.step()
        epoch_seconds.append(time.perf_counter() - start)

    print(
        json.dumps(
            {
                "impl": "chapter-pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "epoch_seconds": epoch_seconds,
                "test_accuracy": test_accuracy,
            }
        )
    )


if __name__ == "__main__":
    main()
