"""Optional peers, timed beside fastdnn when installed: PyTorch CPU (eager) and
ONNX Runtime (forward pass of the exported model).

A missing peer yields no implementation; the report lists it as skipped.
Tensors are built once, outside the timed calls, as a PyTorch user would
keep them.
"""

import numpy as np

try:
    import torch
except ImportError:  # the peer is optional
    torch = None

try:
    import onnxruntime
except ImportError:  # the peer is optional
    onnxruntime = None


def available():
    return {"torch": torch is not None, "onnxruntime": onnxruntime is not None}


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


def torch_first_layer(X, W1, dZ1):
    """torch's Z1, dW1 and dA0 (examples as rows, as torch holds them), one dict each."""
    if torch is None:
        return [{}, {}, {}]
    x, w = torch.from_numpy(X.T), torch.from_numpy(W1)  # X.T: C-contiguous, no copy
    dz = torch.from_numpy(np.ascontiguousarray(dZ1.T))
    m = X.shape[1]
    return [
        {"torch": lambda: (x @ w.T).numpy().T},
        {"torch": lambda: ((dz.T @ x) / m).numpy()},
        {"torch": lambda: (dz @ w).numpy().T},
    ]


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


def inference(model, X):
    """ONNX Runtime on fastdnn's ONNX export and a PyTorch nn.Sequential, both in
    their row-per-example layout (``X.T``, a view when ``X`` is Fortran-ordered)."""
    impls = {}
    Xb = np.ascontiguousarray(X.T)
    if onnxruntime is not None:
        session = onnxruntime.InferenceSession(
            model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"]
        )
        impls["onnxruntime"] = lambda: session.run(None, {"X": Xb})[0].T
    if torch is not None:
        params = model.parameters()
        L = len(params) // 2
        layers = []
        for l in range(1, L + 1):
            W = torch.from_numpy(params[f"W{l}"])
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=W.dtype)
            with torch.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(torch.from_numpy(params[f"b{l}"].ravel()))
            layers += [lin, torch.nn.ReLU() if l < L else torch.nn.Sigmoid()]
        net = torch.nn.Sequential(*layers).eval()
        x = torch.from_numpy(Xb)

        def forward():
            with torch.inference_mode():
                return net(x).numpy().T

        impls["torch"] = forward
    return impls
