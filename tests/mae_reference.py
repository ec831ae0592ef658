"""Hugging Face's `ViTMAEForPreTraining` (a port of facebookresearch/mae), the numerical oracle of the
MAE tests, and the official sine-cosine tables."""

import numpy as np
import torch

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def official_sincos(embed_dim, grid_size):
    """facebookresearch/mae `util/pos_embed.py: get_2d_sincos_pos_embed(..., cls_token=True)`, transcribed."""

    def one_dimension(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
        out = np.einsum("m,d->md", pos.reshape(-1), 1.0 / 10000**omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.stack(np.meshgrid(np.arange(grid_size, dtype=np.float32), np.arange(grid_size, dtype=np.float32)), axis=0)
    grid = grid.reshape([2, 1, grid_size, grid_size])
    emb = np.concatenate([one_dimension(embed_dim // 2, grid[0]), one_dimension(embed_dim // 2, grid[1])], axis=1)
    return np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)


def hf_model(layout, norm_pix_loss=True, seed=0):
    """A `ViTMAEForPreTraining` of `layout` with noise on every weight, in eval mode."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    encoder, decoder = layout
    config = ViTMAEConfig(
        image_size=encoder["input_shape"][0],
        patch_size=encoder["patch_size"],
        hidden_size=encoder["width"],
        num_hidden_layers=encoder["depth"],
        num_attention_heads=encoder["num_heads"],
        intermediate_size=4 * encoder["width"],
        decoder_hidden_size=decoder["decoder_dim"],
        decoder_num_hidden_layers=decoder["decoder_depth"],
        decoder_num_attention_heads=decoder["decoder_heads"],
        decoder_intermediate_size=4 * decoder["decoder_dim"],
        layer_norm_eps=1e-6,  # the official models' epsilon (transformers' default is 1e-12)
        norm_pix_loss=norm_pix_loss,
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = ViTMAEForPreTraining(config).eval()
    grid = encoder["input_shape"][0] // encoder["patch_size"]
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # transformers 5 leaves a fresh model's sine-cosine tables at zero: set them, then noise all.
        model.vit.embeddings.position_embeddings.copy_(torch.from_numpy(official_sincos(encoder["width"], grid))[None])
        model.decoder.decoder_pos_embed.copy_(torch.from_numpy(official_sincos(decoder["decoder_dim"], grid))[None])
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.05)
    return model


def normalized(images):
    return ((images / 255.0 - np.float32(MEAN)) / np.float32(STD)).astype("float32")


def run_hf(model, pixels, noise):
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()), noise=torch.from_numpy(noise))
    return out.logits.numpy(), out.mask.numpy(), float(out.loss)
