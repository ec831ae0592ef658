#!/usr/bin/env bash
# The test command: the suite once per Keras backend. Extra arguments go to pytest.
#
# Two xdist workers (KVIT_TEST_WORKERS to change it) keep both cores of a small machine busy:
# much of a test's time is single-threaded Python, tracing and conversion. Each worker's PyTorch
# and BLAS take one thread, or their spinning threads would fight the other worker's for the cores.
set -uo pipefail
cd "$(dirname "$0")/.."
workers=${KVIT_TEST_WORKERS:-2}
# Most of the JAX pass is XLA compiling each eager op for each new shape; LLVM's optimisation
# passes make every compile ~30% slower and test-sized programs no faster (the pass: 9.1 -> 6.7
# min on 2 cores). Results stay within the tests' tolerances: the pass is green either way. The
# TensorFlow pass keeps the default: Keras runs grouped convolutions through XLA there.
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  xla_flags=${XLA_FLAGS-}
  [ "$backend" = jax ] && xla_flags=${XLA_FLAGS:---xla_backend_optimization_level=0}
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} KERAS_BACKEND=$backend XLA_FLAGS=$xla_flags \
    python -m pytest -q -p no:cacheprovider -n "$workers" --durations=25 "$@" || status=1
done
exit $status
