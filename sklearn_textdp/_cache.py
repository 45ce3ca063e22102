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

#: Entries kept per namespace: graphs, priors and vocabularies are shared by
#: every epsilon; per-epsilon mechanism tables (10 MB at 20k words) get their own,
#: smaller room so that an epsilon sweep does not evict the graph.
_CAPACITY = {"artefacts": 16, "mechanisms": 6}
_entries = {name: OrderedDict() for name in _CAPACITY}
_lock = threading.Lock()


def cached(key, compute, namespace="artefacts"):
    """``compute()`` once per ``key`` (least recently used entries are dropped)."""
    entries = _entries[namespace]
    with _lock:
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
    value = compute()
    with _lock:
        entries[key] = value
        while len(entries) > _CAPACITY[namespace]:
            entries.popitem(last=False)
    return value


def clear_cache():
    """Forget every cached artefact (frees memory; the next fit rebuilds them)."""
    with _lock:
        for entries in _entries.values():
            entries.clear()
