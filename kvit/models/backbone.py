"""What every family's builder shares: the input, the preprocessing and the keras.applications head."""

import keras

from kvit.layers import ImageNormalization
from kvit.models.arguments import is_int, is_number, check_bool, check_choice, check_int

POOLINGS = (None, "avg", "max")


def check_input_shape(input_shape):
    """`input_shape` as a tuple `(height, width, channels)` of positive ints (height and width
    may be None), else a ValueError naming it."""
    valid = (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == 3
        and all(d is None or (is_int(d) and d > 0) for d in input_shape[:2])
        and is_int(input_shape[2])
        and input_shape[2] > 0
    )
    if not valid:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) with positive int sizes (height and "
            f"width may be None where the family allows any size), got {input_shape!r}."
        )
    return tuple(None if d is None else int(d) for d in input_shape)


def check_input_tensor(input_tensor):
    """Refuses an `input_tensor` that is neither None nor a Keras tensor."""
    if input_tensor is not None and not keras.backend.is_keras_tensor(input_tensor):
        raise ValueError(f"`input_tensor` must be None or a Keras tensor, got {type(input_tensor).__name__}.")


def check_head(include_top, pooling, classes, classifier_activation):
    """Checks the keras.applications arguments every builder takes (see `functional_model`)."""
    check_bool("include_top", include_top)
    check_choice("pooling", pooling, POOLINGS)
    if include_top:
        check_int("classes", classes)
        activation_function(classifier_activation)


def image_input(input_shape, input_tensor):
    """Returns `(inputs, images)` for a builder, following keras.applications.

    Args:
        input_shape: `(height, width, channels)`; height and width may be None for families that
            take any image size.
        input_tensor: optional Keras tensor (another model's output) to build on.
    """
    input_shape = check_input_shape(input_shape)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="images")
        return inputs, inputs
    check_input_tensor(input_tensor)
    if tuple(input_tensor.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"`input_tensor` has shape {input_tensor.shape}, expected (batch, *{tuple(input_shape)})."
        )
    source = keras.utils.get_source_inputs(input_tensor)
    return source, input_tensor


def preprocess(images, include_preprocessing, mean, std):
    """Applies the checkpoint's normalisation to [0, 255] pixels when asked."""
    if not check_bool("include_preprocessing", include_preprocessing):
        return images
    for name, values in (("mean", mean), ("std", std)):
        if not isinstance(values, (tuple, list)) or not values or not all(is_number(v) for v in values):
            raise ValueError(f"`{name}` must be a non-empty tuple of per-channel numbers, got {values!r}.")
    if not all(0 < v < float("inf") for v in std):
        raise ValueError(f"`std` must hold positive finite numbers, got {tuple(std)!r}.")
    if not all(abs(v) < float("inf") for v in mean):
        raise ValueError(f"`mean` must hold finite numbers, got {tuple(mean)!r}.")
    channels = images.shape[-1]
    if channels != len(mean) or channels != len(std):
        # Custom channel counts (weights=None) get the average statistic on every channel.
        mean, std = sum(mean) / len(mean), sum(std) / len(std)
    return ImageNormalization(mean, std, name="preprocessing")(images)


def functional_model(
    body,
    *,
    input_shape,
    input_tensor,
    include_preprocessing,
    mean,
    std,
    include_top,
    pooling,
    classes,
    classifier_activation,
    name,
    feature_map=None,
    top=None,
    dropout_rate=0.0,
):
    """The keras.applications model around a family's `body`: what every builder shares.

    The input (`image_input`), the checkpoint's normalisation (`preprocess`), then `body`.
    Without the top, the output is the feature map, `feature_map(x)` of the body's output `x`
    (by default `x` itself), as `(batch, height, width, channels)`, or its `pooling`. With the
    top, it is `top(x, classes)`'s logits (by default global average pooling, dropout at
    `dropout_rate` when positive, and a `head` Dense) under `classifier_activation`.

    Args:
        body: callable, the family's network from normalised images to its last tensor.
        input_shape, input_tensor, include_preprocessing, mean, std, include_top, pooling,
            classes, classifier_activation, name: the builder's keras.applications arguments.
        feature_map: optional callable, the body's output as a feature map (ViT's tokens on
            their grid).
        top: optional callable `(x, classes) -> logits`, the family's own classifier.
        dropout_rate: float, dropout of the default top.

    Returns:
        A functional `keras.Model`.
    """
    check_head(include_top, pooling, classes, classifier_activation)
    inputs, images = image_input(input_shape, input_tensor)
    x = body(preprocess(images, include_preprocessing, mean, std))
    if not include_top:
        outputs = pool(feature_map(x) if feature_map is not None else x, pooling)
    else:
        logits = top(x, classes) if top is not None else average_pool_top(x, classes, dropout_rate)
        outputs = activation(logits, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def average_pool_top(features, classes, dropout_rate=0.0):
    """Global average pooling of `(batch, h, w, c)`, dropout at `dropout_rate` when positive,
    then a `head` Dense of `classes` logits."""
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="head_drop")(x)
    return classifier(x, classes, None)


def pool(features, pooling):
    """`pooling=None` keeps the feature map; "avg" or "max" reduces it to `(batch, channels)`."""
    if check_choice("pooling", pooling, POOLINGS) is None:
        return features
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    return keras.layers.GlobalMaxPooling2D(name="max_pool")(features)


def classifier(x, classes, classifier_activation, name="head"):
    """A Dense `head` of `classes`, then `classifier_activation` (None: logits)."""
    x = keras.layers.Dense(check_int("classes", classes), name=name)(x)
    return activation(x, classifier_activation)


def activation_function(classifier_activation):
    """The Keras activation `classifier_activation` names (None: none), else a ValueError naming it."""
    if classifier_activation is None:
        return None
    try:
        return keras.activations.get(classifier_activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"`classifier_activation` must be None, a Keras activation name or a callable, got "
            f"{classifier_activation!r}."
        ) from error


def activation(logits, classifier_activation):
    """`classifier_activation` on the logits, computed in float32 (the final softmax of a mixed
    precision model too); None leaves the logits."""
    if activation_function(classifier_activation) is None:
        return logits
    return keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(logits)
