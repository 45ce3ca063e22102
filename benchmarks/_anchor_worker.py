"""Run mldp-text 0.1.2 (the anchor) on request; called by the benchmark scripts.

Runs in an interpreter that has ``mldp-text==0.1.2`` (and gensim, faiss-cpu, nltk)
installed, usually a separate virtual environment, because mldp-text pins
``numpy<2`` and ``scipy<1.13``. Reads one JSON request on stdin and prints one
JSON line on stdout::

    {"threads": 1,
     "embedding": "/path/vocabulary.npz",     # arrays words, vectors (float32)
     "tasks": [{"id": "...", "class": "MultivariateCalibrated",
                "kwargs": {"use_faiss": true}, "epsilon": 8.0,
                "mode": "time" | "pd", "words": [...], "trials": 100,
                "seed": 0}]}

``mode="time"``: constructor time, then ``replace_word`` on every word once
(after 5 warm-up calls): words per second. ``mode="pd"``: ``trials`` calls per
word: ``N_w`` (share returning the word), ``S_w`` (distinct outputs) and
``S_w_other`` (distinct outputs other than the word).

The anchor is used exactly as published except where it cannot run: the
``TruncatedGumbel`` constructor crashes on Python >= 3.11 unless it is given
``max_inter_dist`` and ``min_inter_dist`` (the benchmark scripts pass the exact
values of our neighbour graph, or a one-random-word estimate to emulate its
default).
"""

import contextlib
import io
import json
import os
import random
import sys
import time


def _versions():
    from importlib.metadata import version

    out = {}
    for name in ("mldp-text", "numpy", "scipy", "faiss-cpu", "gensim"):
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "not installed"
    return out


def main():
    request = json.loads(sys.stdin.read())
    threads = int(request.get("threads", 1))
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/nbcache")
    import numpy as np
    from gensim.models import KeyedVectors
    from threadpoolctl import threadpool_limits

    # mldp-text tries to download NLTK's wordnet at import (for SynTF, unused
    # here); keep its messages off our stdout.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        import faiss
        import mldp_text

    faiss.omp_set_num_threads(threads)
    data = np.load(request["embedding"])
    words = [str(w) for w in data["words"]]
    vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors)
    vocab = set(words)
    results = {}
    with threadpool_limits(threads):
        for task in request["tasks"]:
            results[task["id"]] = _run(task, kv, vocab, vectors.shape[1], mldp_text, np)
    print(
        json.dumps(
            {
                "results": results,
                "versions": _versions(),
                "n_words": len(words),
                "dim": int(vectors.shape[1]),
            }
        )
    )


def _clock(name):
    return time.process_time if name == "cpu" else time.perf_counter


def _run(task, kv, vocab, dim, mldp_text, np):
    now = _clock(task.get("clock", "wall"))
    seed = int(task.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    cls = getattr(mldp_text, task["class"])
    kwargs = dict(task.get("kwargs", {}))
    try:
        t0 = now()
        with contextlib.redirect_stdout(io.StringIO()):
            mech = cls(
                epsilon=float(task["epsilon"]),
                embedding_matrix=kv,
                dim=dim,
                vocab=vocab,
                **kwargs,
            )
        init_s = now() - t0
    except Exception as exc:  # report, do not crash the whole run
        return {"error": f"{type(exc).__name__}: {exc}"}
    words = task["words"]
    crashes = []

    def call(w):
        try:
            return mech.replace_word(w)
        except Exception as exc:  # e.g. faiss search with k = 0 (TruncatedGumbel)
            crashes.append(f"{type(exc).__name__}: {exc}"[:200])
            return None

    if task.get("mode", "time") == "time":
        for w in words[:5]:
            call(w)
        crashes.clear()
        t0 = now()
        for w in words:
            call(w)
        seconds = now() - t0
        return {
            "init_s": init_s,
            "seconds": seconds,
            "n": len(words),
            "words_per_s": len(words) / seconds,
            "crashes": len(crashes),
            "crash_example": crashes[0] if crashes else None,
        }
    trials = int(task.get("trials", 100))
    n_kept, support, support_other = [], [], []
    for w in words:
        outs = [o for o in (call(w) for _ in range(trials)) if o is not None]
        if not outs:
            if not n_kept:  # the very first word never ran: the mechanism is broken
                return {"init_s": init_s, "error": crashes[0]}
            n_kept.append(None)
            support.append(None)
            support_other.append(None)
            continue
        distinct = set(outs)
        n_kept.append(sum(o == w for o in outs) / len(outs))
        support.append(len(distinct))
        support_other.append(len(distinct - {w}))
    return {
        "init_s": init_s,
        "N_w": n_kept,
        "S_w": support,
        "S_w_other": support_other,
        "crashes": len(crashes),
        "crash_example": crashes[0] if crashes else None,
    }


if __name__ == "__main__":
    main()
