"""What every family's builder shares: the input, the preprocessing and the keras.applications head."""

import keras

from kvit.layers import ImageNormalization


def image_input(input_shape, input_tensor):
    """Returns `(inputs, images)` for a builder, following keras.applications.

    Args:
        input_shape: `(height, width, channels)`; height and width may be None for families that
            take any image size.
        input_tensor: optional Keras tensor (another model's output) to build on.
    """
    if (
        len(input_shape) != 3
        or input_shape[-1] is None
        or any(d is not None and d <= 0 for d in input_shape)
    ):
        raise ValueError(
            f"`input_shape` must be (height, width, channels) with positive sizes (height and width "
            f"may be None where the family allows any size), got {input_shape}."
        )
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="images")
        return inputs, inputs
    if tuple(input_tensor.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"`input_tensor` has shape {input_tensor.shape}, expected (batch, *{tuple(input_shape)})."
        )
    source = keras.utils.get_source_inputs(input_tensor)
    return source, input_tensor


def preprocess(images, include_preprocessing, mean, std):
    """Applies the checkpoint's normalisation to [0, 255] pixels when asked."""
    if not include_preprocessing:
        return images
    channels = images.shape[-1]
    if channels != len(mean):
        # Custom channel counts (weights=None) get the average statistic on every channel.
        mean, std = sum(mean) / len(mean), sum(std) / len(std)
    return ImageNormalization(mean, std, name="preprocessing")(images)


def feature_map_output(features, include_top, pooling, classes, classifier_activation, dropout_rate=0.0):
    """The keras.applications tail on a `(batch, height, width, channels)` feature map.

    Without the top, returns the map or its `pooling` ("avg" or "max"); with it, global average
    pooling, dropout at `dropout_rate` when positive, then a `head` Dense of `classes`.
    """
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name="head_drop")(x)
        return classifier(x, classes, classifier_activation)
    return pool(features, pooling)


def pool(features, pooling):
    """`pooling=None` keeps the feature map; "avg" or "max" reduces it to `(batch, channels)`."""
    if pooling is None:
        return features
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(features)
    raise ValueError(f"`pooling` must be None, 'avg' or 'max', got {pooling!r}.")


def classifier(x, classes, classifier_activation, name="head"):
    """A Dense `head` of `classes`, then `classifier_activation` (None: logits)."""
    if not isinstance(classes, int) or classes <= 0:
        raise ValueError(f"`classes` must be a positive int, got {classes!r}.")
    x = keras.layers.Dense(classes, name=name)(x)
    return activation(x, classifier_activation)


def activation(logits, classifier_activation):
    if classifier_activation is None:
        return logits
    return keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(logits)
