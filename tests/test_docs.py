"""Every Python block of the README and of docs/ runs as written, in a fresh interpreter of its own.

The blocks are the ```` ```python ```` fences of README.md and of every docs/**/*.md file; shell
sessions and output sit in ```` ```bash ````, ```` ```text ```` or bare fences, which are not run.
`weights="imagenet"` needs the hub: the blocks reach a local one (HF_ENDPOINT) that serves, for
any preset's hub id asked for, a timm checkpoint of that architecture with random weights, made
when it is first requested. Nothing else is prepared: each block starts in an empty folder.
"""

import glob
import os
import re
import subprocess
import sys

import pytest
from local_hub import LocalHub
from safetensors.numpy import save

from kvit import applications
from kvit.testing import create_timm_model

pytestmark = pytest.mark.once

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
)


def python_blocks(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


BLOCKS = [(page, index, block) for page in PAGES for index, block in enumerate(python_blocks(page))]


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


def test_readme_and_docs_have_blocks():
    pages = {page for page, _, _ in BLOCKS}
    assert "README.md" in pages, "no ```python block found in README.md"
    assert any(page.startswith("docs") for page in pages), "no ```python block found under docs/"


@pytest.mark.parametrize("page, index, block", BLOCKS, ids=[f"{page}-{index}" for page, index, _ in BLOCKS])
def test_block_runs_as_written(page, index, block, tmp_path):
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
            [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
    assert result.returncode == 0, f"{page}, python block {index}:\n{block}\n{result.stderr[-3000:]}"
