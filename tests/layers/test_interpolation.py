import keras
import numpy as np
import pytest
import torch

from kvit.layers import resize_bilinear


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("old_size, new_size", [((7, 9), (8, 10)), ((16, 20), (16, 19)), ((5, 6), (12, 3)), ((4, 4), (1, 1))])
def test_matches_torch_interpolate(align_corners, old_size, new_size):
    x = np.random.default_rng(0).normal(size=(2, *old_size, 3)).astype("float32")
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(x.transpose(0, 3, 1, 2)), size=new_size, mode="bilinear", align_corners=align_corners
    ).numpy().transpose(0, 2, 3, 1)
    output = resize_bilinear(keras.ops.convert_to_tensor(x), new_size, align_corners=align_corners)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(output), expected, atol=1e-6, rtol=0)


def test_same_size_is_identity():
    x = keras.ops.ones((1, 4, 6, 2))
    assert resize_bilinear(x, (4, 6)) is x
