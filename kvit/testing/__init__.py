"""What kvit's tests and benchmarks share (in the spirit of keras-hub's `keras_hub/src/tests/`).

`oracle`: timm, the numerical reference, imported without torchvision, and the noise that random
weights carry so that no norm folds away. `family_checks`: the checks every model family's tests
run (timm parity, `.keras` round trip, feature levels, TFLite). torch and timm are imported inside
the functions that use them: `kvit.testing` imports without them.
"""

from kvit.testing.family_checks import (
    check_feature_levels,
    check_keras_round_trip,
    check_tflite,
    check_timm_parity,
    normalize,
    pixels,
    predict,
    timm_checkpoint,
)
from kvit.testing.oracle import (
    create_timm_model,
    import_timm,
    noise_torch_weights,
    noise_weights,
    numpy_state,
    run_timm,
)
