"""The torch side of `port_mnist_example.py`: pytorch/examples' `mnist/main.py` recipe.

The network, optimizer, scheduler and loss are those of
https://github.com/pytorch/examples/blob/main/mnist/main.py (`Net`, `Adadelta(lr=1.0)`,
`StepLR(step_size=1, gamma=0.7)`, `log_softmax` + `nll_loss`, batch 64). Two changes that do
not touch the arithmetic: the data comes as arrays (the same `ToTensor() + Normalize((0.1307,),
(0.3081,))` in float32) in an order the caller gives, so that the Keras side sees the very same
batches; and the dropout rates are arguments (0 turns them off, which makes the two curves
comparable step for step).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """pytorch/examples' `mnist/main.py` `Net`, with its two dropout rates as arguments."""

    def __init__(self, dropout1=0.25, dropout2=0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(dropout1)
        self.dropout2 = nn.Dropout(dropout2)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def recipe(dropout=False, seed=1):
    """`(model, optimizer, scheduler)` as main.py builds them (`torch.manual_seed(1)`)."""
    torch.manual_seed(seed)
    model = Net(0.25, 0.5) if dropout else Net(0.0, 0.0)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return model, optimizer, scheduler


def train_epoch(model, optimizer, x, y, order, batch_size=64):
    """One epoch of main.py's `train` over `x[order]`: the sample-weighted mean loss."""
    model.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        index = torch.from_numpy(order[start : start + batch_size])
        data, target = x[index], y[index]
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(index)
    return total / len(order)


def as_tensors(images, labels):
    """main.py's transform on uint8 images `(N, 28, 28)`: float32 `(N, 1, 28, 28)`."""
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return (x - 0.1307) / 0.3081, torch.from_numpy(labels.astype(np.int64))
