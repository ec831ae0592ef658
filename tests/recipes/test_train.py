"""`kvit train` end to end: resume after SIGKILL, the run folder, the best model, bad input."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from kvit import cli
from kvit.files import replacing
from kvit.recipes import train as recipes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["model.args.depth=1", "model.args.width=32", "run.tensorboard=false"]


def epochs_logged(output):
    with open(os.path.join(output, "log.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.once
def test_resumes_after_sigkill_mid_epoch(tmp_path):
    output = str(tmp_path / "run")
    command = [sys.executable, "-m", "kvit", "train", "--recipe", "quickstart", "--output", output,
               "--set", "schedule.epochs=4", "--set", "run.resume=true", "--set", "run.verbose=0",
               *[a for s in TINY for a in ("--set", s)]]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": ROOT}
    state = os.path.join(output, "checkpoints", "state.json")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and process.poll() is None:
            if os.path.isfile(state) and json.load(open(state))["epoch"] >= 2:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # into epoch 3
        assert process.poll() is None, process.stdout.read()
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
    killed_at = json.load(open(state))["epoch"]
    assert killed_at in (2, 3)  # the epoch in flight is the most that is lost
    resumed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "shuffle=True" not in resumed.stderr  # the pipeline shuffles; Keras' warning is not shown
    assert f"resuming {output} at epoch {killed_at} of 4" in resumed.stdout
    assert "held-out accuracy" in resumed.stdout
    assert epochs_logged(output) == [0, 1, 2, 3]
    assert json.load(open(state))["epoch"] == 4
    with h5py.File(os.path.join(output, "checkpoints", "epoch-0004.weights.h5")) as f:
        iterations = int(f["optimizer/vars/0"][()])
    assert iterations == 4 * (1437 // 64)  # the schedule's step went on from where it stopped
    results = json.load(open(os.path.join(output, "results.json")))
    assert results["initial_epoch"] == killed_at and results["epochs"] == 4


@pytest.mark.tensorflow
def test_run_folder_best_model_and_restarts(tmp_path, capsys):
    output = str(tmp_path / "run")
    overrides = [*TINY, "schedule.epochs=2", "optimizer.ema=true", "optimizer.ema_momentum=0.5", "data.batch_size=128"]
    result = recipes.train("deit_digits", output=output, overrides=overrides, verbose=0)
    assert "[optimizer]" in capsys.readouterr().out  # the resolved recipe is printed
    assert sorted(os.listdir(output)) == [
        "best.keras", "best.keras.json", "checkpoints", "config.toml", "deit_digits_vit.keras", "log.csv", "results.json"
    ]
    best = keras.saving.load_model(result.best_path, safe_mode=True)
    record = json.load(open(result.best_path + ".json"))
    assert record["value"] == max(result.history["val_accuracy"])
    assert best.output_shape == (None, 10) and result.accuracy is not None
    # The final model holds the EMA, which the last validation scored.
    assert result.accuracy == pytest.approx(result.history["val_accuracy"][-1], abs=1e-6)
    # The same command again finds the run complete; another recipe in the folder is refused.
    again = recipes.train("deit_digits", output=output, overrides=overrides, verbose=0, print_config=None)
    assert again.initial_epoch == 2 and epochs_logged(output) == [0, 1]
    with pytest.raises(ValueError, match=r"differs in \['optimizer.lr'\]"):
        recipes.train("deit_digits", output=output, overrides=[*overrides, "optimizer.lr=1e-2"], print_config=None)
    fresh = recipes.train("deit_digits", output=output, overrides=[*overrides, "run.resume=false"], verbose=0, print_config=None)
    assert fresh.initial_epoch == 0


@pytest.mark.tensorflow
@pytest.mark.parametrize("arguments, match", [
    (["--recipe", "nonexistent"], "Unknown recipe 'nonexistent'"),
    (["--recipe", "deit_digits", "--data", "no_such_dataset_anywhere"], "Unknown data `source`"),
    (["--recipe", "deit_digits", "--set", "augment.mixupp=0.2"], r"Unknown recipe key\(s\) \['augment.mixupp'\]"),
    (["--recipe", "mae_pretrain", "--data", "digits"], "run it with `kvit pretrain`"),
    (["--recipe", "deit_digits", "--set", "data.batch_size=5000"], "larger than the 1437 training images"),
    (["--recipe", "deit_digits", "--set", "model.name=ViTXL99"], "Unknown `model.name` 'ViTXL99'"),
])
def test_bad_input(tmp_path, capsys, arguments, match):
    assert cli.main(["train", "--output", str(tmp_path), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("kvit train: error: ") and re.search(match, error), error


@pytest.mark.tensorflow
def test_recipe_list(capsys):
    assert cli.main(["train", "--recipe", "list"]) == 0
    assert "deit_s " in capsys.readouterr().out


def test_replacing_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replacing(str(path), suffix=".keras") as temporary:
            open(temporary, "wb").write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.keras"]
    with replacing(str(path), suffix=".keras") as temporary:
        open(temporary, "wb").write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["model.keras"]
