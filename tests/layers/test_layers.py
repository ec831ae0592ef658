import keras
import numpy as np
import pytest
import torch

from kvit import layers


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_layer_norm_matches_keras_and_torch():
    x = np.random.RandomState(0).randn(2, 5, 16).astype("float32") * 3 + 1
    ours = layers.LayerNorm(1e-6)
    ours.build(x.shape)
    ours.gamma.assign(np.linspace(0.5, 1.5, 16))
    ours.beta.assign(np.linspace(-1, 1, 16))
    theirs = torch.nn.functional.layer_norm(
        torch.from_numpy(x), (16,), torch.linspace(0.5, 1.5, 16), torch.linspace(-1, 1, 16), eps=1e-6
    )
    np.testing.assert_allclose(numpy(ours(x)), theirs.numpy(), atol=1e-5)


@pytest.mark.parametrize("old,new", [((14, 14), (24, 24)), ((14, 14), (20, 16)), ((4, 4), (3, 5))])
def test_position_embedding_resampling_matches_torch(old, new):
    embedding = np.random.RandomState(0).randn(1, 1 + old[0] * old[1], 8).astype("float32")
    ours = layers.resample_position_embedding(embedding, new, num_prefix_tokens=1)
    grid = torch.from_numpy(embedding[:, 1:]).reshape(1, *old, 8).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=new, mode="bicubic", align_corners=False, antialias=True)
    expected = np.concatenate([embedding[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, 8).numpy()], axis=1)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_non_square_embedding_needs_its_grid():
    with pytest.raises(ValueError, match="old_grid_size"):
        layers.resample_position_embedding(np.zeros((1, 1 + 12, 4)), (4, 4))


def test_drop_path_keeps_the_expectation():
    x = np.ones((4000, 3), "float32")
    y = numpy(layers.DropPath(0.25, seed=1)(x, training=True))
    np.testing.assert_allclose(np.unique(y), [0.0, 1.0 / 0.75], rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(numpy(layers.DropPath(0.25)(x)), x)
    with pytest.raises(ValueError, match="rate"):
        layers.DropPath(1.0)


@pytest.mark.parametrize(
    "layer,shape",
    [
        (layers.LayerNorm(1e-5), (2, 4, 8)),
        (layers.MLP(16, "silu", 0.1), (2, 4, 8)),
        (layers.MultiHeadSelfAttention(2, qkv_bias=False), (2, 4, 8)),
        (layers.TransformerBlock(2, 2.0, epsilon=1e-5, activation="silu", drop_path_rate=0.1), (2, 4, 8)),
        (layers.PatchEmbedding(8, 4), (2, 8, 8, 3)),
        (layers.PrefixTokens(2), (2, 4, 8)),
        (layers.PositionEmbedding((2, 2), 1), (2, 5, 8)),
        (layers.TokenPooling("avg", num_prefix_tokens=1), (2, 5, 8)),
        (layers.TokensToGrid((2, 2), 1), (2, 5, 8)),
        (layers.ImageNormalization((0.5, 0.4, 0.3), (0.2, 0.2, 0.2)), (2, 4, 4, 3)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, keras.layers.Layer) else None,
)
def test_layers_serialise(layer, shape):
    x = np.random.RandomState(0).randn(*shape).astype("float32")
    expected = numpy(layer(x))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(numpy(clone(x)), expected, atol=1e-6)
