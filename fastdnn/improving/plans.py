"""The Course 2 kernels with their argument types, for ``_internal.precompile``.

Every kernel the four modules reach, float64 only (the course's numbers): the wheel
ships them compiled (``fastdnn warmup``'s plan), so a notebook's first call compiles
nothing. The types mirror the calls in ``net3`` and ``loops``: float64 C matrices,
boolean masks, Python ints as int64, floats as float64, flags as booleans.
"""


def kernel_plan():
    """Every ``kernels.net3`` and ``kernels.net3_loops`` entry point, with its types."""
    import numba
    from numba import types

    from .._internal.precompile import entry

    f = types.float64
    i = numba.typeof(1)
    b = types.boolean
    M = types.Array(f, 2, "C")
    V = types.Array(f, 1, "C")
    mask = types.Array(b, 2, "C")
    dims = types.Array(types.int64, 1, "C")
    permutations = types.Array(types.int64, 2, "C")
    return [
        entry("_net3_forward", *[M] * 7, mask, mask, f, *[M] * 6, weight=3.0),
        entry("_net3_backward", *[M] * 8, mask, mask, f, f, i, *[M] * 11, weight=4.0),
        entry("_net3_cost", M, M, b, b, weight=1.0),
        entry("_net3_l2", M, M, M, f, i),
        entry("_net3_step", M, M, f, M),
        entry("_net3_sgd", *[M] * 12, f, types.UniTuple(M, 6), weight=1.0),
        entry("_net3_momentum", M, M, M, f, f, M, M),
        entry("_net3_adam", M, M, M, M, *[f] * 6, types.UniTuple(M, 5), weight=1.0),
        entry("_net3_momentum_all", *[types.UniTuple(M, 6)] * 3, f, f, *[types.UniTuple(M, 6)] * 2),
        entry(
            "_net3_adam_all",
            *[types.UniTuple(M, 6)] * 4,
            *[f] * 6,
            types.UniTuple(types.UniTuple(M, 5), 6),
            weight=1.0,
        ),
        entry("_net3_train", M, M, V, dims, f, f, mask, mask, f, i, b, i, i, i, V, weight=6.0),
        entry(
            "_net3_train_batches",
            M,
            M,
            V,
            dims,
            permutations,
            i,
            i,
            V,
            f,
            f,
            f,
            f,
            V,
            V,
            i,
            V,
            weight=6.0,
        ),
    ]
