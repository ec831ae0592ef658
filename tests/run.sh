#!/usr/bin/env bash
# The test command: the suite once per Keras backend. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider --durations=25 "$@" || status=1
done
exit $status
