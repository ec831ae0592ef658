import pytest

from kvit import applications
from kvit.recipes import config

pytestmark = pytest.mark.once

PAPER_RECIPES = ("deit_s", "deit_s_distilled", "swin_t", "mobilevit_s", "efficientvit_b1", "mae_pretrain", "mae_finetune")


def test_every_shipped_recipe_loads_and_round_trips():
    names = config.recipe_names()
    assert set(PAPER_RECIPES) | {"quickstart", "deit_digits"} <= set(names)
    for name in names:
        recipe = config.load(name)
        assert recipe.name == name and recipe.description
        assert config.from_dict(config.tomllib.loads(config.to_toml(recipe))) == recipe


def test_papers_hyper_parameters():
    deit = config.load("deit_s")
    assert (deit.schedule.epochs, deit.data.batch_size, deit.optimizer.lr, deit.optimizer.lr_batch_size) == (300, 1024, 5e-4, 512)
    assert (deit.augment.mixup, deit.augment.cutmix, deit.augment.erasing, deit.augment.label_smoothing) == (0.8, 1.0, 0.25, 0.1)
    assert (deit.model.drop_path_rate, deit.data.repeats, deit.augment.randaugment_magnitude) == (0.1, 3, 9.0)
    assert config.load("swin_t").optimizer.clipnorm == 5.0 and config.load("swin_t").schedule.warmup_epochs == 20
    mobilevit = config.load("mobilevit_s")
    assert mobilevit.data.multiscale_sizes == [160, 192, 256, 288, 320] and mobilevit.schedule.warmup_steps == 3000
    assert config.load("mae_pretrain").task == "mae_pretraining" and config.load("mae_pretrain").mae.mask_ratio == 0.75
    assert config.load("mae_finetune").optimizer.layer_decay == 0.65
    assert config.load("efficientvit_b1").loss.kind == "bce"


def test_recipes_name_real_applications():
    # SwinT and EfficientViTB1 come from other branches; the lead's merge checks them.
    for name in PAPER_RECIPES:
        model = config.load(name).model.name
        if model in ("SwinT", "EfficientViTB1") and model not in applications.APPLICATIONS:
            continue
        assert model in applications.APPLICATIONS, (name, model)


def test_overrides():
    recipe = config.resolve(
        "deit_s",
        ["optimizer.lr=1e-3", "schedule.epochs=3", "model.args.depth=2", "data.source=/some/folder", "run.resume=false",
         "data.multiscale_sizes=[160, 192]", "model.weights=imagenet", "optimizer.clipnorm=1"],
    )
    assert recipe.optimizer.lr == 1e-3 and recipe.schedule.epochs == 3 and recipe.model.args == {"depth": 2}
    assert recipe.data.source == "/some/folder" and recipe.run.resume is False
    assert recipe.data.multiscale_sizes == [160, 192] and recipe.model.weights == "imagenet"
    assert recipe.optimizer.clipnorm == 1.0 and isinstance(recipe.optimizer.clipnorm, float)
    assert config.differences(config.load("deit_s"), recipe)[:2] == ["data.multiscale_sizes", "data.source"]


@pytest.mark.parametrize("overrides, match", [
    (["optimizer.learning_rate=1e-3"], r"Unknown recipe key\(s\) \['optimizer.learning_rate'\] in optimizer; valid keys"),
    (["optimiser.lr=1e-3"], r"Unknown recipe key\(s\) \['optimiser'\]"),
    (["schedule.epochs=many"], "'schedule.epochs' takes a int, got 'many'"),
    (["schedule.epochs=2.5"], "'schedule.epochs' takes a int"),
    (["run.resume=1"], "'run.resume' takes a bool"),
    (["optimizer=3"], "'optimizer' is a section"),
    (["epochs"], "takes key=value"),
    (["task=segmentation"], "'task' must be one of"),
])
def test_bad_overrides(overrides, match):
    with pytest.raises(ValueError, match=match):
        config.resolve("deit_s", overrides)


def test_unknown_recipes(tmp_path):
    with pytest.raises(ValueError, match="Unknown recipe 'deit_xxl'; expected one of"):
        config.load("deit_xxl")
    with pytest.raises(ValueError, match="does not exist"):
        config.load(str(tmp_path / "mine.toml"))
    (tmp_path / "mine.toml").write_text('[model]\nname = "ViTTi16"\ncolour = "red"\n')
    with pytest.raises(ValueError, match=r"\['model.colour'\]"):
        config.load(str(tmp_path / "mine.toml"))
    (tmp_path / "broken.toml").write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        config.load(str(tmp_path / "broken.toml"))
