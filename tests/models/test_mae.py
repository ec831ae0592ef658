"""MAE against its reference: Hugging Face's `ViTMAEForPreTraining` (a port of facebookresearch/mae)
with the same weights and the same masking noise, loaded through the weights mechanism from a
checkpoint written by `save_pretrained`; the sine-cosine tables against the official
`util/pos_embed.py`; training, saving, masking and bad input on every backend."""

import keras
import numpy as np
import pytest

import kvit
from kvit.applications.weights import load_weights, read_checkpoint
from kvit.models.mae import MAE, convert_hf_checkpoint
from kvit.testing import import_timm, timm_checkpoint
from mae_reference import MEAN, STD, hf_model, normalized, official_sincos, run_hf

TOLERANCE = 1e-4

# (encoder kwargs of kvit.models.ViT, decoder kwargs of MAE). SMALL shares its block shapes with
# the other ViT tests (JAX compiles an initializer per new shape); GRID224 has ViT-B/16's 14x14 grid
# of 196 patches (49 visible) on narrow blocks; BASE is ViT-B/16 with the official decoder (slow).
SMALL = (
    dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2),
    dict(decoder_dim=32, decoder_depth=2, decoder_heads=2),
)
GRID224 = (dict(SMALL[0], input_shape=(224, 224, 3), patch_size=16), SMALL[1])
BASE = (
    dict(input_shape=(224, 224, 3), patch_size=16, width=768, depth=12, num_heads=12),
    dict(decoder_dim=512, decoder_depth=8, decoder_heads=16),
)


def hf_checkpoint(tmp_path, model):
    model.save_pretrained(str(tmp_path / "hf"))
    return str(tmp_path / "hf" / "model.safetensors")


def kvit_mae(layout, include_preprocessing=True, **kwargs):
    encoder, decoder = layout
    vit = kvit.models.ViT(include_top=False, include_preprocessing=include_preprocessing, mean=MEAN, std=STD, **encoder)
    return MAE(vit, **decoder, **kwargs)


def images_and_noise(model, batch=2, seed=0):
    random = np.random.RandomState(seed)
    images = random.uniform(0, 255, (batch, *model.encoder.input_shape[1:])).astype("float32")
    return images, random.uniform(size=(batch, model.num_patches)).astype("float32")


def compiled(model, function, *arrays):
    """`function(*arrays)`, which uses `model`, as NumPy; on JAX as one compiled graph, which takes
    a third of the time of hundreds of eagerly compiled ops."""
    if keras.backend.backend() == "jax":
        import jax

        def stateless(values, *arrays):
            with keras.StatelessScope(state_mapping=list(zip(model.variables, values))):
                return function(*arrays)

        outputs = jax.jit(stateless)([v.value for v in model.variables], *arrays)
    else:
        outputs = function(*arrays)
    return tuple(keras.ops.convert_to_numpy(x) for x in outputs)


def run_kvit(model, images, noise):
    def forward(images, noise):
        outputs = model(images, noise=noise)
        return outputs["predictions"], outputs["mask"], model.compute_loss(x=images, y_pred=outputs, training=False)

    predictions, mask, loss = compiled(model, forward, images, noise)
    return predictions, mask, float(loss)


def assert_matches_hf(model, reference):
    images, noise = images_and_noise(model)
    pixels = normalized(images)
    # HF takes the normalised image; kvit takes [0, 255] pixels, or the normalised image when
    # built without its preprocessing.
    preprocessing = "preprocessing" in {layer.name for layer in model.encoder.layers}
    predictions, mask, loss = run_kvit(model, images if preprocessing else pixels, noise)
    expected_predictions, expected_mask, expected_loss = run_hf(reference, pixels, noise)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_allclose(predictions, expected_predictions, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(loss, expected_loss, atol=TOLERANCE, rtol=0)
    print(
        f"{keras.backend.backend()}: predictions max error {np.abs(predictions - expected_predictions).max():.2e}, "
        f"loss error {abs(loss - expected_loss):.2e} (loss {expected_loss:.4f})"
    )


@pytest.mark.parametrize("norm_pix_loss,include_preprocessing", [(True, True), (False, False)])
def test_small_layout_matches_hf(tmp_path, norm_pix_loss, include_preprocessing):
    reference = hf_model(SMALL, norm_pix_loss=norm_pix_loss)
    path = hf_checkpoint(tmp_path, reference)
    model = kvit_mae(SMALL, include_preprocessing, norm_pix_loss=norm_pix_loss)
    assert_matches_hf(load_weights(model, path, convert_hf_checkpoint), reference)
    # transformers 5's in-memory names (`vit.layers`, `q_proj`, `mlp.fc1`) map like the file's.
    in_memory = convert_hf_checkpoint({k: v.numpy() for k, v in reference.state_dict().items()})
    from_file = convert_hf_checkpoint(read_checkpoint(path)[0])
    assert sorted(in_memory) == sorted(from_file)
    for key, value in in_memory.items():
        np.testing.assert_array_equal(value, from_file[key])


def test_grid224_layout_matches_hf(tmp_path):
    reference = hf_model(GRID224)
    model = load_weights(kvit_mae(GRID224), hf_checkpoint(tmp_path, reference), convert_hf_checkpoint)
    assert_matches_hf(model, reference)


@pytest.mark.slow
def test_base_layout_matches_hf(tmp_path):
    reference = hf_model(BASE)
    model = kvit.applications.MAEViTB16(weights=hf_checkpoint(tmp_path, reference), norm_pix_loss=True)
    assert_matches_hf(model, reference)


def test_sincos_tables_are_the_official_ones_and_frozen():
    model = kvit_mae(SMALL)
    for layer in (model.encoder.get_layer("pos_embed"), model.decoder.pos_embed):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.embedding)[0], official_sincos(32, 4).astype("float32"))
        assert not layer.trainable
    trainable = {v.path for v in model.trainable_weights}
    assert "pos_embed/embedding" not in trainable and "decoder/pos_embed/embedding" not in trainable
    assert {"prefix_tokens/tokens", "decoder/mask_token", "blocks_1/attn/qkv/kernel"} <= trainable


def test_masking_is_per_image_seeded_and_the_encoder_sees_the_visible_patches_only():
    model = kvit_mae(SMALL, seed=3)
    images, noise = images_and_noise(model, batch=3)
    latent, ids_restore, mask = compiled(model, model.encode, images, noise)
    assert latent.shape == (3, 1 + model.num_visible, 32) and model.num_visible == 4
    np.testing.assert_array_equal(mask.sum(axis=1), [12, 12, 12])
    # The visible patches are the ones of lowest noise; ids_restore is a permutation.
    np.testing.assert_array_equal(mask == 0, noise <= np.sort(noise, axis=1)[:, 3:4])
    np.testing.assert_array_equal(np.sort(ids_restore, axis=1), np.tile(np.arange(16), (3, 1)))
    # Without noise the seed generator draws a new mask per call and per image.
    drawn = [keras.ops.convert_to_numpy(model.random_masking(3)[2]) for _ in range(2)]
    assert not np.array_equal(drawn[0], drawn[1]) and not np.array_equal(drawn[0][0], drawn[0][1])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kvit_mae(SMALL, seed=3).random_masking(3)[2]), drawn[0])


def test_patchify_is_the_reference_order_and_unpatchify_inverts_it():
    model = kvit_mae(SMALL)
    pixels = np.random.RandomState(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    patches = keras.ops.convert_to_numpy(model.patchify(pixels))
    # Patch (row 1, column 2), pixel (row 3, column 5), channel 2.
    np.testing.assert_array_equal(patches[:, 1 * 4 + 2, (3 * 8 + 5) * 3 + 2], pixels[:, 8 + 3, 16 + 5, 2])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.unpatchify(patches)), pixels)


def test_fit_lowers_the_loss_keeps_the_sincos_tables_and_the_model_reloads(tmp_path):
    # One block each side: tracing a training step costs time per op.
    model = kvit_mae((dict(SMALL[0], depth=1), dict(SMALL[1], decoder_depth=1)), seed=0, mask_ratio=0.5)
    images = np.random.RandomState(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    table = keras.ops.convert_to_numpy(model.encoder.get_layer("pos_embed").embedding)
    model.compile(optimizer=keras.optimizers.AdamW(2e-3))
    # Labels, when a pipeline yields them, are ignored.
    losses = model.fit(images, np.zeros(8), batch_size=4, epochs=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0], losses
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.encoder.get_layer("pos_embed").embedding), table)

    path = str(tmp_path / "mae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, MAE) and loaded.mask_ratio == 0.5 and loaded.seed == 0
    assert not loaded.encoder.get_layer("pos_embed").trainable
    images, noise = images_and_noise(model)
    np.testing.assert_allclose(run_kvit(loaded, images, noise)[0], run_kvit(model, images, noise)[0], atol=1e-6)


def test_reconstruct_returns_pixels_and_pastes_the_visible_patches():
    model = kvit_mae(SMALL)
    images, noise = images_and_noise(model)
    masked, reconstruction, pasted, mask = compiled(
        model, lambda images, noise: (*model.reconstruct(images, noise), model(images, noise=noise)["mask"]), images, noise
    )
    visible = np.repeat(np.repeat(mask.reshape(2, 4, 4) == 0, 8, axis=1), 8, axis=2)
    np.testing.assert_allclose(pasted[visible], images[visible], atol=1e-3)
    np.testing.assert_allclose(masked[visible], images[visible], atol=1e-3)
    assert reconstruction.shape == images.shape and reconstruction.min() >= 0 and reconstruction.max() <= 255


def test_classifier_takes_the_encoder_with_average_pooling_and_fc_norm():
    model = kvit_mae(SMALL)
    classifier = kvit.models.mae_classifier(model, classes=10)
    assert {"fc_norm", "head"} <= {layer.name for layer in classifier.layers}
    assert "norm" not in {layer.name for layer in classifier.layers}
    assert classifier.get_layer("pos_embed").trainable
    for name in ("patch_embed", "prefix_tokens", "pos_embed", "blocks_1"):
        for a, b in zip(classifier.get_layer(name).get_weights(), model.encoder.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert classifier.get_layer("preprocessing").std == STD and classifier.output_shape == (None, 10)


def test_timm_encoder_weights_load_into_the_encoder_and_are_refused_as_a_whole_mae(tmp_path):
    _, state, path = timm_checkpoint(
        tmp_path, "vit_base_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0
    )
    small = dict(input_shape=(32, 32, 3), patch_size=8, width=32, depth=2, num_heads=2, **SMALL[1])
    with pytest.raises(ValueError, match="encoder-only timm ViT checkpoint.*encoder_weights"):
        kvit.applications.MAEViTB16(weights=path, **small)
    with pytest.warns(UserWarning, match="the decoder is freshly initialised"):
        model = kvit.applications.MAEViTB16(encoder_weights=path, **small)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.encoder.get_layer("blocks_1").attn.qkv.kernel), state["blocks.1.attn.qkv.weight"].T
    )
    with pytest.raises(ValueError, match="not both"):
        kvit.applications.MAEViTB16(weights=path, encoder_weights=path)


def test_checkpoint_of_another_layout_is_refused_whole(tmp_path):
    path = hf_checkpoint(tmp_path, hf_model(SMALL))
    model = kvit_mae((dict(SMALL[0], depth=1), SMALL[1]))
    before = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with pytest.raises(ValueError, match="(?s)nothing was loaded.*no place for: blocks_1"):
        load_weights(model, path, convert_hf_checkpoint)
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    with pytest.raises(ValueError, match="unknown tensors.*extra"):
        convert_hf_checkpoint({"vit.embeddings.cls_token": np.zeros((1, 1, 4)), "extra.weight": np.zeros(2)})


def test_bad_mask_ratio_is_named():
    encoder = kvit.models.ViT(include_top=False, **SMALL[0])
    for mask_ratio in (0, 1, 1.5, -0.25, "0.5", True, None, 0.99, 1e-17):
        with pytest.raises(ValueError, match="`mask_ratio`"):
            MAE(encoder, mask_ratio=mask_ratio, **SMALL[1])


def test_bad_decoder_is_named():
    cases = [
        (dict(decoder_dim=30, decoder_heads=4), "`decoder_dim`=30 must be divisible by `decoder_heads`=4"),
        (dict(decoder_dim=18, decoder_heads=3), "`decoder_dim`=18 must be divisible by 4"),
        (dict(decoder_dim=0), "`decoder_dim`"),
        (dict(decoder_depth=0), "`decoder_depth`"),
        (dict(decoder_heads=2.0), "`decoder_heads`"),
    ]
    encoder = kvit.models.ViT(include_top=False, **SMALL[0])
    for decoder, message in cases:
        with pytest.raises(ValueError, match=message):
            MAE(encoder, **{**SMALL[1], **decoder})


def test_encoder_that_is_not_a_vit_is_named():
    vit = dict(SMALL[0], include_top=False)
    cases = [
        (keras.layers.Dense(4), "`encoder` must be a kvit ViT"),
        (keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 8, 8)]), "`encoder` .* is not a kvit ViT"),
        (kvit.models.ViT(**vit, global_pool="avg"), "global_pool='avg' has no final norm"),
        (kvit.models.ViT(**vit, distilled=True), "`encoder` .* 2 prefix tokens"),
    ]
    for encoder, message in cases:
        with pytest.raises(TypeError, match=message):
            MAE(encoder)


def test_image_sizes_the_patch_does_not_divide_are_named():
    with pytest.raises(ValueError, match="divisible by `patch_size`=16"):
        kvit.applications.MAEViTB16(input_shape=(200, 200, 3), depth=1, decoder_depth=1)
    model = kvit_mae(SMALL)
    with pytest.raises(ValueError, match=r"`images` must have shape \(batch, \*\(32, 32, 3\)\)"):
        model(np.zeros((1, 40, 40, 3), "float32"))


def test_presets_carry_timm_statistics_and_the_non_commercial_licence():
    timm = import_timm()
    for name, preset in kvit.applications.mae.PRESETS.items():
        cfg = timm.models.get_pretrained_cfg(preset["encoder_hub_id"].split("/", 1)[1])
        assert (preset["mean"], preset["std"], preset["image_size"]) == (cfg.mean, cfg.std, cfg.input_size[-1]), name
        assert (preset["crop_pct"], preset["interpolation"]) == (cfg.crop_pct, cfg.interpolation), name
        assert preset["license"].lower() == cfg.license == "cc-by-nc-4.0"
        assert "CC-BY-NC-4.0" in getattr(kvit.applications, name).__doc__
