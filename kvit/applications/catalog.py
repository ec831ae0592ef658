"""`list_models`: every registered application with its size, cost, checkpoint and licence."""

from kvit.applications.registry import PRESETS, check_name, names as registered_names


def list_models(names=None, task=None):
    """Describes applications from their presets (nothing is built).

    Args:
        names: application names; None for all of them (of `task`, when given).
        task: None, `"image_classification"` or `"mae_pretraining"`.

    Returns:
        A list of dicts with `name`, `title`, `task`, `params`, `gflops` (one image at the
        default size, a multiply-add counted as two; None for the masked autoencoders), `image_size`, `hub_id` and `license`, in
        the order of `names` (by default sorted by name).
    """
    names = registered_names(task) if names is None else [check_name(name, task) for name in names]
    return [
        dict(
            name=name,
            title=PRESETS[name]["title"],
            task=PRESETS[name]["task"],
            params=PRESETS[name]["params"],
            gflops=None if PRESETS[name]["flops"] is None else PRESETS[name]["flops"] / 1e9,
            image_size=PRESETS[name]["image_size"],
            hub_id=PRESETS[name]["hub_id"],
            license=PRESETS[name]["license"],
        )
        for name in names
    ]
