"""Checkpoints a killed run resumes from, and the best model, written so a kill never leaves a bad file.

`TrainingCheckpoint` saves the model's weights with the optimizer's state (its step, so the
learning-rate schedule, its moments, the EMA) at the end of every epoch, and restores the last
complete one: a run killed at any moment and started again loses at most the epoch in flight.
`BestModel` keeps the best model by a validation metric as a `.keras` file. Every file is
written to a temporary name in its folder and renamed over the old one (`kvit.files`), and the
state file that names the checkpoint is written last, so a file is trusted only once whole.
"""

import json
import os

import keras

from kvit.files import atomic_write, replacing

STATE_FILE = "state.json"


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves `(weights, optimizer state, epoch)` every epoch into `directory`; `restore` resumes.

    Files: `epoch-NNNN.weights.h5` (the latest only) and `state.json`, `{"epoch": N, "weights":
    file name}`, written after the weights, so it only ever names a complete file.

    Args:
        directory: folder of the checkpoints (created).
        model: the model whose state to save; default the model `fit` trains.
    """

    def __init__(self, directory, model=None):
        super().__init__()
        self.directory = directory
        self._saved_model = model

    def _target(self):
        return self._saved_model or self.model

    def restore(self, model=None):
        """Loads the last complete checkpoint into `model` (compiled); returns its epoch count, 0 if none."""
        model = model or self._target()
        state = read_state(self.directory)
        if state is None:
            return 0
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.directory, state["weights"]))
        return int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        path = os.path.join(self.directory, name)
        with replacing(path, suffix=".weights.h5") as temporary:
            self._target().save_weights(temporary)
        atomic_write(os.path.join(self.directory, STATE_FILE), json.dumps({"epoch": epoch + 1, "weights": name}).encode())
        for old in os.listdir(self.directory):
            if old.startswith("epoch-") and old.endswith(".weights.h5") and old != name:
                os.unlink(os.path.join(self.directory, old))


def read_state(directory):
    """The last complete checkpoint's `{"epoch", "weights"}` in `directory`, or None."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        state = json.load(f)
    if not os.path.isfile(os.path.join(directory, state["weights"])):
        raise ValueError(f"{path} names {state['weights']!r}, which is missing: the checkpoint folder was changed by hand.")
    return state


class BestModel(keras.callbacks.Callback):
    """Saves the model as `.keras` whenever `monitor` improves; the best value survives a restart.

    The value is kept beside the model in `<path>.json`, written after it, so a resumed run
    replaces the file only with a better model.

    Args:
        path: the `.keras` file.
        monitor: the logged metric, e.g. `"val_accuracy"`.
        mode: `"max"` or `"min"`.
        model: the model to save (a distilled student, say); default the model `fit` trains.
    """

    def __init__(self, path, monitor="val_accuracy", mode="max", model=None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min', got {mode!r}.")
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self._saved_model = model
        self.best = None
        record = f"{path}.json"
        if os.path.isfile(record) and os.path.isfile(path):
            with open(record) as f:
                saved = json.load(f)
            if saved.get("monitor") == monitor:
                self.best = saved["value"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self.best is not None and not (value > self.best if self.mode == "max" else value < self.best):
            return
        self.best = value
        with replacing(self.path, suffix=".keras") as temporary:
            (self._saved_model or self.model).save(temporary)
        record = {"monitor": self.monitor, "value": value, "epoch": epoch + 1}
        atomic_write(f"{self.path}.json", json.dumps(record).encode())
