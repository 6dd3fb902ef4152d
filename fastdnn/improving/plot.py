"""The Course 2 helpers' plots, drawn with matplotlib as the course draws them.

matplotlib is an optional extra (``pip install 'fastdnn[plot]'``): the decision boundary
needs it and says so; the loaders' scatter and the models' cost curves are drawn where it
is installed and skipped where it is not (training and data do not depend on a plot).
"""

import importlib.util

import numpy as np


def pyplot(where):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(f"{where} needs matplotlib: pip install 'fastdnn[plot]'") from None
    return plt


def can_plot():
    """Whether matplotlib is installed (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def scatter(X, y):
    """The loaders' scatter of the training set (rows of ``X`` are examples here)."""
    if can_plot():
        plt = pyplot("scatter")
        plt.scatter(X[:, 0], X[:, 1], c=y, s=40, cmap=plt.cm.Spectral)


def cost_curve(costs, xlabel, title):
    """The models' closing plot of the recorded costs."""
    if can_plot():
        plt = pyplot("model")
        plt.plot(costs)
        plt.ylabel("cost")
        plt.xlabel(xlabel)
        plt.title(title)
        plt.show()


def plot_decision_boundary(model, X, y):
    """The helpers' ``plot_decision_boundary``: ``model`` (a function of an (n, 2) array of
    points, as ``lambda x: predict_dec(parameters, x.T)``) evaluated on a mesh of step 0.01
    over the data's range +-1, drawn with ``contourf``, and the data scattered on top."""
    plt = pyplot("plot_decision_boundary")
    X = np.asarray(X)
    x_min, x_max = X[0, :].min() - 1, X[0, :].max() + 1
    y_min, y_max = X[1, :].min() - 1, X[1, :].max() + 1
    h = 0.01
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    Z = model(np.c_[xx.ravel(), yy.ravel()])
    Z = np.asarray(Z).reshape(xx.shape)
    plt.contourf(xx, yy, Z, cmap=plt.cm.Spectral)
    plt.ylabel("x2")
    plt.xlabel("x1")
    plt.scatter(X[0, :], X[1, :], c=np.ravel(y), cmap=plt.cm.Spectral)
    plt.show()
