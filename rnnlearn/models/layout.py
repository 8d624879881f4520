"""Integer codes shared by every kernel. Kernels receive a model as `dims`, an int64 array indexed by
the D_* constants below, plus `aux`, a float64 array of model-specific extras (e.g. clock periods).
Module-level integers are compile-time constants to numba, so `if dims[D_KIND] == ELMAN:` costs nothing and
every kernel stays cacheable on disk (no functions passed as arguments; see DESIGN.md)."""

# model kinds
ELMAN = 0
LSTM = 1
GRU = 2
CLOCKWORK = 3

# the one-hot index xi passed to a step whose x holds the input pre-activations b + U x_t already
PROJECTED = -2

# losses
MSE = 0
XENT = 1
LOSSES = {"mse": MSE, "xent": XENT}

# positions in dims
D_KIND = 0   # model kind
D_M = 1      # inputs m
D_N = 2      # hidden units n
D_O = 3      # outputs o
D_LOSS = 4   # loss code
D_S = 5      # state size S (Elman n, LSTM 2n)
D_G = 6      # size of the per-step pre-activation gradient `delta` (Elman n, LSTM 4n)
D_C = 7      # size of the per-step cache kept for derivatives
D_PREC = 8   # number of recurrent parameters (everything before the readout V, c)
D_P = 9      # number of parameters
D_OU = 10    # offset of the input weights U, a G x m block (one row per pre-activation)
D_LEN = 11

# Floating-point freedoms the kernels take: reassociating sums lets LLVM vectorise dot products, and
# contraction fuses multiply-adds. Not the "no NaN / no Inf" assumptions, which would let the compiler
# delete the divergence checks.
FAST = {"reassoc", "contract"}
