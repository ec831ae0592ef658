"""Model families as configurable builders: `kvit.models.ViT(...)`."""

from kvit.models.vit import VIT_VARIANTS, ViT, distillation_outputs
