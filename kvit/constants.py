"""Facts that several parts of kvit share: the normalisation statistics and the evaluation crop."""

# ImageNet's per-channel mean and standard deviation of [0, 1] RGB pixels (torchvision's, timm's).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The Inception preprocessing: [0, 1] pixels mapped to [-1, 1] (ViT's AugReg checkpoints).
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
# The evaluation transform's centre crop when a checkpoint gives none: resize to size / 0.875.
DEFAULT_CROP_PCT = 0.875
