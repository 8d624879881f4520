"""Integer codes shared by every kernel. Kernels receive a model as `dims`, a named tuple of ints indexed by
the D_* constants below, plus `aux`, a float64 array of model-specific extras (e.g. clock periods).
Each model kind has its own dims class (DIMS_CLASSES), so the kind is part of the numba type of `dims`:
`cell` picks the model's kernels while typing, and a learner compiles only the kind it is called with
(a runtime test of dims[D_KIND] would compile every kind's code into it). Code that does not depend on the
kind (the readout, the losses) is passed `dims[:]`, a plain tuple of the same ints, so it compiles once for
all kinds. Module-level integers are compile-time constants to numba, so `dims[D_N]` is a static tuple
index, and every kernel stays cacheable on disk (no functions passed as arguments)."""

from collections import namedtuple

# model kinds
ELMAN = 0
LSTM = 1
GRU = 2
CLOCKWORK = 3
ELSTM = 4
LRU = 5
LEAKY = 6

# the one-hot index xi passed to a step whose x holds the input pre-activations b + U x_t already
PROJECTED = -2

# losses
MSE = 0
XENT = 1
SIGMOID_MSE = 2  # independent sigmoid outputs, squared error on them (Gers and Schmidhuber 2001)
LOSSES = {"mse": MSE, "xent": XENT, "sigmoid_mse": SIGMOID_MSE}

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
D_OW = 11    # offset of the recurrent weights W (0 in every model: they come first)
D_OB = 12    # offset of the biases b (G of them, right after U: D_OU + G m; = D_OX when there are none)
D_OX = 13    # offset of what follows b in the recurrent part (LSTM's peepholes, GRU's b_hr; = D_PREC if none);
             # D_OX == D_OB: the model has no biases (the LRU)
D_R = 14     # rows of the row form of the immediate Jacobian (models/immediate.py): G, except the GRU's 4n
D_NX = 15    # parameters outside the row form (LSTM's peepholes: 3n; else 0)
D_OY = 16    # offset of the readout's feed-through V_x (o x m, after c: y_hat = V h + V_x x + c), or -1 when
             # the model has none (shortcut=False: theta ends at c, as before the feed-through existed)
D_LEN = 17

#: field names of the dims tuples, in the order of the D_* positions above. The parameter offsets (oW, oU,
#: ob, oX) are set once, in Model.__init__, from the model's named blocks: kernels read them from dims and
#: never recompute them.
DIMS_FIELDS = ("kind", "m", "n", "o", "loss", "S", "G", "C", "prec", "P", "oU", "oW", "ob", "oX", "R", "NX",
               "oY")
assert (D_KIND, D_M, D_N, D_O, D_LOSS, D_S, D_G, D_C, D_PREC, D_P, D_OU, D_OW, D_OB, D_OX, D_R, D_NX, D_OY) \
    == tuple(range(len(DIMS_FIELDS))) and len(DIMS_FIELDS) == D_LEN

# one dims class per model kind: the kind is part of the numba type
ElmanDims = namedtuple("ElmanDims", DIMS_FIELDS)
LSTMDims = namedtuple("LSTMDims", DIMS_FIELDS)
GRUDims = namedtuple("GRUDims", DIMS_FIELDS)
ClockworkDims = namedtuple("ClockworkDims", DIMS_FIELDS)
ELSTMDims = namedtuple("ELSTMDims", DIMS_FIELDS)
LRUDims = namedtuple("LRUDims", DIMS_FIELDS)
LeakyDims = namedtuple("LeakyDims", DIMS_FIELDS)
DIMS_CLASSES = {ELMAN: ElmanDims, LSTM: LSTMDims, GRU: GRUDims, CLOCKWORK: ClockworkDims, ELSTM: ELSTMDims,
                LRU: LRUDims, LEAKY: LeakyDims}

# Floating-point freedoms the kernels take: reassociating sums lets LLVM vectorise dot products, and
# contraction fuses multiply-adds. Not the "no NaN / no Inf" assumptions, which would let the compiler
# delete the divergence checks.
FAST = {"reassoc", "contract"}
