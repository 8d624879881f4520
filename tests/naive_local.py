"""Slow references for the local and the block-wise learning rules, in plain numpy loops, written from the
papers' equations with every random or learned quantity passed in (feedback matrices, sensitivities,
timescales, synthetic-gradient weights, perturbation noise), so that a test can pin them.

The network is Elman as in tests/naive.py, or its leaky (rate) form, which RFLO, e-prop and KeRNL are
defined for:

    a_0 = 0,  a_t = (1 - alpha) a_{t-1} + alpha tanh(W a_{t-1} + U x_t + b),  y_hat_t = V a_t + c,

alpha = 1 being Elman (h_t = a_t). The losses are naive.step_loss's; the parameters fixed over the sequence
and the gradient summed over it, returned as a dict like p. Per unit i the recurrent parameters are its rows
of W, U and b, which read the input vector a_hat_t = [a_{t-1}, x_t, 1]; so a per-synapse quantity (an
eligibility trace) is stored as one (n, n + m + 1) array whose row i is unit i's and split into W, U, b by
_split. d_t = 1 - tanh(.)^2 is the slope of unit i at step t; the immediate influence of unit i's
parameters on a_t is alpha d_t,i a_hat_t (all other units' being zero).
"""
import numpy as np

from naive import step_loss


# ---------------------------------------------------------------- the leaky network and its exact gradient

def leaky_forward(p, xs, alpha=1.0):
    """(a (T, n), a_hat (T, n + m + 1), d (T, n)): the states a[t] = a_{t+1}, the input vectors
    a_hat[t] = [a_t, x_{t+1}, 1] that step t+1 reads, and the slopes 1 - tanh^2 of the step (0-based t)."""
    T, n = len(xs), len(p["b"])
    a = np.zeros((T, n))
    ahat = np.zeros((T, n + p["U"].shape[1] + 1))
    d = np.zeros((T, n))
    prev = np.zeros(n)
    for t in range(T):
        ahat[t] = np.concatenate([prev, xs[t], [1.0]])
        r = np.tanh(p["W"] @ prev + p["U"] @ xs[t] + p["b"])
        d[t] = 1 - r ** 2
        a[t] = (1 - alpha) * prev + alpha * r
        prev = a[t]
    return a, ahat, d


def leaky_loss(p, xs, ys, loss, alpha=1.0):
    a, _, _ = leaky_forward(p, xs, alpha)
    return sum(step_loss(p["V"] @ h + p["c"], y, loss)[0] for h, y in zip(a, ys))


def _split(p, G, gV, gc):
    """A per-unit (n, n + m + 1) array of recurrent gradients as the dict W, U, b (and the readout's)."""
    n, m = p["U"].shape
    return {"W": G[:, :n].copy(), "U": G[:, n:n + m].copy(), "b": G[:, n + m].copy(), "V": gV, "c": gc}


def _readout(p, a, ys, loss):
    """The readout's exact gradient and the per-step output errors dl_t/dy_hat_t (T, o)."""
    dys = np.array([step_loss(p["V"] @ h + p["c"], y, loss)[1] for h, y in zip(a, ys)])
    return dys.T @ a, dys.sum(axis=0), dys


def leaky_bptt(p, xs, ys, loss, alpha=1.0):
    """The exact gradient of the leaky network by the backward recursion (alpha = 1: naive.elman_bptt):
    delta_t = dE/da_t = V^T dl_t/dy_hat_t + (1 - alpha) delta_{t+1} + W^T (alpha d_{t+1} * delta_{t+1})."""
    a, ahat, d = leaky_forward(p, xs, alpha)
    gV, gc, dys = _readout(p, a, ys, loss)
    G = np.zeros((len(p["b"]), ahat.shape[1]))
    nxt = np.zeros(len(p["b"]))  # dE_{>t}/da_t
    for t in reversed(range(len(xs))):
        delta = p["V"].T @ dys[t] + nxt
        G += np.outer(alpha * d[t] * delta, ahat[t])
        nxt = (1 - alpha) * delta + p["W"].T @ (alpha * d[t] * delta)
    return _split(p, G, gV, gc)


# ---------------------------------------------------------------- RFLO

def leaky_rflo(p, xs, ys, loss, alpha=1.0, feedback=None):
    """RFLO, random-feedback local online learning (Murray 2019, "Local online learning in recurrent
    networks with random feedback", eLife 8: e43299, its discrete-time learning rule; in the notation of
    Marschall, Cho and Savin 2020, "A unified framework of online learning algorithms for training recurrent
    neural networks", JMLR 21: 1-34, their RFLO section; equation numbers not checked against either PDF):
    an eligibility trace per synapse,
    the immediate influence low-pass filtered by the network's own time constant,

        B_t,ij = (1 - alpha) B_{t-1},ij + alpha f'(pre_t,i) a_hat_t,j,       B_0 = 0,

    and the gradient sum_t q_t,i B_t,ij with the learning signal q_t = B_fb e_t, e_t = dl_t/dy_hat_t, sent
    back through a fixed feedback matrix B_fb (n x o): `feedback`, a fixed random matrix (random RFLO), or
    None for the readout's transpose V^T (symmetric RFLO). The readout's gradient is exact. Only the
    network's own decay enters the trace (the recurrent Jacobian's W part is dropped), so it is RTRL's
    influence matrix with J_t replaced by (1 - alpha) I and kept diagonal in units."""
    Bfb = p["V"].T if feedback is None else np.asarray(feedback)
    a, ahat, d = leaky_forward(p, xs, alpha)
    gV, gc, dys = _readout(p, a, ys, loss)
    B = np.zeros((len(p["b"]), ahat.shape[1]))
    G = np.zeros_like(B)
    for t in range(len(xs)):
        B = (1 - alpha) * B + alpha * np.outer(d[t], ahat[t])
        G += (Bfb @ dys[t])[:, None] * B
    return _split(p, G, gV, gc)


# ---------------------------------------------------------------- e-prop

def leaky_learning_signals(p, xs, ys, loss, alpha=1.0):
    """The ideal learning signals of e-prop, L_t = dE/dz_t (T, n), for the rate network written in Bellec et
    al.'s form: hidden state h_t = a_t, observable state z_t = a_t, h_t = M(h_{t-1}, z_{t-1}, x_t)
    = (1 - alpha) h_{t-1} + alpha tanh(W z_{t-1} + U x_t + b). The total derivative with respect to z_t
    counts z_t's paths to the loss: its readout, and its synapses into h_{t+1} (W), through every later
    step; the leak path h_t -> h_{t+1} is the eligibility trace's, not the learning signal's:

        dE/dh_t = dE/dz_t + (1 - alpha) dE/dh_{t+1},
        dE/dz_t = V^T dl_t/dy_hat_t + W^T (alpha d_{t+1} * dE/dh_{t+1}).

    For Elman (alpha = 1) this is BPTT's dE/dh_t. Computed by a backward pass, so not online: it is the
    exact signal against which e-prop's online approximations are measured."""
    a, _, d = leaky_forward(p, xs, alpha)
    _, _, dys = _readout(p, a, ys, loss)
    T, n = len(xs), len(p["b"])
    L = np.zeros((T, n))
    dh_next = np.zeros(n)  # dE/dh_{t+1}
    for t in reversed(range(T)):
        through_w = p["W"].T @ (alpha * d[t + 1] * dh_next) if t + 1 < T else np.zeros(n)
        L[t] = p["V"].T @ dys[t] + through_w
        dh_next = L[t] + (1 - alpha) * dh_next
    return L


def leaky_eprop(p, xs, ys, loss, alpha=1.0, feedback=None, learning_signals=None):
    """e-prop (Bellec et al. 2020, "A solution to the learning dilemma for recurrent networks of spiking
    neurons", Nat. Commun. 11: 3625; equations numbered as in the paper: 1 and 3 the factorisation, Methods
    14 the traces' forward recursion) for the rate network in the form of leaky_learning_signals. The
    factorisation (eq. 1) dE/dW_ji = sum_t dE/dz_j^t [dz_j^t/dW_ji]_local, whose local factor is the
    eligibility trace (eq. 2, computed forward by the recursion of Methods eq. 14)

        eps_t,ji = dh_j^t/dh_j^{t-1} eps_{t-1},ji + dh_j^t/dW_ji
                 = (1 - alpha) eps_{t-1},ji + alpha d_t,j a_hat_t,i,
        e_t,ji = dz_j^t/dh_j^t eps_t,ji = eps_t,ji,

    the partial derivatives taken with z_{t-1} held fixed, so that only the neuron's own hidden-state
    Jacobian (here the leak, diagonal across units) enters; and the gradient (eq. 3)

        dE/dW_ji = sum_t L_t,j e_t,ji,

    with the learning signal `learning_signals` (T, n) if given (e.g. leaky_learning_signals: the exact
    dE/dz_t, with which this is BPTT's gradient exactly), else the online approximation L_t = B e_t, that
    is L_j^t = sum_k B_jk (y_k^t - y*_k^t), of the output error e_t = dl_t/dy_hat_t through `feedback`
    (n x o; random e-prop) or, if None, B = V^T (symmetric e-prop). For Elman (alpha = 1) the trace has no
    memory, e_t,ji = d_t,j a_hat_t,i. For these rate units the trace and signals are RFLO's (leaky_rflo),
    which this loop over synapses re-derives independently."""
    a, ahat, d = leaky_forward(p, xs, alpha)
    gV, gc, dys = _readout(p, a, ys, loss)
    n, k = len(p["b"]), ahat.shape[1]
    if learning_signals is None:
        B = p["V"].T if feedback is None else np.asarray(feedback)
        learning_signals = dys @ B.T
    eps = np.zeros((n, k))
    G = np.zeros((n, k))
    for t in range(len(xs)):
        for j in range(n):  # the postsynaptic unit
            for i in range(k):  # its presynaptic input (recurrent, external or the bias)
                eps[j, i] = (1 - alpha) * eps[j, i] + alpha * d[t, j] * ahat[t, i]
                G[j, i] += learning_signals[t, j] * eps[j, i]
    return _split(p, G, gV, gc)


# ---------------------------------------------------------------- KeRNL

def leaky_kernl(p, xs, ys, loss, beta, gamma, alpha=1.0, feedback=None):
    """KeRNL's gradient estimate (Roth, Kanitscheider and Fiete 2019, "Kernel RNN learning (KeRNL)", ICLR;
    its factorised ansatz for the sensitivity tensor and the weight update of its pseudocode, Algorithm 1;
    equation numbers not checked against the PDF) with its learned quantities passed in: the sensitivity
    matrix beta (n x n) and the per-unit timescales gamma (n,).
    The influence of a unit's past on the present is approximated as

        da_t,k / da_s,i ~ beta_ki exp(-gamma_i (t - s)),

    so the influence matrix dA_t,k/dW_ij ~ beta_ki e_t,ij with the eligibility trace (one timescale per
    postsynaptic unit i)

        e_t,ij = exp(-gamma_i) e_{t-1},ij + alpha d_t,i a_hat_t,j,        e_0 = 0,

    and the gradient sum_t sum_k q_t,k beta_ki e_t,ij, q_t = dl_t/da_t = V^T e_t (KeRNL's signal), or B_fb e_t
    with `feedback` (n x o) fixed random. gamma_i = inf gives a memoryless trace. At beta = I and
    exp(-gamma_i) = 1 - alpha for every unit (beta and gamma not learned) it is RFLO with the same feedback:
    the reduction as Marschall et al. state and test it (their code's test "KeRNL reduces to RFLO in special
    case": beta the identity, the timescales the network's alpha, zero learning rate for beta and gamma,
    and the kernel taken as 1 - alpha_i rather than exp(-alpha_i)). Here the kernel is Roth et al.'s
    exp(-gamma_i), so the reduction is at gamma_i = -log(1 - alpha) (gamma_i = inf for Elman)."""
    Bfb = p["V"].T if feedback is None else np.asarray(feedback)
    lam = np.exp(-np.asarray(gamma, dtype=float))
    a, ahat, d = leaky_forward(p, xs, alpha)
    gV, gc, dys = _readout(p, a, ys, loss)
    e = np.zeros((len(p["b"]), ahat.shape[1]))
    G = np.zeros_like(e)
    for t in range(len(xs)):
        e = lam[:, None] * e + alpha * np.outer(d[t], ahat[t])
        G += (np.asarray(beta).T @ (Bfb @ dys[t]))[:, None] * e
    return _split(p, G, gV, gc)


def leaky_kernl_perturbation(p, xs, beta, gamma, noises, alpha=1.0):
    """KeRNL's own learning of beta and gamma by node perturbation (Roth et al. 2019, Algorithm 1), the
    parameters and beta, gamma fixed over the sequence and the noise `noises` (T, n)
    passed in: a perturbed copy of the network with noise xi_t added to its state,

        a~_0 = 0,  a~_t = (1 - alpha) a~_{t-1} + alpha tanh(W a~_{t-1} + U x_t + b) + xi_t,

    the noise filtered by the trace's kernel, omega_t = exp(-gamma) * omega_{t-1} + xi_t, and the regression
    of the observed effect on the filtered noise,

        loss = sum_t 1/2 |beta omega_t - (a~_t - a_t)|^2,

    whose gradients are returned: (loss, d loss/d beta (n x n), d loss/d gamma (n,)), with
    d omega_t/d gamma = exp(-gamma) * (d omega_{t-1}/d gamma - omega_{t-1}) carried forward. (Marschall et
    al.'s code writes the kernel 1 - alpha_i; that is exp(-gamma_i), and the noise timing here is that the
    xi_t entering the state at step t is the one in omega_t.)"""
    gamma = np.asarray(gamma, dtype=float)
    lam = np.exp(-gamma)
    a, _, _ = leaky_forward(p, xs, alpha)
    n = len(p["b"])
    pert = np.zeros(n)
    omega = np.zeros(n)
    domega = np.zeros(n)
    total, gbeta, ggamma = 0.0, np.zeros((n, n)), np.zeros(n)
    for t in range(len(xs)):
        pert = (1 - alpha) * pert + alpha * np.tanh(p["W"] @ pert + p["U"] @ xs[t] + p["b"]) + noises[t]
        domega = lam * (domega - omega)
        omega = lam * omega + noises[t]
        r = beta @ omega - (pert - a[t])
        total += 0.5 * r @ r
        gbeta += np.outer(r, omega)
        ggamma += (beta.T @ r) * domega
    return total, gbeta, ggamma


# ---------------------------------------------------------------- DNI

def elman_future_gradients(p, xs, ys, loss):
    """F (T, n): F[s] = dL_{>s}/dh_s, the gradient of the losses of the steps after s (0-based) with respect
    to the state h_s, by a backward pass (F[T-1] = 0). The true synthetic gradient at step s."""
    a, _, d = leaky_forward(p, xs, 1.0)
    _, _, dys = _readout(p, a, ys, loss)
    T, n = len(xs), len(p["b"])
    F = np.zeros((T, n))
    for s in reversed(range(T - 1)):
        dh = p["V"].T @ dys[s + 1] + F[s + 1]
        F[s] = p["W"].T @ (d[s + 1] * dh)
    return F


def elman_dni(p, xs, ys, loss, k, A=None, synthetic=None):
    """DNI for a recurrent network (Jaderberg et al. 2017, "Decoupled neural interfaces using synthetic
    gradients", ICML, its recurrent-network use: truncated BPTT with the boundary's future gradient
    bootstrapped; as in Marschall et al. 2020, their DNI section), over an Elman network with the
    parameters fixed: BPTT within windows of k steps (0-based steps [w k, (w + 1) k) and a last shorter one),
    the gradient from beyond each window's last step s bootstrapped with a synthetic gradient

        sg(h_s) = A [h_s; 1]     (A: n x (n + 1))     or synthetic(s, h_s) if given,

    which is added to dE/dh_s before the window is backpropagated. At the sequence's end (s = T - 1) the
    future is empty and no synthetic gradient is used. The synthetic-gradient module's regression target at
    each window's first state h_{s0} (s0 = w k - 1, the previous window's last step) is the bootstrapped
    gradient that reaches it, delta_{s0} = W^T (d_{s0+1} * dE/dh_{s0+1}) from this window's losses and its
    own synthetic gradient (a constant: no gradient flows into it), and the module's gradient is that of
    sum_{s0} 1/2 |sg(h_{s0}) - delta_{s0}|^2 with respect to A, sum (sg(h_{s0}) - delta_{s0}) [h_{s0}; 1]^T.

    Returns (g, gA, boundaries, targets): g like p; gA (n x (n + 1)) or None when A is None; the window
    boundaries s0 and the targets delta_{s0} (len(boundaries), n)."""
    if synthetic is None:
        synthetic = (lambda s, h: A @ np.append(h, 1.0)) if A is not None else (lambda s, h: np.zeros_like(h))
    a, ahat, d = leaky_forward(p, xs, 1.0)
    gV, gc, dys = _readout(p, a, ys, loss)
    T, n = len(xs), len(p["b"])
    G = np.zeros((n, ahat.shape[1]))
    gA = None if A is None else np.zeros_like(A)
    boundaries, targets = [], []
    for start in range(0, T, k):
        end = min(start + k, T) - 1
        nxt = synthetic(end, a[end]) if end < T - 1 else np.zeros(n)
        for t in range(end, start - 1, -1):
            delta = p["V"].T @ dys[t] + nxt
            G += np.outer(d[t] * delta, ahat[t])
            nxt = p["W"].T @ (d[t] * delta)
        if start > 0:  # nxt is now the bootstrapped dE/dh at the previous window's last step
            boundaries.append(start - 1)
            targets.append(nxt)
            if gA is not None:
                z = np.append(a[start - 1], 1.0)
                gA += np.outer(A @ z - nxt, z)
    return _split(p, G, gV, gc), gA, boundaries, np.array(targets).reshape(-1, n)


# ---------------------------------------------------------------- Schmidhuber's fixed-size storage algorithm

def _immediate(p, ahat, d):
    """The dense immediate Jacobian dh_t/dtheta_rec (n x P_rec), theta_rec = (W, U, b) in the model's layout
    (row-major W, then U, then b), from the step's a_hat and slopes."""
    n, m = p["U"].shape
    M = np.zeros((n, n * n + n * m + n))
    for i in range(n):
        M[i, i * n:(i + 1) * n] = d[i] * ahat[:n]
        M[i, n * n + i * m:n * n + (i + 1) * m] = d[i] * ahat[n:n + m]
        M[i, n * n + n * m + i] = d[i]
    return M


def elman_fss(p, xs, ys, loss, h, return_blocks=False):
    """Schmidhuber's fixed-size-storage exact algorithm (Schmidhuber 1992, "A fixed size storage O(n^3) time
    complexity learning algorithm for fully recurrent continually running networks", Neural Computation
    4(2): 243-248), with the parameters fixed: the sequence in blocks of h steps (the last one shorter when h
    does not divide T); within a block, the states are stored and the block's errors backpropagated to its
    start (BPTT); across blocks, only the influence matrix M_{t0} = dh_{t0}/dtheta_rec at the block's start
    is carried (RTRL's quantity p^k_ij), so that

        dE_block/dtheta = sum_{t in block} delta_t^T Mbar_t + delta_{t0}^T M_{t0},

    with delta_t the within-block backpropagated dE_block/dh_t and delta_{t0} what reaches the carried state;
    and the next block's M_{t1} = dh_{t1}/dtheta by n more backward passes through the block, one per unit k
    of h_{t1} (the update of p^k_ij at the block's end; with h = n, O(n^3) time per step amortised and
    O(n^3) storage, the title's claim; section numbers not checked against the PDF):

        dh_{t1,k}/dtheta = sum_{t in block} gamma^k_t^T Mbar_t + gamma^k_{t0}^T M_{t0},
        gamma^k_{t1} = e_k, gamma^k_{t-1} = W^T (d_t * gamma^k_t).

    The gradient is exact (RTRL's and BPTT's) and online at block ends: with return_blocks, also the list of
    (t_end, cumulative gradient over steps 0..t_end) at each block's end (0-based t_end)."""
    n, m = p["U"].shape
    P = n * n + n * m + n
    a, ahat, d = leaky_forward(p, xs, 1.0)
    _, _, dys = _readout(p, a, ys, loss)
    T = len(xs)
    Mstart = np.zeros((n, P))  # dh_{t0}/dtheta at the block's start (h_0 = 0 does not depend on theta)
    grec, gV, gc = np.zeros(P), np.zeros_like(p["V"]), np.zeros_like(p["c"])
    blocks = []
    for start in range(0, T, h):
        stop = min(start + h, T)
        # the block's errors, backpropagated within the block and into the carried influence matrix
        nxt = np.zeros(n)
        for t in range(stop - 1, start - 1, -1):
            delta = p["V"].T @ dys[t] + nxt
            grec += delta @ _immediate(p, ahat[t], d[t])
            nxt = p["W"].T @ (d[t] * delta)
            gV += np.outer(dys[t], a[t])
            gc += dys[t]
        grec += nxt @ Mstart
        # the influence matrix at the block's end, one backward pass per unit
        Mend = np.zeros((n, P))
        for k in range(n):
            gam = np.eye(n)[k]
            for t in range(stop - 1, start - 1, -1):
                Mend[k] += gam @ _immediate(p, ahat[t], d[t])
                gam = p["W"].T @ (d[t] * gam)
            Mend[k] += gam @ Mstart
        Mstart = Mend
        if return_blocks:
            blocks.append((stop - 1, _split_flat(p, grec.copy(), gV.copy(), gc.copy())))
    g = _split_flat(p, grec, gV, gc)
    return (g, blocks) if return_blocks else g


def _split_flat(p, grec, gV, gc):
    n, m = p["U"].shape
    return {"W": grec[:n * n].reshape(n, n), "U": grec[n * n:n * n + n * m].reshape(n, m),
            "b": grec[n * n + n * m:], "V": gV, "c": gc}
