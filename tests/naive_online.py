"""Slow references for the online approximations to RTRL, in plain numpy loops over an Elman network, written
from the papers' equations with every random draw passed in explicitly (so a test can enumerate them).

Elman as in tests/naive.py: h_t = tanh(W h_{t-1} + U x_t + b), y_hat_t = V h_t + c. The recurrent parameters
theta_rec = (W, U, b) in the model's layout (row-major W, then U, then b); the immediate Jacobian of unit i is
d_i a_t^T on its own row of W, U and b, with d = 1 - h_t^2 and a_t = [h_{t-1}, x_t, 1].
"""
import numpy as np

from naive import step_loss


def _immediate(p, h_prev, x, h):
    """Dense Mbar_t (n x P_rec) = dh_t/dtheta_rec with h_{t-1} fixed."""
    n, m = p["U"].shape
    d = 1 - h ** 2
    Mbar = np.zeros((n, n * n + n * m + n))
    for i in range(n):
        Mbar[i, i * n:(i + 1) * n] = d[i] * h_prev
        Mbar[i, n * n + i * m:n * n + (i + 1) * m] = d[i] * x
        Mbar[i, n * n + n * m + i] = d[i]
    return Mbar


def _split(p, grec, gV, gc):
    n, m = p["U"].shape
    return {"W": grec[:n * n].reshape(n, n), "U": grec[n * n:n * n + n * m].reshape(n, m),
            "b": grec[n * n + n * m:], "V": gV, "c": gc}


def elman_uoro(p, xs, ys, loss, signs, eps=1e-7):
    """UORO (Tallec and Ollivier 2017, "Unbiased online recurrent optimization", ICLR 2018, Algorithm 1) with
    the parameters fixed: the influence matrix M_t = dh_t/dtheta_rec is carried as a rank-one u_t v_t^T,

        u_t = rho_0 J_t u_{t-1} + rho_1 nu_t,     v_t = v_{t-1} / rho_0 + (nu_t^T Mbar_t) / rho_1,
        rho_0 = sqrt(|v_{t-1}| / |J_t u_{t-1}|),  rho_1 = sqrt(|nu_t^T Mbar_t| / |nu_t|)   (variance reduction),

    with nu_t a vector of independent random signs (signs[t], shape (T, n)), u_0 = 0, v_0 = 0; the step's
    gradient estimate is (dl_t/dh_t . u_t) v_t. Given the signs, everything is deterministic; the mean over all
    sign patterns is RTRL's gradient (E[nu nu^T] = I and the cross terms are odd in nu)."""
    n, m = p["U"].shape
    P = n * n + n * m + n
    u, v = np.zeros(n), np.zeros(P)
    h = np.zeros(n)
    grec, gV, gc = np.zeros(P), np.zeros_like(p["V"]), np.zeros_like(p["c"])
    for t, (x, y) in enumerate(zip(xs, ys)):
        hn = np.tanh(p["W"] @ h + p["U"] @ x + p["b"])
        J = (1 - hn ** 2)[:, None] * p["W"]
        Mbar = _immediate(p, h, x, hn)
        nu = np.asarray(signs[t], dtype=float)
        Ju = J @ u
        nuM = nu @ Mbar
        rho0 = np.sqrt((np.linalg.norm(v) + eps) / (np.linalg.norm(Ju) + eps))
        rho1 = np.sqrt((np.linalg.norm(nuM) + eps) / (np.linalg.norm(nu) + eps))
        u = rho0 * Ju + rho1 * nu
        v = v / rho0 + nuM / rho1
        h = hn
        _, dy = step_loss(p["V"] @ h + p["c"], y, loss)
        gV += np.outer(dy, h)
        gc += dy
        grec += ((p["V"].T @ dy) @ u) * v
    return _split(p, grec, gV, gc)


def all_sign_patterns(T, n):
    """Every array of shape (T, n) with entries +-1 (2^(T n) of them)."""
    k = T * n
    for code in range(2 ** k):
        bits = (code >> np.arange(k)) & 1
        yield (2.0 * bits - 1.0).reshape(T, n)
