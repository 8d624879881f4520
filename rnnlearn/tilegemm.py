"""out = x @ y for the small products of the online learners' steps (S x S times S x R, S about 16-256), in
explicit 8-wide vectors held in registers.

At n = 32 such a product (65 kFLOP) is over before OpenBLAS's interface and its packing of both operands
have paid for themselves, and this machine's environment holds OpenBLAS to its AVX2 kernels
(OPENBLAS_CORETYPE=Haswell, BENCHMARKS.md): measured here, 32 x 32 x 32 takes 1.6 us through numba's np.dot
and 0.53 us here (124 GFLOP/s); 128 x 128 x 128, 72 and 35 us.

`matmul` tiles out into blocks of 4 rows by 32 columns (4 vectors of 8 doubles); each block keeps its 16
accumulators in vector registers for the whole sum over k (per k: 4 loads of y's row, 4 broadcasts of x's
entries, 16 fused multiply-adds), the outer-product form of the register-blocked kernels of Goto and van de
Geijn (2008, "Anatomy of high-performance matrix multiplication", ACM TOMS 34), without their packing: y's
32-column panel (K x 32 doubles) stays in the L1 cache for all the block rows while K is at most about 150
(beyond, e.g. the LSTM's S = 256 at n = 128, it runs at about BLAS's rate). The last columns are a block of
1-4 vectors whose last is loaded and stored under a lane mask, the last rows a block whose rows past the
end repeat the last row and are not stored. The block kernels are intrinsics (llvmlite IR: numba has no
vector type), inlined where they are called; so are `matmul` and `matmul_norm_vecmat` (inline="always":
a plain call's prologue updates the reference counts of its array arguments, measured at 0.1 us of
KF-RTRL's 1.6 us step at n = 32).
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

_f64 = ir.DoubleType()
_v8 = ir.VectorType(_f64, 8)
MR = 4  # rows per block


def _check(arrays):
    for a in arrays:
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.float64 and a.layout == "C"):
            raise TypingError(f"tilegemm takes 2-D C-contiguous float64 arrays, got {a}")


def _ptr_suffix(ptr) -> str:
    """The pointer part of an overloaded intrinsic's name: "p0" where LLVM's pointers are opaque (LLVM 17 and
    later have no other kind), "p0v8f64" where they are typed (the llvmlite of older numba, LLVM 14-15)."""
    from llvmlite import binding
    return "p0" if binding.llvm_version_info[0] >= 17 else "p0v8f64"   # ptr is always a <8 x double>*


def _lane_mask(builder, nlast):
    """<8 x i1>: lanes below nlast."""
    i64v = ir.VectorType(ir.IntType(64), 8)
    b = builder.insert_element(ir.Constant(i64v, ir.Undefined), nlast, ir.Constant(ir.IntType(32), 0))
    b = builder.shuffle_vector(b, b, ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
    return builder.icmp_signed("<", ir.Constant(i64v, list(range(8))), b)


def _block_codegen(nv, tail, epilogue):
    """Codegen of out[i0:i0 + mr, j0:j0 + w] = x[i0:i0 + mr, :] @ y[:, j0:j0 + w], w = 8 (nv - 1) + nlast.
    Without `tail`, mr = MR and nlast = 8 (no masks, no guards); with it, rows past mr repeat row
    i0 + mr - 1 and are not stored, and the last vector is loaded and stored under a lane mask. With
    `epilogue` (extra arguments q, want, vm) it returns the block's sum of squares and, when want,
    adds q[i0:i0 + mr] @ (the block) into vm[j0:j0 + w], from the accumulators."""
    def codegen(context, builder, sig, args):
        x_ty, y_ty, o_ty = sig.args[:3]
        x, y, o, i0, j0, mr, nlast = args[:7]
        X = context.make_array(x_ty)(context, builder, x)
        Y = context.make_array(y_ty)(context, builder, y)
        O = context.make_array(o_ty)(context, builder, o)
        intp = context.get_value_type(types.intp)
        c = lambda v: ir.Constant(intp, v)
        K = cgutils.unpack_tuple(builder, X.shape)[1]
        ldy = cgutils.unpack_tuple(builder, Y.shape)[1]
        ldo = cgutils.unpack_tuple(builder, O.shape)[1]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_v8, [_v8] * 3), "llvm.fma.v8f64")
        vptr = _v8.as_pointer()
        zero = ir.Constant(_v8, [0.0] * 8)
        i32 = ir.IntType(32)
        if tail:
            m8 = ir.VectorType(ir.IntType(1), 8)
            mload = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_v8, [vptr, i32, m8, _v8]),
                                                   "llvm.masked.load.v8f64." + _ptr_suffix(vptr))
            mstore = cgutils.get_or_insert_function(builder.module,
                                                    ir.FunctionType(ir.VoidType(), [_v8, vptr, i32, m8]),
                                                    "llvm.masked.store.v8f64." + _ptr_suffix(vptr))
            mask = _lane_mask(builder, nlast)
            rows = [builder.select(builder.icmp_signed("<", c(r), mr), builder.add(i0, c(r)),
                                   builder.add(i0, builder.sub(mr, c(1)))) for r in range(MR)]
        else:
            rows = [builder.add(i0, c(r)) for r in range(MR)]
        accs = [[cgutils.alloca_once_value(builder, zero) for _ in range(nv)] for _ in range(MR)]
        xrows = [builder.gep(X.data, [builder.mul(rows[r], K)]) for r in range(MR)]
        ycol = builder.gep(Y.data, [j0])
        undef = ir.Constant(_v8, ir.Undefined)
        bmask = ir.Constant(ir.VectorType(i32, 8), [0] * 8)

        def vload(p, last):
            p = builder.bitcast(p, vptr)
            if tail and last:
                return builder.call(mload, [p, ir.Constant(i32, 8), mask, zero])
            return builder.load(p, align=8)

        with cgutils.for_range(builder, K) as loop:
            k = loop.index
            yk = builder.gep(ycol, [builder.mul(k, ldy)])
            yv = [vload(builder.gep(yk, [c(8 * v)]), v == nv - 1) for v in range(nv)]
            for r in range(MR):
                xs = builder.load(builder.gep(xrows[r], [k]))
                xb = builder.shuffle_vector(builder.insert_element(undef, xs, ir.Constant(i32, 0)), undef, bmask)
                for v in range(nv):
                    builder.store(builder.call(fma, [xb, yv[v], builder.load(accs[r][v])]), accs[r][v])
        for r in range(MR):
            def store_row():
                orow = builder.gep(O.data, [builder.add(builder.mul(rows[r], ldo), j0)])
                for v in range(nv):
                    p = builder.bitcast(builder.gep(orow, [c(8 * v)]), vptr)
                    val = builder.load(accs[r][v])
                    if tail and v == nv - 1:
                        builder.call(mstore, [val, p, ir.Constant(i32, 8), mask])
                    else:
                        builder.store(val, p, align=8)
            if tail and r > 0:
                with builder.if_then(builder.icmp_signed("<", c(r), mr)):
                    store_row()
            else:
                store_row()
        if not epilogue:
            return context.get_dummy_value()
        q_ty, vm_ty = sig.args[7], sig.args[9]
        Q = context.make_array(q_ty)(context, builder, args[7])
        VM = context.make_array(vm_ty)(context, builder, args[9])
        want = args[8]
        vals = [[builder.load(accs[r][v]) for v in range(nv)] for r in range(MR)]
        if tail:  # the repeated rows past mr count for nothing
            vals = [vals[0]] + [[builder.select(builder.icmp_signed("<", c(r), mr), a, zero) for a in row]
                                for r, row in enumerate(vals) if r > 0]
        sq = zero
        for r in range(MR):
            for v in range(nv):
                sq = builder.call(fma, [vals[r][v], vals[r][v], sq])
        with builder.if_then(want):
            qb = [builder.shuffle_vector(builder.insert_element(undef, builder.load(builder.gep(Q.data, [rows[r]])),
                                                                ir.Constant(i32, 0)), undef, bmask)
                  for r in range(MR)]
            for v in range(nv):
                p = builder.gep(VM.data, [builder.add(j0, c(8 * v))])
                acc = vload(p, v == nv - 1)
                for r in range(MR):
                    acc = builder.call(fma, [qb[r], vals[r][v], acc])
                p = builder.bitcast(p, vptr)
                if tail and v == nv - 1:
                    builder.call(mstore, [acc, p, ir.Constant(i32, 8), mask])
                else:
                    builder.store(acc, p, align=8)
        total = builder.extract_element(sq, ir.Constant(i32, 0))
        for lane in range(1, 8):
            total = builder.fadd(total, builder.extract_element(sq, ir.Constant(i32, lane)))
        return total
    return codegen


def _block_intrinsic(nv, tail, epilogue=False):
    if epilogue:
        @intrinsic
        def block(typingctx, x, y, out, i0, j0, mr, nlast, q, want, vm):
            _check((x, y, out))
            for a in (q, vm):
                if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.float64 and a.layout == "C"):
                    raise TypingError(f"tilegemm takes 1-D C-contiguous float64 q and vm, got {a}")
            return (types.float64(x, y, out, types.intp, types.intp, types.intp, types.intp, q, types.boolean, vm),
                    _block_codegen(nv, tail, True))
        return block

    @intrinsic
    def block(typingctx, x, y, out, i0, j0, mr, nlast):
        _check((x, y, out))
        return types.void(x, y, out, types.intp, types.intp, types.intp, types.intp), _block_codegen(nv, tail, False)
    return block


_full = _block_intrinsic(4, False)
_tail1, _tail2, _tail3, _tail4 = (_block_intrinsic(nv, True) for nv in (1, 2, 3, 4))
_efull = _block_intrinsic(4, False, True)
_etail1, _etail2, _etail3, _etail4 = (_block_intrinsic(nv, True, True) for nv in (1, 2, 3, 4))


@njit(cache=True, inline="always")
def matmul(x, y, out):
    """out = x @ y, all 2-D C-contiguous float64 (x M x K, y K x N, out M x N, out distinct from both)."""
    M, K = x.shape
    N = y.shape[1]
    if y.shape[0] != K or out.shape[0] != M or out.shape[1] != N:
        raise ValueError("matmul: shapes do not match")
    Nb = N - N % 32
    rem = N - Nb
    nv = (rem + 7) // 8
    nlast = rem - 8 * (nv - 1)
    for i0 in range(0, M, MR):
        mr = min(MR, M - i0)
        for j0 in range(0, Nb, 32):
            if mr == MR:
                _full(x, y, out, i0, j0, MR, 8)
            else:
                _tail4(x, y, out, i0, j0, mr, 8)
        if nv == 1:
            _tail1(x, y, out, i0, Nb, mr, nlast)
        elif nv == 2:
            _tail2(x, y, out, i0, Nb, mr, nlast)
        elif nv == 3:
            _tail3(x, y, out, i0, Nb, mr, nlast)
        elif nv == 4:
            _tail4(x, y, out, i0, Nb, mr, nlast)


@njit(cache=True, inline="always")
def matmul_norm_vecmat(x, y, out, q, want, vm):
    """out = x @ y as `matmul`, returning |out|_F^2 and, when want, writing vm = q^T out (q of out's rows,
    vm of its columns), both from the accumulators as each block is stored: no second pass over out."""
    M, K = x.shape
    N = y.shape[1]
    if y.shape[0] != K or out.shape[0] != M or out.shape[1] != N or q.shape[0] != M or vm.shape[0] != N:
        raise ValueError("matmul_norm_vecmat: shapes do not match")
    if want:
        for j in range(N):
            vm[j] = 0.0
    Nb = N - N % 32
    rem = N - Nb
    nv = (rem + 7) // 8
    nlast = rem - 8 * (nv - 1)
    sq = 0.0
    for i0 in range(0, M, MR):
        mr = min(MR, M - i0)
        for j0 in range(0, Nb, 32):
            if mr == MR:
                sq += _efull(x, y, out, i0, j0, MR, 8, q, want, vm)
            else:
                sq += _etail4(x, y, out, i0, j0, mr, 8, q, want, vm)
        if nv == 1:
            sq += _etail1(x, y, out, i0, Nb, mr, nlast, q, want, vm)
        elif nv == 2:
            sq += _etail2(x, y, out, i0, Nb, mr, nlast, q, want, vm)
        elif nv == 3:
            sq += _etail3(x, y, out, i0, Nb, mr, nlast, q, want, vm)
        elif nv == 4:
            sq += _etail4(x, y, out, i0, Nb, mr, nlast, q, want, vm)
    return sq
