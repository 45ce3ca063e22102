"""Cache of fitted *public* artefacts (vocabularies, graphs, priors), in memory and
on disk.

``GridSearchCV`` and ``cross_val_score`` clone and refit the substituters many
times, and every new Python process fits again; everything built at ``fit``
depends only on the public embedding and the parameters. Keys start with a tag and
the embedding's SHA-256 fingerprint, followed by the parameters. Nothing derived
from the private text is ever cached.

Two layers:

- in memory, per process (least recently used entries are dropped);
- on disk, for the ``"artefacts"`` namespace (neighbour and density graphs,
  diameters, priors): one file per key in :func:`cache_directory`, so that a new
  process loads in milliseconds what took seconds or minutes to build. Files are
  written to a temporary name and moved into place with ``os.replace`` (atomic), so
  concurrent fits in several processes never read a half-written file; each file
  records its full key (with the embedding's fingerprint) and the size of its
  payload, both checked on load (a file that does not match is ignored and
  rebuilt).

The disk layer is on by default. Turn it off with the environment variable
``SKLEARN_TEXTDP_DISK_CACHE=0`` or ``set_disk_cache(False)``; move it with
``SKLEARN_TEXTDP_CACHE_DIR`` or ``set_disk_cache(directory=...)``; empty it with
``clear_cache(disk=True)``. Files are read with :mod:`pickle`: the cache directory
must only be writable by its user (as ``~/.cache`` is).
"""

import hashlib
import os
import pickle
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = [
    "cached",
    "clear_cache",
    "cache_directory",
    "set_disk_cache",
    "disk_cache_enabled",
]

#: Entries kept per namespace: graphs, priors and vocabularies are shared by
#: every epsilon; per-epsilon mechanism tables (10 MB at 20k words) get their own,
#: smaller room so that an epsilon sweep does not evict the graph.
_CAPACITY = {"artefacts": 16, "mechanisms": 6}
#: Namespaces also kept on disk.
_DISK_NAMESPACES = frozenset({"artefacts"})
#: Keys (by their first item) kept in memory only: a vocabulary holds the words
#: themselves, which a user's own embedding may not want copied into a cache
#: folder (graphs, diameters and priors hold numbers only), and it is quick to
#: rebuild.
_MEMORY_ONLY_TAGS = frozenset(
    {"vocabulary", "vocabulary-dict", "vocabulary-lengths", "vocabulary-inflections"}
)
#: Bump when the meaning of a cached value changes (a new graph construction, a
#: new field): files of another format are ignored.
_FORMAT = 1
_MAGIC = b"sklearn_textdp-cache\n"
ENV_DIRECTORY = "SKLEARN_TEXTDP_CACHE_DIR"
ENV_SWITCH = "SKLEARN_TEXTDP_DISK_CACHE"
_OFF = frozenset({"0", "false", "no", "off"})

_entries = {name: OrderedDict() for name in _CAPACITY}
_lock = threading.Lock()
_settings = {"enabled": None, "directory": None}  # None: from the environment


def cached(key, compute, namespace="artefacts"):
    """``compute()`` once per ``key``: from memory, else from disk (namespaces in
    ``_DISK_NAMESPACES``), else computed and stored in both.

    ``key`` is a tuple of str, int, float, bool, None (or tuples of them) whose
    first items identify the public embedding; the value may be anything
    picklable (arrays, dataclasses, scipy sparse matrices).
    """
    entries = _entries[namespace]
    with _lock:
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
    path = _path_for(key) if namespace in _DISK_NAMESPACES else None
    value = _load(path, key) if path is not None else _MISSING
    if value is _MISSING:
        value = compute()
        if path is not None:
            _store(path, key, value)
    with _lock:
        entries[key] = value
        while len(entries) > _CAPACITY[namespace]:
            entries.popitem(last=False)
    return value


def clear_cache(disk=False):
    """Forget every cached artefact (frees memory; the next fit rebuilds them).

    Parameters
    ----------
    disk : bool, default=False
        Also delete the files of the disk cache (in :func:`cache_directory`).
    """
    with _lock:
        for entries in _entries.values():
            entries.clear()
    if disk:
        directory = cache_directory()
        if directory.is_dir():
            for path in directory.glob("*.pkl"):
                try:
                    path.unlink()
                except OSError:
                    pass


# ------------------------------------------------------------------ settings
def set_disk_cache(enabled=True, directory=None):
    """Turn the disk cache on or off for this process, or move it.

    Parameters
    ----------
    enabled : bool or None, default=True
        None: follow the environment (``SKLEARN_TEXTDP_DISK_CACHE``; on unless it
        is "0", "false", "no" or "off").
    directory : str or path-like, default=None
        Where the files go; None: :func:`cache_directory`'s default.
    """
    _settings["enabled"] = None if enabled is None else bool(enabled)
    _settings["directory"] = None if directory is None else Path(directory)


def disk_cache_enabled():
    """Whether fitted artefacts are read from and written to disk."""
    if _settings["enabled"] is not None:
        return _settings["enabled"]
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in _OFF


def cache_directory():
    """The disk cache's folder.

    In order: ``set_disk_cache(directory=...)``, ``$SKLEARN_TEXTDP_CACHE_DIR``,
    the user cache folder of platformdirs when installed, else
    ``%LOCALAPPDATA%\\sklearn_textdp\\Cache`` (Windows),
    ``~/Library/Caches/sklearn_textdp`` (macOS) or
    ``$XDG_CACHE_HOME/sklearn_textdp`` (default ``~/.cache/sklearn_textdp``).
    """
    if _settings["directory"] is not None:
        return _settings["directory"]
    env = os.environ.get(ENV_DIRECTORY)
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        pass
    else:
        return Path(platformdirs.user_cache_dir("sklearn_textdp", appauthor=False))
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "sklearn_textdp" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "sklearn_textdp"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sklearn_textdp"


# ------------------------------------------------------------------- disk layer
_MISSING = object()
_PLAIN = (str, int, float, bool, type(None))


def _plain(key):
    if isinstance(key, tuple):
        return all(_plain(k) for k in key)
    return isinstance(key, _PLAIN)


def _path_for(key):
    """The file of ``key``, or None when the disk layer is off or the key is not
    made of plain values (its repr would not identify it across processes)."""
    if not disk_cache_enabled() or not _plain(key) or not key:
        return None
    if key[0] in _MEMORY_ONLY_TAGS:
        return None
    digest = hashlib.sha256(f"{_FORMAT}:{key!r}".encode()).hexdigest()
    tag = key[0] if key and isinstance(key[0], str) and key[0].isidentifier() else "x"
    return cache_directory() / f"{tag}-{digest[:40]}.pkl"


def _load(path, key):
    """The value stored for ``key`` at ``path``, or _MISSING (absent, unreadable,
    another key or format, or a payload of the wrong size)."""
    try:
        with open(path, "rb") as file:
            if file.read(len(_MAGIC)) != _MAGIC:
                return _MISSING
            header = pickle.load(file)
            if (
                not isinstance(header, dict)
                or header.get("format") != _FORMAT
                or header.get("key") != key
                or os.fstat(file.fileno()).st_size - file.tell() != header.get("size")
            ):
                return _MISSING
            return pickle.load(file)
    except Exception:  # unreadable, or a class that changed shape since written
        return _MISSING


def _store(path, key, value):
    """Write ``value`` atomically (temporary file, then ``os.replace``); any
    failure (read-only folder, full disk, unpicklable value) leaves no file."""
    try:
        payload = pickle.dumps(value, protocol=5)
    except Exception:
        return
    header = {"format": _FORMAT, "key": key, "size": len(payload)}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(_MAGIC)
            pickle.dump(header, file, protocol=5)
            file.write(payload)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
