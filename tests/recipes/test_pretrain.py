"""`kvit pretrain` end to end on the embedded digits: the run folder, the reconstruction PNGs, the
encoder that fine-tuning loads, resuming a finished run, and recipes it refuses."""

import csv
import json
import os

import keras
import numpy as np
import pytest

import kvit
from kvit import cli
from kvit.models.mae import MAE
from kvit.recipes import pretrain

pytestmark = pytest.mark.tensorflow

SMALL = [
    "--set", "model.args={patch_size = 4, width = 32, depth = 1, num_heads = 2, mlp_ratio = 2.0}",
    "--set", "mae.decoder_dim=32", "--set", "mae.decoder_depth=1", "--set", "mae.decoder_heads=2",
    "--set", "data.batch_size=128", "--set", "schedule.epochs=2", "--set", "schedule.warmup_epochs=1.0",
    "--set", "run.validate=none",  # tracing a test step costs time; fit's validation is Keras' own
]


def test_pretrain_on_digits_writes_the_run_and_resumes(tmp_path, capsys):
    output = str(tmp_path / "run")
    assert cli.main(["pretrain", "--output", output, "--grid-images", "3", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert 'task = "mae_pretraining"' in printed and "final loss" in printed

    grids = sorted(os.listdir(os.path.join(output, "reconstructions")))
    assert grids == ["epoch-0001.png", "epoch-0002.png"]
    with open(os.path.join(output, "reconstructions", grids[-1]), "rb") as f:
        png = f.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # 3 rows of 4 panels of 32x32 digits drawn 4x, with 2-pixel gaps: width 4 * 130 + 2, height 3 * 130 + 2.
    assert int.from_bytes(png[16:20], "big") == 522 and int.from_bytes(png[20:24], "big") == 392
    with open(os.path.join(output, "log.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"] and float(rows[1]["loss"]) < float(rows[0]["loss"])
    with open(os.path.join(output, "results.json")) as f:
        assert json.load(f)["epochs"] == 2

    model = keras.saving.load_model(os.path.join(output, "mae.keras"), safe_mode=True)
    assert isinstance(model, MAE) and model.encoder.input_shape == (None, 32, 32, 1) and model.num_visible == 16
    # The encoder file is what fine-tuning with average pooling starts from: it loads strictly,
    # leaving fc_norm and the head fresh.
    classifier = kvit.models.ViT(
        input_shape=(32, 32, 1), patch_size=4, width=32, depth=1, num_heads=2, mlp_ratio=2.0, global_pool="avg", classes=10
    )
    with pytest.warns(UserWarning, match="fc_norm.*head"):
        kvit.applications.load_weights(classifier, os.path.join(output, "encoder.safetensors"), None, ("fc_norm", "head"))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(classifier.get_layer("blocks_0").attn.qkv.kernel),
        keras.ops.convert_to_numpy(model.encoder.get_layer("blocks_0").attn.qkv.kernel),
    )

    # The same command again finds the finished run: it resumes at its last epoch and trains no more.
    assert cli.main(["pretrain", "--output", output, "--grid-images", "3", *SMALL]) == 0
    assert "resuming" in capsys.readouterr().out
    again = keras.saving.load_model(os.path.join(output, "mae.keras"), safe_mode=True)
    for a, b in zip(again.weights, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with open(os.path.join(output, "log.csv")) as f:
        assert len(list(csv.DictReader(f))) == 2


def test_pretrain_refuses_other_tasks_and_encoders(tmp_path, capsys):
    assert cli.main(["pretrain", "--recipe", "quickstart", "--output", str(tmp_path)]) == 2
    assert "run it with `kvit train`" in capsys.readouterr().err
    distilled = "model.args={patch_size = 4, width = 32, depth = 1, num_heads = 2, distilled = true}"
    with pytest.raises(ValueError, match="`model.name` 'ViT' cannot be an MAE encoder.*2 prefix tokens"):
        pretrain.build_mae(kvit.recipes.config.resolve("mae_digits", [distilled]))
    with pytest.raises(ValueError, match="`model.name` 'Swin' cannot be an MAE encoder"):
        pretrain.build_mae(kvit.recipes.config.resolve("mae_digits", ["model.name=Swin"]))


def test_grid_image_lays_panels_out_in_columns():
    panels = [np.full((2, 3, 3, 1), value, "float32") for value in (0, 100, 200)]
    grid = pretrain.grid_image(panels, scale=2, gap=1)
    assert grid.shape == (2 * 7 + 1, 3 * 7 + 1, 1) and grid.dtype == np.uint8
    assert grid[1, 1, 0] == 0 and grid[1, 8, 0] == 100 and grid[8, 15, 0] == 200 and grid[0, 0, 0] == 255
