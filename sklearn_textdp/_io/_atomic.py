"""The atomic writer: an output file appears only once complete."""

import contextlib
import os
import stat
import sys
import tempfile

from ._common import OutputError


def check_output_path(path, *, overwrite=False, input_path=None):
    """Refuse an output that is the input, exists (unless ``overwrite``), or
    cannot be created.

    ``input_path`` is compared by inode, so a symbolic or hard link to the input
    is refused too, even with ``overwrite``.

    Raises
    ------
    OutputError
    """
    if path == "-":
        return
    if input_path not in (None, "-") and os.path.exists(path):
        with contextlib.suppress(OSError):
            if os.path.samefile(path, input_path):
                raise OutputError(
                    f"{path}: refusing to overwrite the input file (the output is the "
                    "input, or a link to it)"
                )
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; give a file name")
    if os.path.lexists(path) and not overwrite:
        raise OutputError(
            f"{path}: exists; refusing to overwrite it without --overwrite"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OutputError(f"{path}: directory {directory} does not exist")


def _default_mode(path):
    """Permissions of the output: those of the file replaced, else 0o666 - umask."""
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _publish(temporary, path, overwrite):
    """Move the complete temporary file to ``path`` in one atomic step."""
    if overwrite:
        os.replace(temporary, path)
        return
    # Without --overwrite, never clobber a file created while we were working:
    # a hard link fails if the name exists.
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise OutputError(
            f"{path}: created by someone else while writing; refusing to overwrite it"
        ) from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise OutputError(f"{path}: exists; refusing to overwrite it") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_output(path, *, overwrite=False, input_path=None):
    """A binary file that appears at ``path`` only once completely written.

    The data go to a hidden temporary file in the same directory (so that the final
    :func:`os.replace` is atomic), which is removed if anything goes wrong: an
    exception, Ctrl-C (KeyboardInterrupt), or any signal the caller turns into an
    exception. ``"-"`` is standard output, written as it comes.

    Parameters
    ----------
    path : str
    overwrite : bool, default=False
        Replace an existing ``path``.
    input_path : str, default=None
        Never overwrite this file (compared by inode).

    Yields
    ------
    stream : binary file object

    Raises
    ------
    OutputError

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(path) as fh:
    ...     _ = fh.write(b"done")
    ...     os.path.exists(path)
    False
    >>> open(path).read()
    'done'
    """
    if path == "-":
        stdout = getattr(sys.stdout, "buffer", None)
        if stdout is None:  # e.g. a notebook's text-only stdout
            raise OutputError(
                "standard output does not accept bytes here; give a file name"
            )
        sys.stdout.flush()
        yield stdout
        stdout.flush()
        return
    check_output_path(path, overwrite=overwrite, input_path=input_path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _default_mode(path)
    try:
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".textdp-tmp"
        )
    except OSError as exc:
        raise OutputError(
            f"{path}: cannot write in {directory}: {exc.strerror or exc}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)
        _publish(temporary, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
