"""Without the extras (`pip install kvit`), the command line and `import kvit` still work.

CI installs the bare package in a clean virtual environment and runs `kvit --help` and
`kvit list` (`.ci/run`); here the missing LiteRT extra is simulated in this environment, so the
check runs with the suite too.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.once

# Runs the `kvit` entry point as if `ai_edge_litert` were not installed.
WITHOUT_LITERT = textwrap.dedent(
    """
    import sys

    class NoLiteRT:
        def find_spec(self, name, path=None, target=None):
            if name == "ai_edge_litert" or name.startswith("ai_edge_litert."):
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, NoLiteRT())
    import kvit_cli
    sys.exit(kvit_cli.main(sys.argv[1:]))
    """
)


def kvit_without_litert(*argv, home):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "KERAS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_LITERT, *argv], env=env, capture_output=True, text=True, timeout=600
    )


def test_help_and_list_work_without_litert(tmp_path):
    assert kvit_without_litert("--help", home=tmp_path).returncode == 0
    listing = kvit_without_litert("list", "ViTTi16", home=tmp_path)
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert listing.stdout.splitlines()[1].startswith("ViTTi16")


def test_running_a_tflite_file_without_litert_names_the_extra(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"\0\0\0\0TFL3" + b"\0" * 8)  # a header; LiteRT is needed past it
    result = kvit_without_litert("bench", str(model), home=tmp_path)
    assert result.returncode == 2
    assert 'pip install "kvit[tflite]"' in result.stderr, result.stderr[-2000:]
