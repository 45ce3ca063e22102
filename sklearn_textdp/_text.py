"""Lossless tokenisation of raw text into words and everything else.

A document is split into alternating *gaps* and *words*::

    gap0, word1, gap1, word2, ..., wordN, gapN

Words are maximal runs of Unicode letters (strictly: word characters other than
decimal digits and "_", so a stray superscript digit counts too), with the combining
marks that follow them; gaps hold everything else (whitespace, punctuation, digits,
emoji, control and zero-width characters) and may be empty. Joining the pieces
gives back the document exactly, for every ``str``.

All functions work on whole batches of documents at once: the per-document work
is done by the C regex engine and ``str`` methods, and the per-token work by numpy.
:func:`split_chunk` goes further for ``transform``: one regex pass over a whole
chunk of documents, character offsets to tell documents apart, and one ``join`` to
rebuild them (:func:`rebuild_chunk`).
"""

import functools
import importlib.resources
import re
import sys
import unicodedata
from itertools import chain

import numpy as np

__all__ = [
    "TokenizedBatch",
    "TextChunk",
    "tokenize",
    "detokenize",
    "split_chunk",
    "rebuild_chunk",
    "normalize_words",
    "case_patterns",
    "apply_case",
    "fallback_keys",
    "inflection_table",
    "extended_lookup",
    "collapsed_keys",
    "WORD_PATTERN",
]

LOWER, TITLE, UPPER = 0, 1, 2
_SEP = "\x00"  # joins words for batch string operations; never inside a word
#: Joins the documents of a chunk. Any non-letter, non-mark character would do: it
#: ends a word, so no word spans two documents; documents are told apart by
#: character offsets, never by searching for it.
_DOC_SEP = " "


def _combining_mark_class():
    """Regex ranges of the combining marks (categories Mn, Mc, Me).

    Marks only live in planes 0-2 and the variation selectors of plane 14, so the
    scan stays short at import time.
    """
    code_points = chain(range(0x30000), range(0xE0000, min(0xE1000, sys.maxunicode)))
    marks = [
        c for c in code_points if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")
    ]
    ranges, start, prev = [], marks[0], marks[0]
    for c in marks[1:] + [-1]:
        if c != prev + 1:
            ranges.append(
                re.escape(chr(start))
                if start == prev
                else f"{re.escape(chr(start))}-{re.escape(chr(prev))}"
            )
            start = c
        prev = c
    return "".join(ranges)


# Runs of letters, each run possibly followed by combining marks (as in decomposed
# "e\u0301"). Written as runs rather than a per-character alternation: 2.6x faster.
_MARKS = _combining_mark_class()
WORD_PATTERN = r"[^\W\d_]+(?:[" + _MARKS + r"]+[^\W\d_]*)*"
_WORD_SPLITTER = re.compile("(" + WORD_PATTERN + ")")
_WORD_MATCHER = re.compile(WORD_PATTERN)
# The same split for ASCII text, where letters are [A-Za-z] and there are no
# combining marks: twice as fast, and most documents qualify (``str.isascii`` is
# a flag lookup).
_ASCII_WORD_SPLITTER = re.compile("([A-Za-z]+)")


class TokenizedBatch:
    """Pieces of a batch of documents, flattened into one object array.

    Attributes
    ----------
    pieces : ndarray of object
        Gaps and words of all documents, document after document.
    doc_offsets : ndarray of int64, shape (n_docs + 1,)
        ``pieces[doc_offsets[i]:doc_offsets[i + 1]]`` are the pieces of document i.
    word_positions : ndarray of int64, shape (n_words,)
        Index in ``pieces`` of every word, in reading order.
    word_docs : ndarray of int64, shape (n_words,)
        The document each word belongs to.
    """

    __slots__ = ("pieces", "doc_offsets", "word_positions", "word_docs")

    def __init__(self, pieces, doc_offsets, word_positions, word_docs):
        self.pieces = pieces
        self.doc_offsets = doc_offsets
        self.word_positions = word_positions
        self.word_docs = word_docs

    @property
    def words(self):
        return self.pieces[self.word_positions]

    @property
    def n_docs(self):
        return len(self.doc_offsets) - 1

    def words_per_doc(self):
        return np.bincount(self.word_docs, minlength=self.n_docs)


def tokenize(docs):
    """Split each document of ``docs`` (a list of str) into gaps and words.

    Examples
    --------
    >>> batch = tokenize(["Hello, world!", ""])
    >>> batch.words.tolist()
    ['Hello', 'world']
    >>> detokenize(batch) == ["Hello, world!", ""]
    True
    """
    parts = [
        (_ASCII_WORD_SPLITTER if doc.isascii() else _WORD_SPLITTER).split(doc)
        for doc in docs
    ]
    counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    doc_offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(counts, out=doc_offsets[1:])
    pieces = np.empty(int(doc_offsets[-1]), dtype=object)
    pieces[:] = list(chain.from_iterable(parts))
    words_in_doc = (counts - 1) // 2
    word_docs = np.repeat(np.arange(len(parts), dtype=np.int64), words_in_doc)
    first_word = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(words_in_doc, out=first_word[1:])
    rank_in_doc = np.arange(len(word_docs), dtype=np.int64) - first_word[word_docs]
    word_positions = doc_offsets[word_docs] + 1 + 2 * rank_in_doc
    return TokenizedBatch(pieces, doc_offsets, word_positions, word_docs)


def detokenize(batch, pieces=None):
    """Join the pieces of every document back into a list of strings."""
    pieces = batch.pieces if pieces is None else pieces
    offsets = batch.doc_offsets.tolist()
    return [
        "".join(pieces[start:stop])
        for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
    ]


class TextChunk:
    """Documents split in one regex pass over their concatenation.

    The documents are joined with one separator character; the split alternates
    gaps and words over the whole string (a gap may span a document boundary, and
    is never changed). Character offsets tell the documents apart.

    Attributes
    ----------
    pieces : list of str
        Gaps and words of the joined documents: ``pieces[1::2]`` are the words.
    words : ndarray of object, shape (n_words,)
    word_docs : ndarray of int64, shape (n_words,)
        The document each word belongs to.
    word_starts, word_lengths : ndarray of int64, shape (n_words,)
        Offset of each word in the joined string, and its length.
    doc_starts, doc_lengths : ndarray of int64, shape (n_docs,)
        Offset of each document in the joined string, and its length.
    """

    __slots__ = (
        "pieces",
        "words",
        "word_docs",
        "word_starts",
        "word_lengths",
        "doc_starts",
        "doc_lengths",
    )

    def __init__(
        self,
        pieces,
        words,
        word_docs,
        word_starts,
        word_lengths,
        doc_starts,
        doc_lengths,
    ):
        self.pieces = pieces
        self.words = words
        self.word_docs = word_docs
        self.word_starts = word_starts
        self.word_lengths = word_lengths
        self.doc_starts = doc_starts
        self.doc_lengths = doc_lengths

    @property
    def n_docs(self):
        return len(self.doc_starts)

    def words_per_doc(self):
        return np.bincount(self.word_docs, minlength=self.n_docs)


def _lengths(strings):
    return np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))


def split_chunk(docs):
    """Split the documents ``docs`` (a list of str) with one regex pass.

    Gives the same words as :func:`tokenize`, in the same order.

    Examples
    --------
    >>> chunk = split_chunk(["Hello, world!", "", "again"])
    >>> chunk.words.tolist(), chunk.word_docs.tolist()
    (['Hello', 'world', 'again'], [0, 0, 2])
    >>> rebuild_chunk(chunk, ["Hi", "you", "more"])
    ['Hi, you!', '', 'more']
    """
    text, pieces = _split_joined(docs)
    word_starts, word_lengths = _word_spans(text)
    doc_lengths = _lengths(docs)
    doc_starts = np.zeros(len(docs), dtype=np.int64)
    np.cumsum(doc_lengths[:-1] + len(_DOC_SEP), out=doc_starts[1:])
    word_docs = np.searchsorted(doc_starts, word_starts, side="right") - 1
    words = np.empty(len(word_starts), dtype=object)
    words[:] = pieces[1::2]
    return TextChunk(
        pieces, words, word_docs, word_starts, word_lengths, doc_starts, doc_lengths
    )


def _split_joined(docs):
    """Pieces of the documents joined by ``_DOC_SEP``: runs of ASCII documents are
    split with the ASCII pattern (3x faster than the Unicode one on them), the
    others with the Unicode pattern; the gaps where runs meet are merged."""
    text = _DOC_SEP.join(docs)
    if text.isascii():
        return text, _ASCII_WORD_SPLITTER.split(text)
    ascii_docs = np.fromiter(map(str.isascii, docs), dtype=bool, count=len(docs))
    bounds = [0, *(np.flatnonzero(np.diff(ascii_docs)) + 1).tolist(), len(docs)]
    pieces = None
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        splitter = _ASCII_WORD_SPLITTER if ascii_docs[start] else _WORD_SPLITTER
        run = splitter.split(_DOC_SEP.join(docs[start:stop]))
        if pieces is None:
            pieces = run
        else:
            pieces[-1] = pieces[-1] + _DOC_SEP + run[0]
            pieces.extend(run[1:])
    return text, pieces


_ASCII_LETTER = np.zeros(128, dtype=np.int8)
_ASCII_LETTER[
    [ord(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]
] = 1
_MARK_MATCHER = re.compile("[" + _MARKS + "]")
_LETTER_MATCHER = re.compile(r"[^\W\d_]")


def _char_class(char):
    """1 for a word character of the pattern, 2 for a combining mark, else 0."""
    if _LETTER_MATCHER.match(char):
        return 1
    return 2 if _MARK_MATCHER.match(char) else 0


def _edges(mask):
    """Starts and stops of the runs of True in the int8 array ``mask``."""
    edges = np.flatnonzero(np.diff(mask, prepend=np.int8(0), append=np.int8(0)))
    return edges[0::2], edges[1::2]


def _word_spans(text):
    """Offsets and lengths of the words of ``text``, computed on its code points
    with numpy (the regex split gives the same words: a word runs from the first
    letter of a run of letters and combining marks to the end of that run)."""
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        starts, stops = _edges(_ASCII_LETTER[codes])
        return starts, stops - starts
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = np.zeros(len(codes), dtype=np.int8)
    low = codes < 128
    classes[low] = _ASCII_LETTER[codes[low]]
    high = np.flatnonzero(~low)
    distinct, inverse = np.unique(codes[high], return_inverse=True)
    table = np.array([_char_class(chr(c)) for c in distinct.tolist()], np.int8)
    classes[high] = table[inverse]
    run_starts, run_stops = _edges((classes > 0).view(np.int8))
    letters = np.flatnonzero(classes == 1)
    first = np.searchsorted(letters, run_starts)  # first letter at or after
    found = first < len(letters)
    first_letter = np.full(len(run_starts), np.iinfo(np.int64).max)
    first_letter[found] = letters[first[found]]
    has_word = first_letter < run_stops
    starts = first_letter[has_word]
    return starts, run_stops[has_word] - starts


def rebuild_chunk(chunk, new_words, cut_at=None, new_lengths=None):
    """The documents of ``chunk`` with its words replaced by ``new_words``.

    Parameters
    ----------
    chunk : TextChunk
    new_words : sequence of str, shape (n_words,)
    cut_at : ndarray of int64, shape (n_docs,), default=None
        Per document, the index of a word where the document is cut (that word and
        everything after it are dropped), or -1 to keep it whole.
    new_lengths : ndarray of int64, shape (n_words,), default=None
        ``len`` of each new word, when the caller knows them.

    Returns
    -------
    docs : list of str
    """
    new_words = list(new_words)
    pieces = chunk.pieces.copy()
    pieces[1::2] = new_words
    text = "".join(pieces)
    # shift[i]: how much longer the text is before word i (shift[-1]: in total)
    shift = np.zeros(len(new_words) + 1, dtype=np.int64)
    if new_lengths is None:
        new_lengths = _lengths(new_words)
    np.cumsum(new_lengths - chunk.word_lengths, out=shift[1:])
    first_word = np.searchsorted(chunk.word_docs, np.arange(chunk.n_docs + 1))
    starts = chunk.doc_starts + shift[first_word[:-1]]
    stops = chunk.doc_starts + chunk.doc_lengths + shift[first_word[1:]]
    if cut_at is not None:
        cut = cut_at >= 0
        stops[cut] = chunk.word_starts[cut_at[cut]] + shift[cut_at[cut]]
    return [text[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]


def _map_joined(words, method):
    """Apply a ``str`` method to every word with one C-level call."""
    if len(words) == 0:
        return np.empty(0, dtype=object)
    out = np.empty(len(words), dtype=object)
    out[:] = method(_SEP.join(words)).split(_SEP)
    return out


def normalize_words(words):
    """Lookup keys: NFC-normalised lower case, so lookup is case-insensitive."""
    if len(words) == 0:
        return np.empty(0, dtype=object)
    out = np.empty(len(words), dtype=object)
    joined = _SEP.join(words).lower()
    if not joined.isascii():  # ASCII is already NFC
        joined = unicodedata.normalize("NFC", joined)
    out[:] = joined.split(_SEP)
    return out


def case_patterns(words):
    """Case pattern of each word: LOWER (0), TITLE (1) or UPPER (2).

    A word is UPPER when it has at least two letters, all upper case; LOWER when it
    has no upper-case letter; otherwise TITLE (this includes mixed case such as
    "McDonald" and single capitals such as "I").
    """
    words = np.asarray(words, dtype=object)
    patterns = np.full(len(words), TITLE, dtype=np.int8)
    if len(words) == 0:
        return patterns
    joined = _SEP.join(words)
    if joined.isascii() and joined.replace(_SEP, "").isalpha():  # all cased
        n = len(words)
        is_lower = np.fromiter(map(str.islower, words), dtype=bool, count=n)
        is_upper = np.fromiter(map(str.isupper, words), dtype=bool, count=n)
    else:
        is_lower = words == _map_joined(words, str.lower)
        is_upper = words == _map_joined(words, str.upper)
    long_enough = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) > 1
    patterns[is_lower] = LOWER
    patterns[is_upper & ~is_lower & long_enough] = UPPER
    return patterns


def apply_case(words, patterns):
    """Give each (lower-case) word the case pattern of the word it replaces."""
    out = np.array(words, dtype=object, copy=True)
    for pattern, method in ((TITLE, str.title), (UPPER, str.upper)):
        mask = patterns == pattern
        if mask.any():
            out[mask] = _map_joined(out[mask], method)
    return out


def is_word(token):
    """Whether ``token`` is exactly one word for the tokenizer."""
    return _WORD_MATCHER.fullmatch(token) is not None


# ------------------------------------------------------------------ coverage
#: Second lookup keys for words missing from a vocabulary (applied after accent
#: folding). A public, fixed table: it depends on no data, so looking a word up
#: under another key is part of the mechanism's input mapping, and the
#: guarantee holds for the vocabulary words the inputs map to. Three groups:
#: the halves the tokenizer leaves of English contractions ("I've" -> "I", "ve";
#: "didn't" -> "didn", "t"), contractions written without their apostrophe, and
#: the commonest abbreviations of text messages. A key whose target is missing too
#: stays unknown.
_ALIASES = {
    # clitic halves
    "ll": "will", "ve": "have", "re": "are", "didn": "did", "doesn": "does",
    "isn": "is", "wasn": "was", "couldn": "could", "shouldn": "should",
    "wouldn": "would", "hasn": "has", "aren": "are", "haven": "have",
    "weren": "were", "hadn": "had", "mustn": "must", "needn": "need",
    # contractions without the apostrophe
    "dont": "not", "cant": "cannot", "wont": "not", "didnt": "not",
    "doesnt": "not", "isnt": "not", "wasnt": "not", "havent": "not",
    "hasnt": "not", "couldnt": "not", "wouldnt": "not", "shouldnt": "not",
    "arent": "not", "werent": "not", "aint": "not", "dint": "not", "dnt": "not",
    "thats": "that", "whats": "what", "hows": "how", "wats": "what",
    "todays": "today", "ive": "have", "im": "am", "iam": "am", "youre": "you",
    "theyre": "they", "lets": "let", "ure": "you", "howz": "how",
    # text-message abbreviations
    "txt": "text", "txts": "texts", "txting": "texting", "pls": "please",
    "plz": "please", "msg": "message", "msgs": "messages", "wat": "what",
    "wot": "what", "cos": "because", "coz": "because", "cuz": "because",
    "bcoz": "because", "becoz": "because", "gud": "good", "gd": "good",
    "thk": "think", "thnk": "think", "dun": "not", "yup": "yes", "yep": "yes",
    "luv": "love", "jus": "just", "juz": "just", "jst": "just", "nd": "and",
    "thanx": "thanks", "thx": "thanks", "nite": "night", "tonite": "tonight",
    "dunno": "know", "dis": "this", "dat": "that", "tmr": "tomorrow",
    "tmrw": "tomorrow", "tomo": "tomorrow", "wif": "with", "wiv": "with",
    "wid": "with", "hav": "have", "abt": "about", "til": "until",
    "haf": "have", "oso": "also", "goin": "going", "comin": "coming",
    "doin": "doing", "gettin": "getting", "lookin": "looking",
    "thinkin": "thinking", "workin": "working", "waitin": "waiting",
    "askin": "asking", "eatin": "eating", "somethin": "something",
    "ard": "around", "sch": "school", "aft": "after", "aftr": "after",
    "wil": "will", "mins": "minutes", "hrs": "hours", "wk": "week",
    "wks": "weeks", "wkly": "weekly", "yr": "year", "yrs": "years",
    "mths": "months", "pics": "pictures", "pic": "picture", "pix": "pictures",
    "tho": "though", "neva": "never", "knw": "know", "smth": "something",
    "prob": "probably", "frnd": "friend", "frnds": "friends", "fren": "friend",
    "frens": "friends", "mrng": "morning", "evng": "evening",
    "darlin": "darling", "goodmorning": "morning", "goodnight": "night",
    "nope": "no", "fone": "phone", "frm": "from", "mayb": "maybe",
    "ans": "answer", "ansr": "answer", "rply": "reply", "wana": "want",
    "thru": "through", "realy": "really", "cud": "could", "shd": "should",
    "wud": "would", "nxt": "next", "yest": "yesterday", "ppl": "people",
    "pple": "people", "latr": "later", "lik": "like", "befor": "before",
    "recd": "received", "rcvd": "received", "rcv": "receive",
    "bday": "birthday", "ur": "your", "mum": "mother", "mummy": "mother",
    "sis": "sister", "bf": "boyfriend", "gal": "girl", "gals": "girls",
    "uni": "university", "xmas": "christmas", "congrats": "congratulations",
    "hols": "holidays", "lol": "laugh", "haha": "laugh", "hahaha": "laugh",
    "hw": "how", "wer": "where", "vry": "very", "wnt": "want", "hv": "have",
    "nvm": "nevermind", "btw": "anyway", "asap": "soon", "okie": "okay",
    "ok": "okay", "k": "okay", "sry": "sorry", "srry": "sorry",
    "msging": "messaging", "bk": "back", "gr": "great", "gt": "get",
    "tot": "thought", "noe": "know", "wan": "want", "dey": "they",
}  # fmt: skip


def _fold_accents(key):
    """``key`` without its combining marks (NFKD, marks dropped, NFC): "café"
    -> "cafe"."""
    if key.isascii():
        return key
    decomposed = unicodedata.normalize("NFKD", key)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


#: Inflection endings stripped, in order, when a word and its alias are both
#: missing: (ending, replacement, shortest stem kept).
_SUFFIXES = (
    ("ies", "y", 3),
    ("s", "", 3),  # "cares" -> "care" before "es": "boxes" -> "box"
    ("es", "", 3),
    ("ed", "e", 3),  # "used" -> "use" before "ed": "wanted" -> "want"
    ("ed", "", 3),
    ("ing", "e", 3),
    ("ing", "", 3),
    ("ly", "", 4),
    ("er", "", 3),
    ("est", "", 3),
)


def fallback_keys(keys):
    """Second lookup keys for normalised ``keys`` missing from a vocabulary.

    Each key is folded to its accent-free form, then mapped through a fixed public
    table of contraction halves, apostrophe-less contractions and text-message
    abbreviations (``"ve"`` -> ``"have"``, ``"dont"`` -> ``"not"``, ``"txt"`` ->
    ``"text"``). Depends on nothing but the key: a word looked up this way is
    still replaced through the mechanism, never passed through.

    The lookup of a word (``BaseSubstituter._lookup``) tries, in order, until one
    key is in the vocabulary: the normalised word; this fallback key; an
    inflected form of a vocabulary word (:func:`inflection_table`); the
    extended-vocabulary table (:func:`extended_lookup`: the nearest bundled word
    of each of the 50,000 most frequent GloVe words, ``"landline"`` ->
    ``"cellphone"``); and, for a key with a run of three or more equal letters,
    the same chain on the run shortened to two letters, then to one
    (:func:`collapsed_keys`: ``"sooo"`` -> ``"soo"``, ``"so"``). Every step is a
    fixed public function of the word alone, so the mapping is part of the
    mechanism's input: the guarantee holds between the vocabulary words the
    inputs map to (two words mapped to the same vocabulary word are
    indistinguishable).

    Examples
    --------
    >>> fallback_keys(np.array(["café", "ve", "txt", "zzz", "naïve"], dtype=object))
    array(['cafe', 'have', 'text', 'zzz', 'naive'], dtype=object)
    """
    out = np.empty(len(keys), dtype=object)
    out[:] = [_ALIASES.get(key, key) for key in map(_fold_accents, keys)]
    return out


#: Inflected forms are generated for this many vocabulary words at most (the
#: first rows: the most frequent words of frequency-ordered embeddings).
INFLECTED_WORDS = 60_000


def inflection_table(words, max_words=INFLECTED_WORDS):
    """Lookup of inflected forms: ``{form: row}`` for the forms of the first
    ``max_words`` vocabulary ``words`` built by the rules of ``_SUFFIXES``
    ("ringtone" -> "ringtones", "like" -> "liked", "box" -> "boxes"), forms that
    are vocabulary words themselves excluded. A form two rules give maps to the
    word of the earlier rule ("cares": "care", not "car").

    Examples
    --------
    >>> table = inflection_table(np.array(["care", "car", "like"], dtype=object))
    >>> table["cares"], table["liked"], table["cars"]
    (0, 2, 1)
    """
    words = list(words[:max_words])
    vocabulary = set(words)
    table = {}
    for ending, replacement, shortest in reversed(_SUFFIXES):  # earlier rules win
        size = len(replacement)
        for row, word in enumerate(words):
            if not word.endswith(replacement):
                continue
            stem = word[: len(word) - size]
            if len(stem) >= shortest:
                table[stem + ending] = row
    for word in vocabulary.intersection(table):
        del table[word]
    return table


#: The extended-vocabulary table shipped in ``sklearn_textdp/data`` (built by
#: ``tools/make_extended_lookup.py``).
EXTENDED_LOOKUP_FILE = "glove.6B.50d.extended50k.npz"


@functools.cache
def extended_lookup():
    """The public extended-vocabulary table: ``{word: target}``.

    For each of the 30,000 words of the 50,000 most frequent lower-case GloVe 6B
    50d words that are missing from the bundled 20,000-word embedding, its
    nearest bundled word (Euclidean distance of the 50d vectors, computed in
    float64, ties to the most frequent word), computed once, offline, from the
    public embedding alone (``tools/make_extended_lookup.py``). A word missing
    from a vocabulary under its other keys is looked up here; its target word is
    then looked up in the fitted vocabulary (any embedding that holds it), and a
    target missing there leaves the word unknown. Loaded once per process.

    Examples
    --------
    >>> extended_lookup()["landline"]
    'cellphone'
    """
    ref = importlib.resources.files("sklearn_textdp") / "data" / EXTENDED_LOOKUP_FILE
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
        return dict(zip(data["word"].tolist(), data["target"].tolist(), strict=True))


_REPEATS = re.compile(r"(.)\1{2,}")


def collapsed_keys(keys):
    """Keys with a run of three or more equal characters, shortened: returns the
    positions of such keys and their forms with every such run cut to two, then to
    one character (the common spellings of drawn-out words).

    Examples
    --------
    >>> positions, twice, once = collapsed_keys(
    ...     np.array(["sooo", "good", "pleaseee"], dtype=object)
    ... )
    >>> positions.tolist(), twice.tolist(), once.tolist()
    ([0, 2], ['soo', 'pleasee'], ['so', 'please'])
    """
    positions = np.array(
        [i for i, key in enumerate(keys) if _REPEATS.search(key)], dtype=np.int64
    )
    twice = np.empty(len(positions), dtype=object)
    once = np.empty(len(positions), dtype=object)
    twice[:] = [_REPEATS.sub(r"\1\1", keys[i]) for i in positions.tolist()]
    once[:] = [_REPEATS.sub(r"\1", keys[i]) for i in positions.tolist()]
    return positions, twice, once
