"""Experiments behind the numbers quoted in README.md, BENCHMARKS.md and the issue notes. Each is a module
run as `python -m rnnlearn.experiments.NAME [--help]` that prints its table; none is a test (they take
minutes), and none writes outside the folders it is given.

ekf_vs_rtrl         steps and seconds to a test cross-entropy of 0.47 on the add task: EKF vs RTRL
clockwork_vs_elman  clockwork RNN vs an Elman RNN of the same parameter count on long-period sine generation
anbncn_lstm         a^n b^n c^n with a peephole LSTM: node-decoupled EKF vs gradient learners
char_lm             train a character model with truncated BPTT, save it, sample from it
word_lm_step        one SGD step of the classic tutorial's word language model: rnnlearn vs plain numpy
"""
