"""The data directory's permissions: only the hub's own user may read it.

It holds password and token hashes, encrypted provider keys, the key that decrypts them, logged
bodies and console sessions. The process runs with umask 077 (new files 0600, new directories 0700),
and at start the directory and everything already in it are brought to those modes, for data dirs
made by an older release or under a looser umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private(data_dir: Path) -> None:
    """Set the umask for the process, create ``data_dir`` if need be and make it and its contents private."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    _chmod(data_dir, DIR_MODE)
    for folder, dirs, files in os.walk(data_dir):
        for name in dirs:
            _chmod(Path(folder, name), DIR_MODE)
        for name in files:
            _chmod(Path(folder, name), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    """Only what is not private already, and never through a symlink (its target is not the hub's to change)."""
    info = path.lstat()
    if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(mode)
