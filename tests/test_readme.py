"""Every Python snippet of the README runs as written, in a fresh interpreter of its own.

`weights="imagenet"` needs the hub: the snippets reach a local one (HF_ENDPOINT) that serves, for
any preset's hub id asked for, a timm checkpoint of that architecture with random weights, made
when it is first requested. Nothing else is prepared: each snippet starts in an empty folder.
"""

import os
import re
import subprocess
import sys

import pytest
from local_hub import LocalHub
from reference import create_timm_model
from safetensors.numpy import save

from kvit import applications

pytestmark = pytest.mark.once

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    SNIPPETS = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


class RandomCheckpoints(dict):
    """`/<hub_id>/resolve/main/model.safetensors` -> bytes of a random timm checkpoint, made on request."""

    HUB_IDS = {preset["hub_id"] for preset in applications.PRESETS.values()} | {
        overrides["hub_id"]
        for preset in applications.PRESETS.values()
        for overrides in preset.get("resolutions", {}).values()
    }

    def get(self, path, default=None):
        if path not in self:
            match = re.fullmatch(r"/(timm/.+)/resolve/main/model\.safetensors", path)
            if not match or match[1] not in self.HUB_IDS:
                return default
            _, state = create_timm_model(match[1].removeprefix("timm/"))
            self[path] = save(state)
        return self[path]


def test_readme_has_snippets():
    assert SNIPPETS, "no ```python block found in README.md"


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_as_written(index, tmp_path):
    with LocalHub(RandomCheckpoints()) as hub:
        env = {
            **os.environ,
            "KERAS_BACKEND": "tensorflow",
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf"),
            "KERAS_HOME": str(tmp_path / "keras"),
            "PYTHONPATH": ROOT,
        }
        result = subprocess.run(
            [sys.executable, "-c", SNIPPETS[index]], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=900,
        )
    assert result.returncode == 0, f"README snippet {index}:\n{SNIPPETS[index]}\n{result.stderr[-3000:]}"
