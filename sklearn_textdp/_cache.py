"""In-process cache of fitted *public* artefacts (vocabularies, graphs, priors).

``GridSearchCV`` and ``cross_val_score`` clone and refit the substituters many
times; everything they build at ``fit`` depends only on the public embedding and
the parameters, so it is computed once per process. Keys start with the
embedding's SHA-256 fingerprint. Nothing derived from the private text is ever
cached.
"""

import threading
from collections import OrderedDict

__all__ = ["cached", "clear_cache"]

_MAX_ENTRIES = 16
_entries = OrderedDict()
_lock = threading.Lock()


def cached(key, compute):
    """``compute()`` once per ``key`` (least recently used entries are dropped)."""
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    value = compute()
    with _lock:
        _entries[key] = value
        while len(_entries) > _MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear_cache():
    """Forget every cached artefact (frees memory; the next fit rebuilds them)."""
    with _lock:
        _entries.clear()
