"""Incremental decoding of a binary stream into lines, with located errors."""

import codecs
import io
import re

from ._common import InputError

#: Bytes read from the input at a time (the decoder's block).
_BLOCK_BYTES = 1 << 16


class _CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read through it (for progress)."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


_UNIVERSAL_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_LF_LINE = re.compile(r"[^\n]*\n")


def _normalized_encoding(encoding):
    name = codecs.lookup(encoding).name
    # A UTF-8 byte-order mark is not part of the first column's name.
    return "utf-8-sig" if name == "utf-8" else name


def decoded_lines(stream, encoding="utf-8", *, name="<input>", newline="universal"):
    """Decode a binary stream incrementally and yield its lines, endings kept.

    Unlike :class:`io.TextIOWrapper`, a decoding error names the byte offset and
    the line where it happened, including on standard input.

    Parameters
    ----------
    stream : binary file object
    encoding : str, default="utf-8"
        A UTF-8 byte-order mark at the start is skipped.
    name : str, default="<input>"
        Shown in error messages.
    newline : {"universal", "lf"}, default="universal"
        ``"universal"`` ends lines at ``\\n``, ``\\r\\n`` or ``\\r`` (what
        :mod:`csv` expects); ``"lf"`` only at ``\\n`` (JSON lines).

    Yields
    ------
    line : str

    Raises
    ------
    InputError
        If the bytes are not valid in ``encoding``.

    Examples
    --------
    >>> import io
    >>> list(decoded_lines(io.BytesIO(b"a,b\\r\\nc\\rd")))
    ['a,b\\r\\n', 'c\\r', 'd']
    >>> list(decoded_lines(io.BytesIO(b"ok\\nbad \\xff\\n")))
    Traceback (most recent call last):
    ...
    sklearn_textdp._io.InputError: <input>: not valid utf-8 text at byte 7 (line 2): \
invalid start byte 0xff; give the right --encoding (e.g. latin-1, cp1252)
    """
    encoding = _normalized_encoding(encoding)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    pattern = _UNIVERSAL_LINE if newline == "universal" else _LF_LINE
    consumed = 0  # bytes handed to the decoder so far
    lines_done = 0  # complete lines yielded so far
    pending = ""  # decoded text of the line being read
    while True:
        block = stream.read(_BLOCK_BYTES)
        final = not block
        try:
            text = decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            raise _decoding_error(
                exc, encoding, name, consumed, len(block), lines_done, pending
            ) from None
        consumed += len(block)
        data = pending + text
        position = 0
        for match in pattern.finditer(data):
            if match.end() == len(data) and data.endswith("\r") and not final:
                break  # a "\r" at the end may be the first half of "\r\n"
            yield match.group()
            lines_done += 1
            position = match.end()
        pending = data[position:]
        if final:
            if pending:
                yield pending
            return


def _decoding_error(exc, encoding, name, consumed, block_length, lines_done, pending):
    # exc.object is the decoder's leftover bytes followed by the new block.
    leftover = len(exc.object) - block_length
    offset = consumed - leftover + exc.start
    valid = exc.object[: exc.start].decode(encoding, errors="replace")
    line = lines_done + 1 + (pending + valid).count("\n")
    bad = exc.object[exc.start : exc.end].hex()
    shown = "utf-8" if encoding == "utf-8-sig" else encoding
    return InputError(
        f"{name}: not valid {shown} text at byte {offset} (line {line}): "
        f"{exc.reason} 0x{bad}; give the right --encoding (e.g. latin-1, cp1252)"
    )
