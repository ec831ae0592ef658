"""Model families as configurable builders: `kvit.models.ViT(...)`, and their one feature API."""

from kvit.models.efficientvit import EFFICIENTVIT_VARIANTS, EfficientViT
from kvit.models.features import FeatureLevel, feature_extractor, feature_levels
from kvit.models.mae import MAE, MAEDecoder, mae_classifier
from kvit.models.mobilevit import MOBILEVIT_V2_VARIANTS, MOBILEVIT_VARIANTS, MobileViT, MobileViTV2
from kvit.models.segmentation import EfficientViTSeg
from kvit.models.swin import SWIN_V2_VARIANTS, SWIN_VARIANTS, SwinTransformer, SwinTransformerV2
from kvit.models.vit import VIT_VARIANTS, ViT, distillation_outputs, vit_config
