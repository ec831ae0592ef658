"""Model families as configurable builders: `kvit.models.ViT(...)`."""

from kvit.models.mobilevit import MOBILEVIT_V2_VARIANTS, MOBILEVIT_VARIANTS, MobileViT, MobileViTV2
from kvit.models.vit import VIT_VARIANTS, ViT, distillation_outputs, vit_config
