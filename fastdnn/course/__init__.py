"""The course's step-by-step API ("Building your Deep Neural Network: Step by Step").

One module per part of the assignment, with the course's names and return structures:
``dnn_utils`` (sigmoid, relu and their backward functions), ``init``, ``forward``, ``cost``,
``backward``, ``update``. Each function validates, converts once and calls its kernel in
``fastdnn.kernels``; ``products`` runs a skinny layer's three products on fastdnn's own
kernels. ``reference`` is the course's plain NumPy code, the baseline of tests and benchmarks.
``from fastdnn import ...`` re-exports the public functions.
"""
