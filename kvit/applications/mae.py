"""MAE pretraining models with the official checkpoints: `kvit.applications.MAEViTB16(weights=...)`.

Two kinds of official weights load, both released by Meta under CC-BY-NC-4.0 (non-commercial):
the whole masked autoencoder (encoder and decoder) in Hugging Face's layout, `facebook/vit-mae-*`
(`weights=`), and timm's copies of the pretrained encoders, `timm/vit_*_224.mae`
(`encoder_weights=`), which have no decoder. They are registered with the task
`"mae_pretraining"`: pretraining models, not classifiers or backbones; `kvit.models.mae_classifier`
fine-tunes their encoder.
"""

import warnings

from kvit.applications import registry
from kvit.applications.weights import load_weights
from kvit.constants import IMAGENET_MEAN, IMAGENET_STD
from kvit.models import mae, vit

__all__ = [
    "MAEViTB16",
    "MAEViTL16",
    "MAEViTH14",
]

IMAGENET_STATS = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
LICENSE = "CC-BY-NC-4.0"
# The official decoder of every size (`models_mae.py`): 512 wide, 8 blocks, 16 heads.
DECODER = dict(decoder_dim=512, decoder_depth=8, decoder_heads=16)


def _preset(title, variant, patch_size, hub_id, encoder_hub_id):
    return dict(
        title=title,
        task=registry.MAE_PRETRAINING,
        image_size=224,
        crop_pct=0.9,
        interpolation="bicubic",
        hub_id=hub_id,
        encoder_hub_id=encoder_hub_id,
        license=LICENSE,
        config=vit.vit_config(variant, patch_size),
        decoder=DECODER,
        **IMAGENET_STATS,
    )


PRESETS = {
    "MAEViTB16": _preset("MAE ViT-B/16", "base", 16, "facebook/vit-mae-base", "timm/vit_base_patch16_224.mae"),
    "MAEViTL16": _preset("MAE ViT-L/16", "large", 16, "facebook/vit-mae-large", "timm/vit_large_patch16_224.mae"),
    "MAEViTH14": _preset("MAE ViT-H/14", "huge", 14, "facebook/vit-mae-huge", "timm/vit_huge_patch14_224.mae"),
}

_DOC = """Builds the {title} masked autoencoder (He et al. 2022): a ViT encoder and the official decoder.

Pretrain it with `fit` (see `kvit.models.MAE`); fine-tune its encoder with
`kvit.models.mae_classifier(model, classes)`.

Args:
    weights: None (random initialisation), `"imagenet"` (the official ImageNet-1k MAE, encoder
        and decoder, `{hub_id}` in Hugging Face's layout; licence {license}, non-commercial use
        only; downloaded once, converted and cached), or the path of a kvit `.keras`/
        `.weights.h5` MAE file or a Hugging Face `ViTMAEForPreTraining` `.safetensors`/`.bin`.
        An encoder-only checkpoint is refused here: pass it as `encoder_weights`.
    encoder_weights: None, `"imagenet"` (timm's copy of the official pretrained encoder,
        `{encoder_hub_id}`, licence {license}) or the path of a ViT checkpoint (timm or kvit
        layout, no classifier): loads the encoder only, the decoder stays freshly initialised
        (with a warning). Not together with `weights`.
    input_shape: `(height, width, channels)`; default `{default_shape}`. Pretrained weights need
        3 channels, and `weights` the checkpoint's size; `encoder_weights` load at any size the
        patch divides (the position embedding is the sine-cosine table of the new grid).
    include_preprocessing: bool, whether the model takes [0, 255] pixels and normalises them
        with the checkpoint's statistics (mean {mean}, std {std}); the reconstruction target is
        the normalised image, as in the reference.
    mask_ratio: float in (0, 1), fraction of patches masked per image.
    norm_pix_loss: bool, per-patch normalised targets. The hub checkpoints are the official
        "visualize" ones, trained on plain pixels (False); the paper's pretraining uses True.
    seed: int or None, seed of the masking noise.
    **kwargs: `decoder_dim`, `decoder_depth`, `decoder_heads` to change the decoder (the
        official one is 512 wide, 8 blocks, 16 heads), and further arguments of
        `kvit.models.ViT` for the encoder (e.g. `drop_path_rate`).

Returns:
    A `kvit.models.MAE`.
"""


def make_mae_application(name, preset, figures):
    """Returns the named MAE constructor for one preset, registered under `name`.

    `figures` are `(params, None)`: the whole autoencoder's parameters, and no FLOP count (see
    `registry.register`).
    """

    def constructor(
        weights=None,
        encoder_weights=None,
        input_shape=None,
        include_preprocessing=True,
        mask_ratio=0.75,
        norm_pix_loss=False,
        seed=None,
        **kwargs,
    ):
        if weights is not None and encoder_weights is not None:
            raise ValueError(
                "Pass `weights` (the whole MAE) or `encoder_weights` (the encoder only), not both."
            )
        decoder = {key: kwargs.pop(key, value) for key, value in preset["decoder"].items()}
        size = preset["image_size"]
        input_shape = tuple(input_shape) if input_shape is not None else (size, size, 3)
        if (weights is not None or encoder_weights is not None) and input_shape[-1] != 3:
            raise ValueError(
                f"`input_shape` {input_shape} has {input_shape[-1]} channels; pretrained weights expect 3."
            )
        encoder = vit.ViT(
            input_shape=input_shape,
            include_top=False,
            include_preprocessing=include_preprocessing,
            mean=preset["mean"],
            std=preset["std"],
            name=f"{name.lower()}_encoder",
            **{**preset["config"], **kwargs},
        )
        load_weights(encoder, encoder_weights, vit.convert_timm_checkpoint, (), preset["encoder_hub_id"])
        # MAE sets the encoder's position embedding to the sine-cosine table of its grid: the
        # table the checkpoints hold at 224, and the right one at any other size.
        model = mae.MAE(
            encoder,
            mask_ratio=mask_ratio,
            norm_pix_loss=norm_pix_loss,
            seed=seed,
            name=name.lower(),
            **decoder,
        )
        if encoder_weights is not None:
            source = preset["encoder_hub_id"] if encoder_weights == "imagenet" else encoder_weights
            warnings.warn(
                f"{name}: `encoder_weights` {str(source)!r} hold the encoder only; the decoder is "
                "freshly initialised, so pretrain it before reading reconstructions.",
                stacklevel=2,
            )
        return load_weights(model, weights, mae.convert_hf_checkpoint, (), preset["hub_id"])

    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = _DOC.format(default_shape=(preset["image_size"], preset["image_size"], 3), **preset)
    params, flops = figures
    return registry.register(name, constructor, {**preset, "params": params, "flops": flops})


# Parameters of each autoencoder, decoder included, for `list_models` (the tests count them again).
# No FLOPs: `count_flops` reads a functional model's one call, and an MAE's masks vary per step.
FIGURES = {
    "MAEViTB16": (111_907_840, None),
    "MAEViTL16": (329_541_888, None),
    "MAEViTH14": (657_074_508, None),
}

_APPLICATIONS = {name: make_mae_application(name, preset, FIGURES[name]) for name, preset in PRESETS.items()}
MAEViTB16 = _APPLICATIONS["MAEViTB16"]
MAEViTL16 = _APPLICATIONS["MAEViTL16"]
MAEViTH14 = _APPLICATIONS["MAEViTH14"]
