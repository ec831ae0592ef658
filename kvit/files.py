"""Writing files so that a reader never meets half of one."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def replacing(path, suffix=".tmp"):
    """Yields a temporary path beside `path`; on a clean exit the file written there replaces `path`.

    For writers that take a path (`model.save`, `model.save_weights`): a reader sees the old file
    or the whole new one, never part. The temporary name starts with a dot and ends in `suffix`
    (some writers check the extension); a process killed half way leaves at most that stray file,
    never a truncated `path`; on an exception it is removed and `path` is untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        yield temporary
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the file private
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def atomic_write(path, data):
    """Writes `data` (bytes) to `path`: a reader sees the old file or the whole new one, never part.

    The bytes go to a temporary file in the same folder (see `replacing`), are flushed to disk,
    and the file is then renamed over `path`.
    """
    with replacing(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
