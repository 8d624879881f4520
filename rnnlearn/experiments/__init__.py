"""The experiments behind the numbers quoted in README.md, as sweep configs (NAME.toml here) that
`rnnlearn compare --config NAME --out DIR` runs, stores and resumes like any comparison, and whose [[quote]]
tables `rnnlearn report DIR` prints from the stored results (median and range over seeds):

ekf_vs_rtrl         steps and seconds to a test cross-entropy of 0.47 on the add task: EKF vs RTRL
clockwork_vs_elman  clockwork RNN vs an Elman RNN of the same parameter count on long-period sine generation
anbncn_lstm         a^n b^n c^n with a peephole LSTM: node-decoupled EKF vs gradient learners
char_lm             a character model with truncated BPTT, saved for `rnnlearn sample`

and one timing module, used by `rnnlearn bench --word-lm`:

word_lm_step        one SGD step of the classic tutorial's word language model: rnnlearn vs plain numpy
                    (`python -m rnnlearn.experiments.word_lm_step`)
"""
