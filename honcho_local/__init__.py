"""honcho-local: a local-first, Honcho-v3-compatible memory server for stateful AI agents."""

import os as _os

# OpenBLAS's thread pool spins against the request threads on a small machine: one 5k x 384 cosine
# product measured 11 ms with its default threads vs 0.4 ms with one (read path, issue 5). It must be
# set before numpy is first imported; an explicit value in the environment wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
