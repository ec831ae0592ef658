"""Masked autoencoder pretraining of a ViT (He et al. 2022), as the official code builds it.

Reference: facebookresearch/mae `models_mae.py` and `util/pos_embed.py`; the tests compare with
Hugging Face's `ViTMAEForPreTraining`, a port of it.

The encoder is a kvit ViT (`kvit.models.ViT` or a `kvit.applications.ViT*` constructor, with or
without its top): MAE runs that model's own patch embedding, class token, position embedding,
blocks and final norm, on the visible patches only. Its position embedding is set to the fixed
2-D sine-cosine one and frozen. The decoder (`MAEDecoder`) is MAE's own.
"""

import numbers
import re

import keras
import numpy as np
from keras import ops

from kvit.layers import (
    ImageNormalization,
    LayerNorm,
    PatchEmbedding,
    PositionEmbedding,
    PrefixTokens,
    TransformerBlock,
    sincos_position_embedding,
)
from kvit.models import vit
from kvit.models.timm_layout import conv_kernel, linear_kernel

LAYER_NORM_EPSILON = 1e-6
NORM_PIX_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="kvit")
class MAEDecoder(keras.layers.Layer):
    """MAE's light decoder: rebuilds every patch from the encoded visible ones.

    The encoder's tokens are projected to the decoder width, a shared learned mask token fills
    the masked places, a gather by `ids_restore` puts every token back in its grid place, the
    fixed sine-cosine position embedding is added, and pre-norm transformer blocks, a norm and a
    per-patch linear head predict each patch's pixels.

    Args:
        dim: int, decoder width; divisible by `num_heads` and by 4 (the position embedding).
        depth: int, number of transformer blocks.
        num_heads: int, attention heads per block.
        grid_size: `(height, width)` of the patch grid.
        patch_pixels: int, values predicted per patch (`patch_size ** 2 * channels`).
        mlp_ratio: float, MLP hidden width over `dim`.

    Shape: `call(latent, ids_restore)` takes the encoder output `(batch, 1 + visible, width)`
        (class token first) and `(batch, grid_h * grid_w)` int positions, and returns
        `(batch, grid_h * grid_w, patch_pixels)` in grid order.
    """

    def __init__(self, dim, depth, num_heads, grid_size, patch_pixels, mlp_ratio=4.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.depth = depth
        self.num_heads = num_heads
        self.grid_size = tuple(grid_size)
        self.patch_pixels = patch_pixels
        self.mlp_ratio = mlp_ratio
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed = keras.layers.Dense(dim, name="embed")
        self.pos_embed = PositionEmbedding(self.grid_size, 1, trainable=False, name="pos_embed")
        self.blocks = [
            TransformerBlock(num_heads, mlp_ratio, True, epsilon=LAYER_NORM_EPSILON, name=f"blocks_{i}")
            for i in range(depth)
        ]
        self.norm = LayerNorm(LAYER_NORM_EPSILON, name="norm")
        self.pred = keras.layers.Dense(patch_pixels, name="pred")

    def build(self, latent_shape, ids_restore_shape=None):
        self.embed.build(latent_shape)
        self.mask_token = self.add_weight(
            shape=(1, 1, self.dim), initializer=keras.initializers.RandomNormal(stddev=0.02), name="mask_token"
        )
        tokens = (latent_shape[0], 1 + self.num_patches, self.dim)
        self.pos_embed.build(tokens)
        self.pos_embed.embedding.assign(sincos_position_embedding(self.grid_size, self.dim))
        for layer in (*self.blocks, self.norm, self.pred):
            layer.build(tokens)

    def call(self, latent, ids_restore, training=None):
        x = self.embed(latent)
        batch = ops.shape(x)[0]
        num_masked = self.num_patches - (x.shape[1] - 1)
        mask_tokens = ops.tile(ops.cast(self.mask_token, x.dtype), (batch, num_masked, 1))
        grid = ops.concatenate([x[:, 1:], mask_tokens], axis=1)
        grid = ops.take_along_axis(grid, ops.expand_dims(ids_restore, -1), axis=1)
        x = self.pos_embed(ops.concatenate([x[:, :1], grid], axis=1))
        for block in self.blocks:
            x = block(x, training=training)
        return self.pred(self.norm(x))[:, 1:]

    def compute_output_shape(self, latent_shape, ids_restore_shape=None):
        return (latent_shape[0], self.num_patches, self.patch_pixels)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
            "grid_size": self.grid_size,
            "patch_pixels": self.patch_pixels,
            "mlp_ratio": self.mlp_ratio,
        }


@keras.saving.register_keras_serializable(package="kvit")
class MAE(keras.Model):
    """Masked autoencoder (He et al. 2022): pretrains a kvit ViT encoder without labels.

    Each image is cut into patches; a random `mask_ratio` of them is masked per image (the
    patches are ranked by uniform noise and the first `int(num_patches * (1 - mask_ratio))`
    kept, as the reference does). The encoder runs on the class token and the visible patches
    only, gathered out of the sequence, so its cost falls with the mask ratio; the light
    decoder rebuilds every patch. `fit` pretrains on any backend: the loss is the mean squared
    error of the masked patches only, against per-patch normalised pixels when `norm_pix_loss`
    (`(x - mean) / (var + 1e-6) ** 0.5` over each patch, with the unbiased variance, as the
    reference). Compile with an optimizer only; the model computes its own loss.

    Pixels: the model takes `[0, 255]` images, like every kvit model. The reconstruction target
    is the image as the encoder sees it: after the encoder's own preprocessing (its `mean` and
    `std`), or the input itself for an encoder built with `include_preprocessing=False`. That is
    the reference's target space (it computes the loss on the normalised `pixel_values`), so a
    model with official weights predicts what the reference predicts. `reconstruct` maps the
    predictions back to `[0, 255]`.

    The encoder's position embedding is overwritten with the fixed 2-D sine-cosine embedding
    (zero class-token row) and frozen (its layer gets `trainable=False`), so the encoder stays a
    complete ViT that runs on whole images; `mae_classifier` turns it into a fine-tuning model.

    Args:
        encoder: a kvit ViT `keras.Model` (`kvit.models.ViT`, `kvit.applications.ViT*`, with or
            without the top) with a class token and no distillation token, built with
            `global_pool="token"` (the final norm MAE's encoder ends with).
        decoder_dim: int, decoder width; divisible by `decoder_heads` and by 4.
        decoder_depth: int, decoder blocks.
        decoder_heads: int, decoder attention heads.
        mask_ratio: float in (0, 1), fraction of patches masked per image.
        norm_pix_loss: bool, whether the target is per-patch normalised.
        seed: int or None, seed of the masking noise.
        name: model name.

    Call: `mae(images, noise=None, training=False)`. `images` `(batch, height, width, channels)`
        in [0, 255] at the encoder's input size; `noise` `(batch, num_patches)` optional uniform
        noise that decides the mask (the reference's `noise=`; drawn from `seed` when None).
        Returns a dict: `"predictions"` `(batch, num_patches, patch_size ** 2 * channels)`, the
        pixels of every patch in (row, column, channel) order, in the target space; `"mask"`
        `(batch, num_patches)`, 1 for a masked patch, 0 for a visible one.
    """

    def __init__(
        self,
        encoder,
        decoder_dim=512,
        decoder_depth=8,
        decoder_heads=16,
        mask_ratio=0.75,
        norm_pix_loss=True,
        seed=None,
        name="mae",
        **kwargs,
    ):
        layers = _vit_layers(encoder)
        _check_positive_int("decoder_depth", decoder_depth)
        _check_positive_int("decoder_heads", decoder_heads)
        _check_positive_int("decoder_dim", decoder_dim)
        if decoder_dim % decoder_heads:
            raise ValueError(
                f"`decoder_dim`={decoder_dim} must be divisible by `decoder_heads`={decoder_heads}."
            )
        if decoder_dim % 4:
            raise ValueError(
                f"`decoder_dim`={decoder_dim} must be divisible by 4 for the 2-D sine-cosine position embedding."
            )
        if isinstance(mask_ratio, bool) or not isinstance(mask_ratio, numbers.Real) or not 0 < mask_ratio < 1:
            raise ValueError(f"`mask_ratio` must be a number in (0, 1), got {mask_ratio!r}.")
        super().__init__(name=name, **kwargs)
        patch_embed = layers["patch_embed"]
        self.grid_size = tuple(patch_embed.grid_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.num_visible = int(self.num_patches * (1 - mask_ratio))
        if not 0 < self.num_visible < self.num_patches:
            raise ValueError(
                f"`mask_ratio`={mask_ratio} keeps {self.num_visible} of {self.num_patches} patches; "
                "at least one must stay visible and one be masked."
            )
        self.encoder = encoder
        self.decoder_dim = decoder_dim
        self.decoder_depth = decoder_depth
        self.decoder_heads = decoder_heads
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.seed = seed
        self.patch_size = patch_embed.patch_size
        self.channels = encoder.input_shape[-1]
        self._block_names = [layer.name for layer in layers["blocks"]]

        pos_embed = layers["pos_embed"]
        pos_embed.embedding.assign(sincos_position_embedding(self.grid_size, patch_embed.width))
        pos_embed.trainable = False
        self.decoder = MAEDecoder(
            decoder_dim,
            decoder_depth,
            decoder_heads,
            self.grid_size,
            self.patch_size**2 * self.channels,
            mlp_ratio=layers["blocks"][0].mlp_ratio,
            name="decoder",
        )
        self.decoder.build((None, 1 + self.num_visible, patch_embed.width))
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._reconstruction_loss = keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")
        self.built = True

    def _layer(self, name):
        return self.encoder.get_layer(name)

    def normalize(self, images):
        """The images as the encoder sees them: after its preprocessing, if it has one."""
        layers = {layer.name: layer for layer in self.encoder.layers}
        preprocessing = layers.get("preprocessing")
        return images if preprocessing is None else preprocessing(images)

    def patchify(self, pixels):
        """`(batch, height, width, channels)` -> `(batch, num_patches, p * p * channels)`, (h, w, p, q, c) order."""
        p, (h, w) = self.patch_size, self.grid_size
        x = ops.reshape(pixels, (-1, h, p, w, p, self.channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * w, p * p * self.channels))

    def unpatchify(self, patches):
        """The inverse of `patchify`."""
        p, (h, w) = self.patch_size, self.grid_size
        x = ops.reshape(patches, (-1, h, w, p, p, self.channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * p, w * p, self.channels))

    def random_masking(self, batch_size, noise=None):
        """Per-image random masking by sorting noise, the reference's `random_masking`.

        Args:
            batch_size: int or scalar tensor.
            noise: optional `(batch, num_patches)` floats; uniform noise from the model's seed
                generator when None. The patches of lowest noise stay visible.

        Returns:
            `(ids_keep, ids_restore, mask)`: `(batch, num_visible)` int positions of the visible
            patches, `(batch, num_patches)` int rank of each patch (the gather that un-shuffles),
            and `(batch, num_patches)` float32, 1 where a patch is masked.
        """
        if noise is None:
            noise = keras.random.uniform((batch_size, self.num_patches), seed=self.seed_generator)
        ids_shuffle = ops.argsort(noise, axis=1)
        ids_restore = ops.argsort(ids_shuffle, axis=1)
        mask = ops.cast(ids_restore >= self.num_visible, "float32")
        return ids_shuffle[:, : self.num_visible], ids_restore, mask

    def encode(self, images, noise=None, training=None):
        """Runs the encoder on the visible patches: `(latent, ids_restore, mask)`.

        `latent` is `(batch, 1 + num_visible, width)`, the class token first, after the final norm.
        """
        expected = tuple(self.encoder.input_shape[1:])
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"`images` must have shape (batch, *{expected}), got {tuple(images.shape)}.")
        tokens = self._layer("patch_embed")(self.normalize(images))
        tokens = self._layer("pos_embed")(self._layer("prefix_tokens")(tokens))
        ids_keep, ids_restore, mask = self.random_masking(ops.shape(tokens)[0], noise)
        visible = ops.take_along_axis(tokens[:, 1:], ops.expand_dims(ids_keep, -1), axis=1)
        x = self._layer("pos_drop")(ops.concatenate([tokens[:, :1], visible], axis=1), training=training)
        for name in self._block_names:
            x = self._layer(name)(x, training=training)
        return self._layer("norm")(x), ids_restore, mask

    def call(self, images, noise=None, training=None):
        latent, ids_restore, mask = self.encode(images, noise, training=training)
        predictions = self.decoder(latent, ids_restore, training=training)
        return {"predictions": predictions, "mask": mask}

    def target(self, images):
        """The reconstruction target of each patch: `(batch, num_patches, p * p * channels)`."""
        target = self.patchify(ops.cast(self.normalize(images), "float32"))
        if not self.norm_pix_loss:
            return target
        return _normalize_patches(target)[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean squared error over the masked patches (labels `y` and `sample_weight` are ignored)."""
        if y_pred is None:
            y_pred = self(x, training=training)
        loss = self._reconstruction_loss(
            self.target(x), ops.cast(y_pred["predictions"], "float32"), sample_weight=y_pred["mask"]
        )
        if self.losses:
            loss = loss + super().compute_loss(x=x, training=training)
        return loss

    def reconstruct(self, images, noise=None):
        """What the model makes of `images`: `(masked, reconstruction, pasted)`, each `(batch, h, w, c)` in [0, 255].

        `masked` is the input with its masked patches zeroed; `reconstruction` the predicted
        image; `pasted` the visible patches of the input with the predicted masked ones. With
        `norm_pix_loss` the predictions are per-patch normalised, so each predicted patch is
        given its true patch's mean and variance for display (as the reference's
        visualisations do): shape and texture are predicted, brightness and contrast copied.
        """
        outputs = self(images, noise=noise, training=False)
        predictions, mask = ops.cast(outputs["predictions"], "float32"), outputs["mask"]
        target = self.patchify(ops.cast(self.normalize(images), "float32"))
        if self.norm_pix_loss:
            _, mean, scale = _normalize_patches(target)
            predictions = predictions * scale + mean
        mask = ops.expand_dims(mask, -1)
        pixels = [target * (1 - mask), predictions, target * (1 - mask) + predictions * mask]
        return tuple(ops.clip(self._denormalize(self.unpatchify(x)), 0.0, 255.0) for x in pixels)

    def _denormalize(self, pixels):
        layers = {layer.name: layer for layer in self.encoder.layers}
        preprocessing = layers.get("preprocessing")
        if preprocessing is None:
            return pixels
        mean = ops.convert_to_tensor(preprocessing.mean, dtype=pixels.dtype)
        std = ops.convert_to_tensor(preprocessing.std, dtype=pixels.dtype)
        return (pixels * std + mean) * 255.0

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder_dim": self.decoder_dim,
            "decoder_depth": self.decoder_depth,
            "decoder_heads": self.decoder_heads,
            "mask_ratio": self.mask_ratio,
            "norm_pix_loss": self.norm_pix_loss,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"], custom_objects=custom_objects)
        return cls(**config)


def _normalize_patches(patches):
    """Per-patch `(x - mean) / (var + eps) ** 0.5` with the unbiased variance (torch's `var`)."""
    mean = ops.mean(patches, axis=-1, keepdims=True)
    centered = patches - mean
    variance = ops.sum(centered * centered, axis=-1, keepdims=True) / (patches.shape[-1] - 1)
    scale = ops.sqrt(variance + NORM_PIX_EPSILON)
    return centered / scale, mean, scale


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")


def _vit_layers(encoder):
    """The layers MAE runs out of a kvit ViT, or a TypeError that says what `encoder` lacks."""
    if not isinstance(encoder, keras.Model):
        raise TypeError(f"`encoder` must be a kvit ViT `keras.Model`, got {type(encoder).__name__}.")
    layers = {layer.name: layer for layer in encoder.layers}
    expected = {
        "patch_embed": PatchEmbedding,
        "prefix_tokens": PrefixTokens,
        "pos_embed": PositionEmbedding,
        "pos_drop": keras.layers.Dropout,
        "norm": LayerNorm,
    }
    missing = [name for name, kind in expected.items() if not isinstance(layers.get(name), kind)]
    blocks = [layers[f"blocks_{i}"] for i in range(len(layers)) if f"blocks_{i}" in layers]
    if missing or not blocks or not all(isinstance(b, TransformerBlock) for b in blocks):
        hint = " (a ViT built with global_pool='avg' has no final norm: build the encoder with 'token')" if missing == ["norm"] else ""
        raise TypeError(
            f"`encoder` {encoder.name!r} is not a kvit ViT: it lacks {missing or ['blocks_0']}{hint}. "
            "Pass `kvit.models.ViT(...)` or a `kvit.applications.ViT*` model."
        )
    if layers["prefix_tokens"].num_tokens != 1:
        raise TypeError(
            f"`encoder` {encoder.name!r} has {layers['prefix_tokens'].num_tokens} prefix tokens; MAE "
            "takes a ViT with a class token only (not a distilled DeiT)."
        )
    width = layers["patch_embed"].width
    if width % 4:
        raise ValueError(f"The `encoder` width {width} must be divisible by 4 for the sine-cosine position embedding.")
    return {**{name: layers[name] for name in expected}, "blocks": blocks}


def mae_classifier(
    encoder,
    classes=1000,
    drop_path_rate=0.1,
    dropout_rate=0.0,
    classifier_activation=None,
    head_init_stddev=2e-5,
    name=None,
):
    """The fine-tuning model of an MAE encoder: the same ViT, average-pooled, with `fc_norm` and a head.

    As the reference fine-tunes (`models_vit.py` with `global_pool`): the grid tokens are averaged
    and normalised (`global_pool="avg"`), the pretraining's final norm is dropped, `fc_norm` and
    the head start fresh (the head's kernel from a truncated normal of `head_init_stddev`), and
    the position embedding is trainable again. Train it with layer-wise learning-rate decay.

    Args:
        encoder: an `MAE` or its kvit ViT encoder.
        classes: int, classifier outputs.
        drop_path_rate: float, stochastic depth of the last block (the reference fine-tunes
            ViT-B with 0.1).
        dropout_rate: float, dropout of the blocks' projections and before the head.
        classifier_activation: activation of the top; None for logits.
        head_init_stddev: float, standard deviation of the head's initial kernel.
        name: model name; `"<encoder>_classifier"` by default.

    Returns:
        A `keras.Model` built by `kvit.models.ViT`, taking the encoder's input.
    """
    if isinstance(encoder, MAE):
        encoder = encoder.encoder
    layers = _vit_layers(encoder)
    block = layers["blocks"][0]
    preprocessing = {layer.name: layer for layer in encoder.layers}.get("preprocessing")
    channels = encoder.input_shape[-1]
    statistics = {}
    if isinstance(preprocessing, ImageNormalization):
        statistics = {
            key: tuple(value) if isinstance(value, (list, tuple)) else (value,) * channels
            for key, value in (("mean", preprocessing.mean), ("std", preprocessing.std))
        }
    model = vit.ViT(
        input_shape=tuple(encoder.input_shape[1:]),
        patch_size=layers["patch_embed"].patch_size,
        width=layers["patch_embed"].width,
        depth=len(layers["blocks"]),
        num_heads=block.num_heads,
        mlp_ratio=block.mlp_ratio,
        qkv_bias=block.qkv_bias,
        global_pool="avg",
        drop_path_rate=drop_path_rate,
        dropout_rate=dropout_rate,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=preprocessing is not None,
        name=name or f"{encoder.name}_classifier",
        **statistics,
    )
    for source in ("patch_embed", "prefix_tokens", "pos_embed", *(b.name for b in layers["blocks"])):
        model.get_layer(source).set_weights(encoder.get_layer(source).get_weights())
    head = model.get_layer("head")
    head.kernel.assign(keras.initializers.TruncatedNormal(stddev=head_init_stddev)(head.kernel.shape))
    return model


# Hugging Face `ViTMAEForPreTraining` module names, as the hub files spell them (`query`,
# `intermediate.dense`, ...) and as transformers 5 names them in memory (`q_proj`, `mlp.fc1`, ...).
_HF_BLOCK = re.compile(
    r"^(?:vit\.(?:encoder\.layer|layers)|decoder\.(?P<decoder>decoder_layers|decoder_encoder\.layer))"
    r"\.(?P<index>\d+)\.(?P<module>.+)\.(?P<param>weight|bias)$"
)
_HF_BLOCK_MODULES = {
    "attention.attention.query": "q",
    "attention.q_proj": "q",
    "attention.attention.key": "k",
    "attention.k_proj": "k",
    "attention.attention.value": "v",
    "attention.v_proj": "v",
    "attention.output.dense": "attn/proj",
    "attention.o_proj": "attn/proj",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "intermediate.dense": "mlp/fc1",
    "mlp.fc1": "mlp/fc1",
    "output.dense": "mlp/fc2",
    "mlp.fc2": "mlp/fc2",
}
_NORM_PARAMS = {"weight": "gamma", "bias": "beta"}
_HF_TENSORS = {
    "vit.embeddings.cls_token": "prefix_tokens/tokens",
    "vit.embeddings.position_embeddings": "pos_embed/embedding",
    "vit.embeddings.patch_embeddings.projection.bias": "patch_embed/proj/bias",
    "vit.layernorm.weight": "norm/gamma",
    "vit.layernorm.bias": "norm/beta",
    "decoder.decoder_embed.weight": "decoder/embed/kernel",
    "decoder.decoder_embed.bias": "decoder/embed/bias",
    "decoder.mask_token": "decoder/mask_token",
    "decoder.decoder_pos_embed": "decoder/pos_embed/embedding",
    "decoder.decoder_norm.weight": "decoder/norm/gamma",
    "decoder.decoder_norm.bias": "decoder/norm/beta",
    "decoder.decoder_pred.weight": "decoder/pred/kernel",
    "decoder.decoder_pred.bias": "decoder/pred/bias",
}


def convert_hf_checkpoint(state_dict):
    """Maps a Hugging Face `ViTMAEForPreTraining` state dict (NumPy arrays) to kvit MAE variable paths.

    The layout of the official MAE checkpoints on the hub (`facebook/vit-mae-base`, `-large`,
    `-huge`), with the names the hub files use, the ones transformers 5 writes with
    `save_pretrained`, or its in-memory ones. Separate query, key and value projections are fused
    into kvit's `qkv`. Unknown keys raise, and so does an encoder-only timm ViT checkpoint (such
    as `timm/vit_base_patch16_224.mae`), which has no decoder: load that into the encoder.

    Returns:
        dict from kvit variable path (e.g. `decoder/blocks_0/attn/qkv/kernel`) to array.
    """
    if "vit.embeddings.cls_token" not in state_dict:
        if "cls_token" in state_dict and any(k.startswith("blocks.") for k in state_dict):
            raise ValueError(
                "this is an encoder-only timm ViT checkpoint (such as timm's `*.mae` ones), with no "
                "MAE decoder; load it into the encoder instead (`encoder_weights=` of the "
                "kvit.applications MAE constructors, or `weights=` of a ViT)."
            )
        raise ValueError("not a Hugging Face ViTMAEForPreTraining checkpoint: `vit.embeddings.cls_token` is missing.")
    arrays, unknown, qkv = {}, [], {}
    for key, value in state_dict.items():
        match = _HF_BLOCK.match(key)
        if key in _HF_TENSORS:
            arrays[_HF_TENSORS[key]] = linear_kernel(value) if key.endswith("weight") and value.ndim == 2 else value
        elif key == "vit.embeddings.patch_embeddings.projection.weight":
            arrays["patch_embed/proj/kernel"] = conv_kernel(value)
        elif match and match["module"] in _HF_BLOCK_MODULES:
            layer = f"{'decoder/' if match['decoder'] else ''}blocks_{match['index']}"
            module = _HF_BLOCK_MODULES[match["module"]]
            if module in ("q", "k", "v"):
                qkv.setdefault((layer, match["param"]), {})[module] = value
            elif module.startswith("norm"):
                arrays[f"{layer}/{module}/{_NORM_PARAMS[match['param']]}"] = value
            elif match["param"] == "weight":
                arrays[f"{layer}/{module}/kernel"] = linear_kernel(value)
            else:
                arrays[f"{layer}/{module}/bias"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"not a Hugging Face ViTMAEForPreTraining checkpoint: unknown tensors {unknown[:8]}.")
    for (layer, param), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{layer}: the checkpoint lacks the {sorted({'q', 'k', 'v'} - set(parts))} {param}.")
        if param == "weight":
            arrays[f"{layer}/attn/qkv/kernel"] = np.concatenate([linear_kernel(parts[k]) for k in "qkv"], axis=1)
        else:
            arrays[f"{layer}/attn/qkv/bias"] = np.concatenate([parts[k] for k in "qkv"])
    return arrays
