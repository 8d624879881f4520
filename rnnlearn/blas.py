"""General matrix products with scaling, out = alpha x y + beta out, from numba kernels.

numba's np.dot fixes alpha = 1 and beta = 0; a plain SGD step on a large weight matrix,
W -= lr * DY^T H, is then a product into a gradient buffer and a second pass over both. `gemm` calls the same
BLAS routine numba's np.dot calls (scipy's dgemm, through numba's helper `numba_xxgemm`, looked up by name, so
the kernels calling it stay cacheable) with alpha and beta, so the step is one product accumulating into W.
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.linalg import ensure_blas

_char = ir.IntType(8)


@intrinsic
def _dgemm(typingctx, alpha, x, y, beta, out):
    ensure_blas()
    for a in (x, y, out):
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.float64 and a.layout in "CF"):
            raise TypingError(f"gemm takes 2-D C- or F-contiguous float64 arrays, got {a}")
    if out.layout != "C":
        raise TypingError("gemm writes a C-contiguous out")
    sig = types.int32(types.float64, x, y, types.float64, out)

    def codegen(context, builder, sig, args):
        intp = context.get_value_type(types.intp)
        vp = cgutils.voidptr_t
        fnty = ir.FunctionType(ir.IntType(32), [_char, _char, _char, intp, intp, intp, vp, vp, intp, vp, intp,
                                                vp, vp, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        a_alpha, a_x, a_y, a_beta, a_out = args
        X = context.make_array(sig.args[1])(context, builder, a_x)
        Y = context.make_array(sig.args[2])(context, builder, a_y)
        O = context.make_array(sig.args[4])(context, builder, a_out)
        m, k = cgutils.unpack_tuple(builder, X.shape)
        _, n = cgutils.unpack_tuple(builder, Y.shape)

        def operand(ty, arr):  # (transpose flag, leading dimension, data) of a C or F array
            shape = cgutils.unpack_tuple(builder, arr.shape)
            trans = ir.Constant(_char, ord("n" if ty.layout == "C" else "t"))
            return trans, shape[1] if ty.layout == "C" else shape[0], builder.bitcast(arr.data, vp)

        # BLAS is column-major: the row-major out = x y is out^T = y^T x^T, so y goes first
        ta, lda, pa = operand(sig.args[2], Y)
        tb, ldb, pb = operand(sig.args[1], X)
        _, ldc, pc = operand(sig.args[4], O)
        p_alpha = builder.bitcast(cgutils.alloca_once_value(builder, a_alpha), vp)
        p_beta = builder.bitcast(cgutils.alloca_once_value(builder, a_beta), vp)
        return builder.call(fn, (ir.Constant(_char, ord("d")), ta, tb, n, m, k, p_alpha, pa, lda, pb, ldb,
                                 p_beta, pc, ldc))
    return sig, codegen


@njit(cache=True)
def gemm(alpha, x, y, beta, out):
    """out = alpha x @ y + beta out for 2-D float64 arrays: x and y C- or F-contiguous, out C-contiguous."""
    if x.shape[1] != y.shape[0] or out.shape[0] != x.shape[0] or out.shape[1] != y.shape[1]:
        raise ValueError("gemm: shapes do not match")
    if x.shape[0] == 0 or y.shape[1] == 0:
        return
    if x.shape[1] == 0:
        out *= beta
        return
    if _dgemm(alpha, x, y, beta, out) != 0:
        raise RuntimeError("gemm: BLAS is not available")
