#!/usr/bin/env bash
# The test command: the suite once per Keras backend. Extra arguments go to pytest.
#
# Two xdist workers (KVIT_TEST_WORKERS to change it) keep both cores of a small machine busy:
# much of a test's time is single-threaded Python, tracing and conversion. Each worker's PyTorch
# and BLAS take one thread, or their spinning threads would fight the other worker's for the cores.
set -uo pipefail
cd "$(dirname "$0")/.."
workers=${KVIT_TEST_WORKERS:-2}
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} KERAS_BACKEND=$backend \
    python -m pytest -q -p no:cacheprovider -n "$workers" --durations=25 "$@" || status=1
done
exit $status
