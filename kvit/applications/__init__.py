"""Named constructors in the keras.applications style: `kvit.applications.ViTS16(weights=...)`.

Each family module registers its constructors (`registry.register`) as it is imported;
`APPLICATIONS` and `PRESETS` hold every one, MAE's pretraining models included.
"""

from kvit.applications.catalog import list_models
from kvit.applications.efficientvit import *  # noqa: F403
from kvit.applications.imagenet import decode_predictions, imagenet_classes
from kvit.applications.mae import *  # noqa: F403
from kvit.applications.mobilevit import *  # noqa: F403
from kvit.applications.registry import APPLICATIONS, PRESETS, check_name, get, names
from kvit.applications.swin import *  # noqa: F403
from kvit.applications.vit import *  # noqa: F403
from kvit.applications.weights import load_weights
