"""The model interface: kernels that dispatch on the model's kind while numba types them.

`dims` is a tuple whose class names the model kind (layout.py, DIMS_CLASSES), so each function below resolves
to the kernel of the same name in that model's module when a caller is compiled: a learner compiled for an
Elman network contains only Elman code, and no branch on the kind runs. Called from Python, the functions run
the same kernels. A new model is one module of kernels plus one entry in MODULES. Signatures (all arrays
float64 and C-contiguous unless said):

step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out)
    s_t = f(s_{t-1}, x_t; theta); writes the new state and whatever the derivatives need into cache_out.
    xi >= 0 says x is one-hot at xi; t is the absolute time step (clocked models use it).
vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out)
    Given ds = dL/ds_t, writes delta = dL/d(pre-activations) (G values) and dL/ds_{t-1}.
param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g)
    Writes the recurrent-parameter gradient sum_k (d pre-activations_k / d theta)^T delta_k into g[:P_rec],
    summed over the rows of the window arrays as matrix products. `vjp` is vjp_state then param_grad.
jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J)
    J = J_t = ds_t/ds_{t-1} (S x S), formed.
jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out)
    out = J_t v without forming J_t (O(S n) time). `vjp_state` gives the products with J_t^T.
jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out)
    out = diag(J_t) (S values, O(S) time). The structure of J_t is in each model module's docstring.

The immediate Jacobian in factored form (Williams and Zipser 1989, eq. 13; models/immediate.py has the
generic kernels built on these, and the factors' formulas per model): Mbar_t's block for pre-activation row r
is D_t[:, r] a_t^T, a_t = [the slice of s_{t-1} row r reads, x_t, 1], plus a few extra parameters.
row_form(dims, aux, r) -> (unit, w_off, w_lo, w_width, u_off, b_off)
    Static: row r's hidden unit; its recurrent-weight row at theta[w_off:w_off + w_width], reading
    s_{t-1}[w_lo:w_lo + w_width]; its input-weight row at u_off (-1: none); its bias at b_off (-1: none).
    r < dims[D_R]. As arrays: model.row_layout.
row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r) -> (dh, dc)
    D_t's two possibly non-zero entries in column r: dh_k/dz_r and dc_k/dz_r (k = row r's unit; dc = 0 when
    the state is h alone).
extra_form(dims, aux, j) -> (unit, index)
    Static: parameter j < dims[D_NX] outside the row form (LSTM's peepholes), its unit and index in theta.
extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j) -> (dh, dc)
    Its entries of Mbar_t, in rows k and n + k of unit k.
The row form is not defined for every model (Model.has_row_form; the LRU's output y_t = Re(C h_t) + D x_t
sees every recurrent parameter in the same step), and learners built on it refuse those models.

Models with a diagonal recurrence (Model.diagonal_recurrence: the LRU) carry RTRL's influence per unit, as a
compact vector m of Model.n_unit_influence floats (the model module's docstring gives its layout):
unit_influence_step(dims, aux, theta, s_prev, x, xi, t, s, cache, m)
    In place, m_{t-1} -> m_t after `step` wrote s and cache (x raw: xi >= 0 or -1, not PROJECTED).
unit_influence_grad(dims, aux, theta, s_prev, x, xi, t, s, cache, m, ds, g)
    g[:P_rec] += ds^T M_t for ds = dL/ds_t (S,), M_t the full influence ds_t/dtheta_rec that m stands for
    (the parameters whose influence is immediate, such as the LRU's C and D, come from s and x).

The per-row kernels are inlined into their callers (a call's array arguments cost more than a row's work).
Built on them, once for every model (immediate.py): add_factored_immediate(dims, aux, theta, s_prev, x, xi,
t, s, cache, M), M += Mbar_t (RTRL's influence step); immediate_factors(dims, aux, theta, s_prev, x, xi, t,
s, cache, D, E), the compact factors D (2, R) and E (2, NX); add_factors(dims, aux, D, E, s_prev, x, xi, M),
M += Mbar_t from given factors. Kept in this factored form, Mbar_t is what SnAp (Menick et al. 2021) and the
online approximations of RTRL in Marschall, Cho and Savin (2020) work with; the EKF's node groups are its
rows grouped by unit.

Structured influence, for models whose recurrence is diagonal by unit (Model.diagonal_recurrence True: the
eLSTM, the LRU; Model.n_unit_influence = U). The state is s = (output part, core): the core (eLSTM: c; LRU: the
complex h as real and imaginary parts) is the only part s_{t-1} feeds, and its units evolve independently,
each from its own past and its own parameters; the output part (eLSTM: h; LRU: its output) is an immediate
function of (core_t, x_t), not fed back. Then the only entries of M_t = ds_t/dtheta_rec that can be non-zero
in the core's rows are each unit's own parameters': U numbers, stored as the compact influence m (U,) in an
order the model's module docstring gives. The output part's rows of M_t are (d out_t / d core_t) times the
core rows plus the immediate entries of the parameters that act only there (the eLSTM's output gate, the
LRU's output map), formed only inside unit_influence_grad. Exact RTRL (Williams and Zipser 1989, eq. 12-13)
on this structure costs O(U) per step and no S x P_rec matrix.
unit_influence_step(dims, aux, theta, s_prev, x, xi, t, s, cache, m)
    In place, m_{t-1} -> m_t, the core rows' non-zero entries of M_t = J_t M_{t-1} + Mbar_t; called after
    step() of the same step (s, cache are its outputs). O(U) time.
unit_influence_grad(dims, aux, theta, s_prev, x, xi, t, s, cache, m, ds, g)
    g[:P_rec] += ds^T M_t for ds = dL/ds_t (S,), m = m_t, including the recurrent parameters whose influence
    is only immediate; g's readout part untouched. O(U + S n) time.
Only the diagonal kinds have these two kernels (numba resolves them per kind); learners call them only when
model.diagonal_recurrence.
"""
import functools
import inspect

from numba.core.errors import TypingError
from numba.extending import overload

from . import clockwork, elman, elstm, gru, leaky, lru, lstm
from .layout import ClockworkDims, ElmanDims, ELSTMDims, GRUDims, LeakyDims, LRUDims, LSTMDims

#: dims class -> the module of that model's kernels
MODULES = {ElmanDims: elman, LSTMDims: lstm, GRUDims: gru, ClockworkDims: clockwork, ELSTMDims: elstm, LRUDims: lru,
           LeakyDims: leaky}


def _kernel(name, cls, got, error):
    """The kernel `name` of the model whose dims class is cls; raises `error` for any other (got: what came)."""
    if cls not in MODULES:
        raise error(f"{name}: dims must be one of {', '.join(c.__name__ for c in MODULES)}, got {got}")
    return getattr(MODULES[cls], name)


def python_kernel(name, dims):
    """The plain-Python body (`py_func`) of the kernel `name` of the model whose dims these are, for set-up code
    that reads a model's structure outside any kernel: it then compiles nothing."""
    return _kernel(name, type(dims), type(dims).__name__, TypeError).py_func


def _interface(signature, inline="never"):
    """The interface function named like `signature`: calls that model module's kernel of the same name.
    inline="always" inlines the call into the caller's numba IR (for the small per-row kernels: a plain call
    passes every array argument as a struct and updates its reference count, which cost more than the
    row's arithmetic)."""
    if not callable(signature):
        return functools.partial(_interface, inline=signature)
    name = signature.__name__

    @functools.wraps(signature)
    def call(dims, *args):  # from Python
        return _kernel(name, type(dims), type(dims).__name__, TypeError)(dims, *args)

    if inline == "never":
        @overload(call)
        def typed(dims, *args):  # from a kernel: resolved once per numba type of dims
            kernel = _kernel(name, getattr(dims, "instance_class", None), dims, TypingError)

            def impl(dims, *args):
                kernel(dims, *args)
            return impl
    else:  # numba inlines only closures with named arguments: spelled out from the signature
        params = ", ".join(inspect.signature(signature).parameters)
        src = (f"def typed({params}):\n"
               f"    kernel = _kernel(name, getattr(dims, 'instance_class', None), dims, TypingError)\n"
               f"    def impl({params}):\n"
               f"        return kernel({params})\n"
               f"    return impl\n")
        scope = {"_kernel": _kernel, "name": name, "TypingError": TypingError}
        exec(src, scope)
        overload(call, inline=inline)(scope["typed"])

    return call


@_interface
def step(dims, aux, theta, s_prev, x, xi, t, s_out, cache_out): ...


@_interface
def vjp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, ds, delta_out, ds_prev_out): ...


@_interface
def param_grad(dims, aux, theta, S_prev, X, XI, Cache, Delta, g): ...


@_interface
def jac_state(dims, aux, theta, s_prev, x, xi, t, s, cache, J): ...



@_interface
def jvp_state(dims, aux, theta, s_prev, x, xi, t, s, cache, v, out): ...


@_interface
def jac_state_diag(dims, aux, theta, s_prev, x, xi, t, s, cache, out): ...


@_interface("always")
def row_form(dims, aux, r): ...


@_interface("always")
def row_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, r): ...


@_interface("always")
def extra_form(dims, aux, j): ...


@_interface("always")
def extra_factor(dims, aux, theta, s_prev, x, xi, t, s, cache, j): ...


@_interface
def unit_influence_step(dims, aux, theta, s_prev, x, xi, t, s, cache, m): ...


@_interface
def unit_influence_grad(dims, aux, theta, s_prev, x, xi, t, s, cache, m, ds, g): ...
