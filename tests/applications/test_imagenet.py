import numpy as np
import pytest

import kvit
from kvit.testing import import_timm


def test_class_names_are_timms_imagenet_classes_in_order():
    info = import_timm().data.ImageNetInfo()
    classes = kvit.applications.imagenet_classes()
    assert len(classes) == 1000
    for index, (wordnet_id, name) in enumerate(classes):
        assert wordnet_id == info.index_to_label_name(index)
        assert name == info.index_to_description(index).split(", ")[0]


def test_decode_predictions_in_the_keras_applications_shape():
    scores = np.full((2, 1000), 0.0001, "float32")
    scores[0, [1, 2, 0]] = [0.5, 0.3, 0.2]
    scores[1, 999] = 0.9
    first, second = kvit.applications.decode_predictions(scores, top=3)
    assert [(c, n) for c, n, _ in first] == [("n01443537", "goldfish"), ("n01484850", "great white shark"),
                                            ("n01440764", "tench")]
    assert [s for _, _, s in first] == pytest.approx([0.5, 0.3, 0.2])
    assert second[0][:2] == ("n15075141", "toilet tissue") and len(second) == 3


@pytest.mark.parametrize("preds, top, match", [
    (np.zeros((2, 10)), 5, r"`preds` must be a batch of ImageNet-1k scores, shape \(batch, 1000\); got shape \(2, 10\)"),
    (np.zeros(1000), 5, "`preds`"),
    (np.zeros((1, 1000)), 0, "`top` must be an int in"),
    (np.zeros((1, 1000)), 2.5, "`top`"),
])
def test_bad_predictions(preds, top, match):
    with pytest.raises(ValueError, match=match):
        kvit.applications.decode_predictions(preds, top=top)
