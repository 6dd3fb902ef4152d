"""Optional peers, timed beside fastdnn when installed: PyTorch CPU (eager).

A missing peer yields no implementation; the report lists it as skipped.
Tensors are built once, outside the timed calls, as a PyTorch user would
keep them.
"""

import numpy as np

try:
    import torch
except ImportError:  # the peer is optional
    torch = None


def available():
    return {"torch": torch is not None}


def torch_elementwise(name, Z):
    if torch is None:
        return {}
    t = torch.from_numpy(Z)
    f = torch.sigmoid if name == "sigmoid" else torch.relu
    return {"torch": lambda: f(t).numpy()}


def torch_linear(A, W, b):
    if torch is None:
        return {}
    # nn.Linear's layout: samples are rows, so X = A.T and y = X @ W.T + b.
    x = torch.from_numpy(np.ascontiguousarray(A.T))
    w, bias = torch.from_numpy(W), torch.from_numpy(b.ravel())
    return {"torch": lambda: torch.nn.functional.linear(x, w, bias).numpy().T}


def torch_training(X, Y, params, learning_rate, steps):
    """nn.Linear layers + ReLU + sigmoid output, BCELoss, SGD: the course's network in PyTorch."""
    if torch is None:
        return {}
    L = len(params) // 2
    layers = []
    for l in range(1, L + 1):
        W = params[f"W{l}"]
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(params[f"b{l}"].ravel()))
        layers += [lin, torch.nn.ReLU() if l < L else torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCELoss()
    x = torch.from_numpy(np.ascontiguousarray(X.T))
    y = torch.from_numpy(np.ascontiguousarray(Y.T))

    def run():
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        return None

    return {"torch": run}
