"""Shared test setup: BLAS on one thread (as rnnlearn sets it when imported first), tests/ importable."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
