"""Writing files so that a reader never meets half of one."""

import contextlib
import os
import tempfile


def atomic_write(path, data):
    """Writes `data` (bytes) to `path`: a reader sees the old file or the whole new one, never part.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is then
    renamed over `path`; a process killed half way leaves at most a stray temporary file, whose
    name starts with a dot and ends in `.tmp`, never a truncated `path`.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the file private
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
