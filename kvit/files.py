"""Writing files so that a reader never meets half of one."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_output(path):
    """Yields a temporary path to write `path`'s new content to; on success it becomes `path`.

    The temporary file is in the same folder, named with a leading dot and ending in `.tmp` plus
    `path`'s own suffix (Keras picks its format by suffix), so `model.save(temporary)` works.
    When the block ends without an error, the file is flushed to disk and renamed over `path`:
    a reader sees the old file or the whole new one, never part. On an error the temporary file
    is removed and `path` is untouched; a process killed half way leaves at most a stray
    temporary file, never a truncated `path`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    suffix = name[name.find("."):] if "." in name.lstrip(".") else ""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        yield temporary
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the file private
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Makes a rename in `folder` durable (where the system lets a folder be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, data):
    """Writes `data` (bytes) to `path` atomically (see `atomic_output`)."""
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
