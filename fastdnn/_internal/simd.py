"""Explicit SIMD vectors for numba kernels: one 64-byte vector type and six operations.

LLVM's loop vectorizer vectorizes the innermost loop and keeps its sums in
memory between passes: it cannot hold a two-dimensional tile of sums (4 rows
x 4 vectors) in registers across the loop that reduces into them, which is
what a register-tiled product needs (``kernels.tiles``). These intrinsics
give numba code LLVM vectors as plain local variables, so the tile's 16
sums live in 16 registers for the whole reduction.

``vzero(a)``, ``vload(a, i)``, ``vstore(a, i, v)``, ``vsplat(x)``,
``vfma(x, y, acc)`` (``x * y + acc``, fused where the CPU has FMA) and
``vmul(x, y)``; ``vload_part(a, i, n)`` and ``vstore_part(a, i, v, n)`` touch only
the first ``n`` lanes (0 <= n <= width; the others load as 0 and are not
written, and are never read from memory: no fault past an array's end), so
a tile's last columns run in vectors instead of scalars; ``vprefetch(a, i)``
asks for the cache line holding ``a[i]`` (a hint: no fault anywhere). A vector holds ``VECTOR_BYTES`` of the array's dtype (8
float64 or 16 float32). ``vload``/``vstore`` take a 1-D C-contiguous array
and the index of the vector's first element; the caller keeps
``i + width <= a.size`` (no bounds check, like the kernels' own indexing).

With ``NUMBA_DISABLE_JIT=1`` (the test suite's plain-Python run) the same
names are NumPy functions on small arrays, so the kernels that use them
still run, and their coverage is measured.

Integer dot products (``kernels.int8``): ``vdpbusd(acc, x, w)`` adds to each
int32 lane of ``acc`` the four products of the corresponding uint8 bytes of
``x`` and int8 bytes of ``w`` (AVX-512 VNNI's ``vpdpbusd``: 64 multiply-adds
in one instruction, exact, no saturation), and ``vsum(v)`` adds a vector's
lanes (integers, or floats in order). ``vmin``/``vmax`` (lane by lane) and
``vlowest``/``vhighest`` (over the lanes) give a row's range for the dynamic
quantization; NaN is the caller's to check (``vsum`` of ``0 * x`` finds it).
``vkeep(x, a)`` keeps the lanes of ``x`` where ``a > 0`` and zeroes the others (a ReLU's
gradient mask, ``kernels.net3``).
``vpdpbusd`` is emitted only when the CPU being compiled for has VNNI (the
code generator's own features: a level being built, or this CPU); elsewhere
``vdpbusd`` compiles to the same sums by widening multiply-adds (``pmaddwd``).

``wide_vectors()`` says whether the kernels this process runs are compiled for
AVX-512 (the installed level's features, ``_internal.installed``):
elsewhere LLVM splits each vector in two or four, a tile's sums no longer
fit in the registers, and the kernels keep the loop-vectorized form
(docs/performance.md, "Register tiles").
"""

import numpy as np

from .numba_internals import compiling_for, jit_disabled, llvm_function

VECTOR_BYTES = 64
"""Bytes per vector: one AVX-512 register."""


def wide_vectors(features=None):
    """True when the kernels run for a CPU with AVX-512F (32 vector registers of 64 bytes).

    ``features``: a set of LLVM feature names; by default the level this process's
    kernels are compiled for (``_internal.installed.features``), never merely the
    host's, so the Python side and the machine code agree."""
    return "avx512f" in _features(features)


def vnni(features=None):
    """True when the kernels run for a CPU with AVX-512 VNNI (``vpdpbusd`` on 64-byte
    vectors); ``features`` as for ``wide_vectors``."""
    features = _features(features)
    return {"avx512f", "avx512bw", "avx512vnni"} <= features


def dpbusd_form(features=None):
    """How ``vdpbusd`` compiles for ``features`` (``wide_vectors``'s default): "vnni"
    (``vpdpbusd``), "avx512bw" or "avx2" (``pmaddwd`` on 32 or 16 bytes), or
    "generic" (plain IR)."""
    features = _features(features)
    if vnni(features):
        return "vnni"
    for feature in ("avx512bw", "avx2"):
        if feature in features:
            return feature
    return "generic"


def _features(features):
    if features is not None:
        return frozenset(features)
    from .installed import features as chosen

    return chosen()


def _compiling_for(context):
    """The features of the CPU that ``context``'s code generator compiles for now: the
    level being built, or this CPU (numba's ``NUMBA_CPU_FEATURES`` or the host's)."""
    from .levels import parse_features

    return parse_features(compiling_for(context))


if jit_disabled():

    def _width(dtype):
        return VECTOR_BYTES // np.dtype(dtype).itemsize

    def vzero(a):
        return np.zeros(_width(a.dtype), a.dtype)

    def vload(a, i):
        return a[i : i + _width(a.dtype)].copy()

    def vstore(a, i, v):
        a[i : i + v.size] = v

    def vload_part(a, i, n):
        v = np.zeros(_width(a.dtype), a.dtype)
        v[:n] = a[i : i + n]
        return v

    def vstore_part(a, i, v, n):
        a[i : i + n] = v[:n]

    def vprefetch(a, i):
        pass

    def vsplat(x):
        x = np.asarray(x)
        return np.full(_width(x.dtype), x, x.dtype)

    def vfma(x, y, acc):
        return x * y + acc

    def vmul(x, y):
        return x * y

    def vdpbusd(acc, x, w):
        products = x.astype(np.int32) * w.astype(np.int32)
        return acc + products.reshape(acc.size, -1).sum(axis=1, dtype=np.int32)

    def vsum(v):
        return v.sum(dtype=v.dtype)

    def vmin(x, y):
        return np.fmin(x, y)

    def vkeep(x, a):
        return np.where(a > 0, x, np.zeros_like(x))

    def vmax(x, y):
        return np.fmax(x, y)

    def vlowest(v):
        return v.min()

    def vhighest(v):
        return v.max()

else:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, models, register_model

    class Vector(types.Type):
        """``VECTOR_BYTES`` of a float dtype, an LLVM vector (lives in one register)."""

        def __init__(self, dtype):
            self.dtype = dtype
            self.width = VECTOR_BYTES // (dtype.bitwidth // 8)
            super().__init__(name=f"Vector({dtype} x {self.width})")

    @register_model(Vector)
    class _VectorModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            element = dmm.lookup(fe_type.dtype).get_value_type()
            super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.width))

    def _contiguous_row(a):
        return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"

    def _element_pointer(context, builder, array_type, array, index, vector_type):
        data = context.make_array(array_type)(context, builder, array).data
        return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())

    @intrinsic
    def vzero(typingctx, a):
        vector = Vector(a.dtype)

        def codegen(context, builder, sig, args):
            return ir.Constant(context.get_value_type(vector), None)

        return vector(a), codegen

    @intrinsic
    def vload(typingctx, a, i):
        if not _contiguous_row(a):
            return None
        vector = Vector(a.dtype)

        def codegen(context, builder, sig, args):
            vector_type = context.get_value_type(vector)
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
            return builder.load(pointer, align=a.dtype.bitwidth // 8)

        return vector(a, i), codegen

    @intrinsic
    def vstore(typingctx, a, i, v):
        if not (_contiguous_row(a) and v == Vector(a.dtype)):
            return None

        def codegen(context, builder, sig, args):
            pointer = _element_pointer(
                context, builder, sig.args[0], args[0], args[1], args[2].type
            )
            builder.store(args[2], pointer, align=a.dtype.bitwidth // 8)
            return context.get_dummy_value()

        return types.void(a, i, v), codegen

    def _first_lanes(builder, width, n):
        """The mask of lanes 0 .. n-1 of a ``width``-lane vector (``n`` an integer value)."""
        i32 = ir.IntType(32)
        lanes = ir.VectorType(i32, width)
        count = builder.trunc(n, i32) if n.type.width > 32 else builder.sext(n, i32)
        undefined = ir.Constant(lanes, ir.Undefined)
        count = builder.insert_element(undefined, count, ir.Constant(i32, 0))
        count = builder.shuffle_vector(count, undefined, ir.Constant(lanes, [0] * width))
        return builder.icmp_signed("<", ir.Constant(lanes, list(range(width))), count)

    def _masked(builder, operation, vector_type, arguments):
        """A call of ``llvm.masked.<operation>`` (load or store) on ``vector_type``."""
        name = (
            f"llvm.masked.{operation}.v{vector_type.count}{vector_type.element.intrinsic_name}.p0"
        )
        types_ = [a.type for a in arguments]
        returns = vector_type if operation == "load" else ir.VoidType()
        function = llvm_function(builder.module, ir.FunctionType(returns, types_), name)
        return builder.call(function, arguments)

    @intrinsic
    def vload_part(typingctx, a, i, n):
        if not (_contiguous_row(a) and isinstance(n, types.Integer)):
            return None
        vector = Vector(a.dtype)

        def codegen(context, builder, sig, args):
            vector_type = context.get_value_type(vector)
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
            mask = _first_lanes(builder, vector.width, args[2])
            align = ir.Constant(ir.IntType(32), a.dtype.bitwidth // 8)
            zeros = ir.Constant(vector_type, None)
            return _masked(builder, "load", vector_type, [pointer, align, mask, zeros])

        return vector(a, i, n), codegen

    @intrinsic
    def vstore_part(typingctx, a, i, v, n):
        if not (_contiguous_row(a) and v == Vector(a.dtype) and isinstance(n, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            vector_type = args[2].type
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], vector_type)
            mask = _first_lanes(builder, vector_type.count, args[3])
            align = ir.Constant(ir.IntType(32), a.dtype.bitwidth // 8)
            _masked(builder, "store", vector_type, [args[2], pointer, align, mask])
            return context.get_dummy_value()

        return types.void(a, i, v, n), codegen

    @intrinsic
    def vprefetch(typingctx, a, i):
        if not _contiguous_row(a):
            return None

        def codegen(context, builder, sig, args):
            i8, i32 = ir.IntType(8), ir.IntType(32)
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1], i8)
            function = llvm_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32]),
                "llvm.prefetch.p0",
            )
            # A read, kept in every cache level (locality 3), of data (1).
            constants = [ir.Constant(i32, k) for k in (0, 3, 1)]
            builder.call(function, [pointer, *constants])
            return context.get_dummy_value()

        return types.void(a, i), codegen

    @intrinsic
    def vsplat(typingctx, x):
        vector = Vector(x)

        def codegen(context, builder, sig, args):
            vector_type = context.get_value_type(vector)
            undefined = ir.Constant(vector_type, ir.Undefined)
            first = builder.insert_element(undefined, args[0], ir.Constant(ir.IntType(32), 0))
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector.width), [0] * vector.width)
            return builder.shuffle_vector(first, undefined, zeros)

        return vector(x), codegen

    @intrinsic
    def vfma(typingctx, x, y, acc):
        def codegen(context, builder, sig, args):
            vector_type = args[0].type
            name = f"llvm.fmuladd.v{vector_type.count}{vector_type.element.intrinsic_name}"
            function_type = ir.FunctionType(vector_type, [vector_type] * 3)
            return builder.call(llvm_function(builder.module, function_type, name), args)

        return x(x, y, acc), codegen

    @intrinsic
    def vmul(typingctx, x, y):
        def codegen(context, builder, sig, args):
            return builder.fmul(args[0], args[1])

        return x(x, y), codegen

    def _dpbusd_portable(builder, features, acc, x, w):
        """``vpdpbusd``'s sums without VNNI: the same exact integers in ``acc``'s 16 lanes
        (not lane for lane: the kernels only ever add a vector's lanes together).

        uint8 and int8 widen to int16 and ``pmaddwd`` adds pairs of products into int32
        (exact: 2 x 255 x 127 fits), on 32 (AVX-512BW) or 16 (AVX2) bytes at a time;
        elsewhere plain IR that LLVM lowers as it can."""
        i16, i32 = ir.IntType(16), ir.IntType(32)
        form = dpbusd_form(features)
        if form == "avx512bw":
            parts, name = 2, "llvm.x86.avx512.pmaddw.d.512"
        elif form == "avx2":
            parts, name = 4, "llvm.x86.avx2.pmadd.wd"
        else:
            wide = ir.VectorType(i32, 64)
            products = builder.mul(builder.zext(x, wide), builder.sext(w, wide))
            undefined = ir.Constant(wide, ir.Undefined)
            for t in range(4):
                lane = ir.Constant(ir.VectorType(i32, 16), [4 * j + t for j in range(16)])
                acc = builder.add(acc, builder.shuffle_vector(products, undefined, lane))
            return acc
        n = 64 // parts  # bytes per pmaddwd
        halves, pairs = ir.VectorType(i16, n), ir.VectorType(i32, n // 2)
        pmaddwd = llvm_function(builder.module, ir.FunctionType(pairs, [halves, halves]), name)
        sums = []
        for p in range(parts):
            part = ir.Constant(ir.VectorType(i32, n), list(range(p * n, (p + 1) * n)))
            xp = builder.shuffle_vector(x, ir.Constant(x.type, ir.Undefined), part)
            wp = builder.shuffle_vector(w, ir.Constant(w.type, ir.Undefined), part)
            sums.append(builder.call(pmaddwd, [builder.zext(xp, halves), builder.sext(wp, halves)]))
        if parts == 4:  # four 8-lane sums: joined two by two into 16 lanes
            both = ir.Constant(ir.VectorType(i32, 16), list(range(16)))
            sums = [builder.shuffle_vector(a, b, both) for a, b in (sums[:2], sums[2:])]
        for s in sums:
            acc = builder.add(acc, s)
        return acc

    @intrinsic
    def vdpbusd(typingctx, acc, x, w):
        if not (
            acc == Vector(types.int32) and x == Vector(types.uint8) and w == Vector(types.int8)
        ):
            return None

        def codegen(context, builder, sig, args):
            lanes = ir.VectorType(ir.IntType(32), 16)
            features = _compiling_for(context)
            if dpbusd_form(features) != "vnni":
                return _dpbusd_portable(builder, features, *args)
            function_type = ir.FunctionType(lanes, [lanes] * 3)
            function = llvm_function(builder.module, function_type, "llvm.x86.avx512.vpdpbusd.512")
            return builder.call(
                function,
                [args[0], builder.bitcast(args[1], lanes), builder.bitcast(args[2], lanes)],
            )

        return acc(acc, x, w), codegen

    @intrinsic
    def vsum(typingctx, v):
        if not isinstance(v, Vector):
            return None

        def codegen(context, builder, sig, args):
            vector_type = args[0].type
            if isinstance(v.dtype, types.Integer):
                name = f"llvm.vector.reduce.add.v{vector_type.count}i{v.dtype.bitwidth}"
                function_type = ir.FunctionType(vector_type.element, [vector_type])
                return builder.call(llvm_function(builder.module, function_type, name), args)
            # In order from -0.0 (no fast-math flags): a NaN or inf lane gives NaN or inf.
            element = vector_type.element
            name = f"llvm.vector.reduce.fadd.v{vector_type.count}{element.intrinsic_name}"
            function_type = ir.FunctionType(element, [element, vector_type])
            return builder.call(
                llvm_function(builder.module, function_type, name),
                [ir.Constant(element, -0.0), args[0]],
            )

        return v.dtype(v), codegen

    def _lanewise(predicate):
        """An intrinsic taking, lane by lane, ``x`` where ``x <predicate> y`` holds, else ``y``:
        one ``vminps``/``vmaxps`` (a NaN lane gives ``y``; callers check NaN themselves)."""

        @intrinsic
        def apply(typingctx, x, y):
            if not (isinstance(x, Vector) and x == y):
                return None

            def codegen(context, builder, sig, args):
                return builder.select(builder.fcmp_ordered(predicate, *args), *args)

            return x(x, y), codegen

        return apply

    def _reduction(name):
        """An intrinsic reducing a float vector to its ``llvm.vector.reduce.<name>``."""

        @intrinsic
        def reduce(typingctx, v):
            if not isinstance(v, Vector):
                return None

            def codegen(context, builder, sig, args):
                vector_type = args[0].type
                full = f"llvm.vector.reduce.{name}.v{vector_type.count}{vector_type.element.intrinsic_name}"
                function_type = ir.FunctionType(vector_type.element, [vector_type])
                return builder.call(llvm_function(builder.module, function_type, full), args)

            return v.dtype(v), codegen

        return reduce

    vmin, vmax = _lanewise("<"), _lanewise(">")

    @intrinsic
    def vkeep(typingctx, x, a):
        """Lane by lane, ``x`` where ``a > 0``, else 0 (a ReLU's gradient mask; a NaN in
        ``a`` gives 0)."""
        if not (isinstance(x, Vector) and x == a):
            return None

        def codegen(context, builder, sig, args):
            zero = ir.Constant(args[0].type, None)
            return builder.select(builder.fcmp_ordered(">", args[1], zero), args[0], zero)

        return x(x, a), codegen

    vlowest, vhighest = _reduction("fmin"), _reduction("fmax")
