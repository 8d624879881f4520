"""Slow references for the Kronecker-factored and sparse approximations to RTRL (KF-RTRL, R-KF-RTRL, SnAp-n),
in plain numpy loops over an Elman network, written from the papers' equations with every random draw passed in
explicitly (so a test can enumerate them all).

Conventions as in tests/naive.py and tests/naive_online.py: h_0 = 0, h_t = tanh(W h_{t-1} + U x_t + b),
y_hat_t = V h_t + c, losses from naive.step_loss, the parameters held fixed over the sequence. The recurrent
parameters theta_rec = (W, U, b) in the model's layout (row-major W, then U, then b, P_rec = n^2 + n m + n); the
influence matrix M_t = dh_t/dtheta_rec is n x P_rec.

The Kronecker methods see the recurrent parameters as one matrix W' = [W U b] (n x n_a, n_a = n + m + 1) acting
on a_t = [h_{t-1}, x_t, 1], so that h_t = tanh(W' a_t). Entry (k, W'_ij) of the influence matrix is dh_{t,k}/dW'_ij;
the immediate Jacobian is Mbar_t[k, W'_ij] = delta_ki d_k a_{t,j} with d = 1 - h_t^2, i.e. a_t (x) diag(d_t) as a
Kronecker product; the state Jacobian is J_t = diag(d_t) W. `wprime_columns` maps W'_ij to its column of theta_rec.
"""
import numpy as np

from naive import step_loss
from naive_online import _immediate, _split


def wprime_columns(n, m):
    """(n, n + m + 1) integer array: the column of theta_rec holding W'_ij, W' = [W U b]."""
    col = np.zeros((n, n + m + 1), dtype=int)
    for i in range(n):
        col[i, :n] = i * n + np.arange(n)
        col[i, n:n + m] = n * n + i * m + np.arange(m)
        col[i, n + m] = n * n + n * m + i
    return col


def _wprime_to_rec(n, m, G):
    """A gradient for W' (n x n_a) as a vector in the theta_rec layout."""
    return np.concatenate([G[:, :n].ravel(), G[:, n:n + m].ravel(), G[:, n + m]])


def kf_influence(n, m, u, A):
    """The dense n x P_rec influence matrix of KF-RTRL's factors: M[k, W'_ij] = A[k, i] u[j]."""
    M = np.zeros((n, n * n + n * m + n))
    col = wprime_columns(n, m)
    for k in range(n):
        for i in range(n):
            for j in range(n + m + 1):
                M[k, col[i, j]] = A[k, i] * u[j]
    return M


def rkf_influence(n, m, A, B):
    """The dense n x P_rec influence matrix of R-KF-RTRL's factors: M[k, W'_ij] = A[i] B[k, j]."""
    M = np.zeros((n, n * n + n * m + n))
    col = wprime_columns(n, m)
    for k in range(n):
        for i in range(n):
            for j in range(n + m + 1):
                M[k, col[i, j]] = A[i] * B[k, j]
    return M


def elman_kf_rtrl(p, xs, ys, loss, signs, eps=1e-7, influence=False):
    """KF-RTRL (Mujika, Meier and Steger 2018, "Approximating real-time recurrent learning with random Kronecker
    factors", NeurIPS; sec. 4: Lemma 1 (the unbiased, variance-minimising Kronecker approximation of a sum of two
    Kronecker products), Theorem 1 (unbiasedness) and Algorithm 1 (one step of KF-RTRL)) with the parameters fixed.

    The influence matrix of W' = [W U b] is carried as the Kronecker product u_t (x) A_t, u_t in R^{n_a} (over the
    inputs j of W'), A_t n x n (unit k influenced, unit i fed): M_t[k, W'_ij] ~ A_t[k, i] u_t[j]. RTRL's recursion
    M_t = J_t M_{t-1} + Mbar_t with M_{t-1} = u_{t-1} (x) A_{t-1} and Mbar_t = a_t (x) D_t (D_t = diag(1 - h_t^2))
    is a sum of two Kronecker products, u_{t-1} (x) (J_t A_{t-1}) + a_t (x) D_t, replaced by one:

        u_t = c1 p1 u_{t-1} + c2 p2 a_t,          A_t = c1 (1/p1) J_t A_{t-1} + c2 (1/p2) D_t,
        p1 = sqrt(|J_t A_{t-1}| / |u_{t-1}|),     p2 = sqrt(|D_t| / |a_t|)        (Frobenius / Euclidean norms),

    with c1, c2 = signs[t] (shape (T, 2)) independent random signs; u_0 = 0, A_0 = 0 (M_0 = 0, since h_0 = 0 is
    fixed); eps keeps p1 finite while u = 0, as in naive_online.elman_uoro (p1 = 1 at the first step, where both
    terms it scales vanish). The step's gradient estimate is dl_t/dh_t . (u_t (x) A_t), i.e. dL/dW'_ij +=
    (A_t^T q_t)_i u_t[j] with q_t = V^T dl_t/dyhat_t.

    Unbiased given the past: u_t (x) A_t = c1^2 u (x) JA + c2^2 a (x) D + c1 c2 (p1/p2 u (x) D + p2/p1 a (x) JA),
    c1^2 = c2^2 = 1, E[c1 c2] = 0, and p1, p2 depend on the past only. (c1, c2) -> (-c1, -c2) flips both
    factors and leaves step t's u_t (x) A_t unchanged (it changes the sign of later steps' cross terms).

    Returns the gradient as a dict like p; with influence=True, (gradient, the last step's dense n x P_rec
    influence estimate)."""
    n, m = p["U"].shape
    na = n + m + 1
    u, A = np.zeros(na), np.zeros((n, n))
    h = np.zeros(n)
    G, gV, gc = np.zeros((n, na)), np.zeros_like(p["V"]), np.zeros_like(p["c"])
    for t, (x, y) in enumerate(zip(xs, ys)):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        d = 1 - hn ** 2
        a = np.concatenate([h, x, [1.0]])
        JA = (d[:, None] * p["W"]) @ A
        D = np.diag(d)
        c1, c2 = (float(s) for s in signs[t])
        p1 = np.sqrt((np.linalg.norm(JA) + eps) / (np.linalg.norm(u) + eps))
        p2 = np.sqrt((np.linalg.norm(D) + eps) / (np.linalg.norm(a) + eps))
        u = c1 * p1 * u + c2 * p2 * a
        A = c1 / p1 * JA + c2 / p2 * D
        h = hn
        _, dy = step_loss(p["V"] @ h + p["c"], y, loss)
        gV += np.outer(dy, h)
        gc += dy
        G += np.outer(A.T @ (p["V"].T @ dy), u)
    g = _split(p, _wprime_to_rec(n, m, G), gV, gc)
    return (g, kf_influence(n, m, u, A)) if influence else g


def elman_rkf_rtrl(p, xs, ys, loss, signs, eps=1e-7, influence=False):
    """R-KF-RTRL, the "reverse" Kronecker factorisation (Marschall, Cho and Savin 2020, "A unified framework of
    online learning algorithms for training recurrent neural networks", JMLR 21, the R-KF-RTRL subsection of the
    past-facing stochastic approximations; the form below as in their reference code, vanilla-rtrl
    learning_algorithms/Reverse_KF_RTRL.py, eqs. (1)-(5) of its docstring), with the parameters fixed.

    The influence matrix is carried as A_t (x) B_t with A_t in R^n over the unit i a parameter W'_ij feeds and
    B_t n x n_a over (unit influenced k, input j): M_t[k, W'_ij] ~ A_t[i] B_t[k, j]. With nu = signs[t] (shape
    (T, n), independent random signs, one per unit -- the signs sit on the A factor, as UORO's do on its u):

        A_t = p0 A_{t-1} + p1 nu,              B_t = (1/p0) J_t B_{t-1} + (1/p1) (nu^T Mbar_t),
        (nu^T Mbar_t)[k, j] = sum_i nu_i Mbar_t[k, W'_ij] = nu_k d_k a_{t,j},
        p0 = sqrt(|J_t B_{t-1}| / |A_{t-1}|),  p1 = sqrt(|nu^T Mbar_t| / |nu|)          (Frobenius norms),

    A_0 = 0, B_0 = 0 (M_0 = 0; eps keeps p0 finite while A = 0, as in naive_online.elman_uoro). The reference code
    divides by sqrt(n) where this has |nu|: the same for signs. The step's gradient estimate is
    dL/dW'_ij += A_t[i] (q_t^T B_t)_j with q_t = V^T dl_t/dyhat_t.

    Unbiased given the past: A_t (x) B_t = A (x) JB + nu (x) (nu^T Mbar) + (p0/p1) A (x) (nu^T Mbar)
    + (p1/p0) nu (x) JB, where E[nu_i nu_k] = delta_ik turns the second term into Mbar_t, the cross terms are odd
    in nu, p0 depends on the past only, and p1 depends on nu only through |nu_k| (so it is the same for every
    sign pattern; for a general symmetric nu it is even in nu, and the cross terms still vanish on average).

    Returns the gradient as a dict like p; with influence=True, (gradient, the last step's dense n x P_rec
    influence estimate)."""
    n, m = p["U"].shape
    na = n + m + 1
    A, B = np.zeros(n), np.zeros((n, na))
    h = np.zeros(n)
    G, gV, gc = np.zeros((n, na)), np.zeros_like(p["V"]), np.zeros_like(p["c"])
    for t, (x, y) in enumerate(zip(xs, ys)):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        d = 1 - hn ** 2
        a = np.concatenate([h, x, [1.0]])
        JB = (d[:, None] * p["W"]) @ B
        nu = np.asarray(signs[t], dtype=float)
        nuM = np.outer(nu * d, a)
        p0 = np.sqrt((np.linalg.norm(JB) + eps) / (np.linalg.norm(A) + eps))
        p1 = np.sqrt((np.linalg.norm(nuM) + eps) / (np.linalg.norm(nu) + eps))
        A = p0 * A + p1 * nu
        B = JB / p0 + nuM / p1
        h = hn
        _, dy = step_loss(p["V"] @ h + p["c"], y, loss)
        gV += np.outer(dy, h)
        gc += dy
        G += np.outer(A, (p["V"].T @ dy) @ B)
    g = _split(p, _wprime_to_rec(n, m, G), gV, gc)
    return (g, rkf_influence(n, m, A, B)) if influence else g


def snap_reach(pattern, n_steps):
    """R[k, i] = True if unit i's state reaches unit k within n_steps - 1 steps of the recurrence, through the
    non-zero pattern `pattern` (n x n; pattern[k, l] means h_l feeds h_k, as W[k, l] does); R >= identity."""
    B = np.asarray(pattern, dtype=bool)
    R = np.eye(len(B), dtype=bool)
    for _ in range(n_steps - 1):
        R = R | ((B.astype(int) @ R.astype(int)) > 0)
    return R


def snap_mask(p, n_steps, pattern=None):
    """SnAp-n's sparsity pattern (Menick et al. 2021, sec. 3) as an n x P_rec boolean array in the theta_rec
    layout: entry (k, theta) is kept if the parameter theta, which feeds unit i (row i of W, U or b), reaches unit k
    within n_steps steps of the recurrent core -- in its own step (k = i: the immediate Jacobian's pattern), then
    through up to n_steps - 1 steps of the recurrent weights' pattern (by default W != 0). SnAp-1 keeps the
    immediate Jacobian's pattern only; the pattern is structural (from W's non-zeros), not from the values of
    Mbar_t, which vanish for W's columns at t = 1 since h_0 = 0."""
    n, m = p["U"].shape
    R = snap_reach(p["W"] != 0 if pattern is None else pattern, n_steps)
    col = wprime_columns(n, m)
    mask = np.zeros((n, n * n + n * m + n), dtype=bool)
    for k in range(n):
        for i in range(n):
            mask[k, col[i]] = R[k, i]
    return mask


def elman_snap(p, xs, ys, loss, n_steps, pattern=None):
    """SnAp-n (Menick, Elsen, Evci, Osindero, Simonyan and Graves 2021, "Practical real-time recurrent learning
    with a sparse approximation", ICLR; sec. 3: RTRL's recursion J_t = I_t + D_t J_{t-1} -- here
    M_t = Mbar_t + J_t M_{t-1} -- with only the entries of the influence matrix kept that are non-zero within n
    steps of the recurrent core) with the parameters fixed:

        M_t = (J_t M_{t-1} + Mbar_t) (.) mask_n,     M_0 = 0,

    the mask from snap_mask (the pattern of W by default; `pattern` overrides it). Every kept entry is computed on
    its own, M_t[k, c] = Mbar_t[k, c] + sum_l J_t[k, l] M_{t-1}[l, c]; the others are never formed. A full mask
    (a dense W and n >= 2, or any W whose reach graph is complete within n - 1 steps, or n >= T) gives RTRL; a
    diagonal W makes SnAp-1's mask hold all RTRL's non-zeros. The step's gradient is q_t^T M_t.

    Returns (gradient as a dict like p, the n x P_rec boolean mask)."""
    n, m = p["U"].shape
    P = n * n + n * m + n
    mask = snap_mask(p, n_steps, pattern)
    kept = list(zip(*np.nonzero(mask)))
    M = np.zeros((n, P))
    h = np.zeros(n)
    grec, gV, gc = np.zeros(P), np.zeros_like(p["V"]), np.zeros_like(p["c"])
    for x, y in zip(xs, ys):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        J = (1 - hn ** 2)[:, None] * p["W"]
        Mbar = _immediate(p, h, x, hn)
        Mn = np.zeros((n, P))
        for k, c in kept:
            Mn[k, c] = Mbar[k, c] + sum(J[k, l] * M[l, c] for l in range(n))
        M = Mn
        h = hn
        _, dy = step_loss(p["V"] @ h + p["c"], y, loss)
        gV += np.outer(dy, h)
        gc += dy
        grec += (p["V"].T @ dy) @ M
    return _split(p, grec, gV, gc), mask

