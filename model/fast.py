"""The exact fast path: the fitted pipeline's own arithmetic, without scikit-learn's per-call cost.

Built from a fitted TF-IDF + logistic regression pipeline's own numbers (its `Tables`); never a
second model. Training stores the tables beside the pipeline (`scorer.npz`: arrays and settings,
no pickle), so a version loads without importing scikit-learn at all: that import alone is most
of a scoring run's start-up and memory.

99% of scikit-learn's prediction time is the vectorizer: string n-grams, a vocabulary lookup per
n-gram, and a sparse matrix per call. Here each whitespace-separated chunk
of lower-cased text is analysed once and cached as vocabulary ids (and the ids of its negated
forms), bigrams are looked up as pairs of unigram ids, and the TF-IDF weighting, L2 norm, dot
product and softmax are plain arithmetic. Where the C kernel (model/_kernel.c) was built, one
call of it reads a text's or a batch's chunks from those caches and does all the sums; else
Python reads them, and the sums are Python floats for one text and numpy for a batch.
tests/model/test_fast.py checks that both give predict_proba's probabilities within 1e-9.
"""

import json
import math
import random
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import cached_property, lru_cache
from itertools import compress, pairwise, repeat
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from model.features import (
    ACTOR_MASK,
    ACTOR_TOKEN,
    CLAUSE_END,
    NEGATION_SCOPE,
    NEGATIONS,
    PIECE,
    Analyzer,
    Lemmas,
    actor_names,
    english_dictionary,
    simplemma_source,
)

try:  # the arithmetic in C (model/_kernel.c), where a compiler built it; else numpy and Python
    from model import _kernel as KERNEL
except ImportError:
    KERNEL = None

# Chunks seen before map straight to their ids (see BoundedCache).
CHUNK_CACHE_SIZE = 200_000
UNSEEN = -1
# Texts scored by one pass of numpy: its arrays stay small (a few MiB) whatever the caller sends.
BATCH_TEXTS = 2_000
# Entry kinds of an analysed chunk; BOUND is the end of a text inside a batch.
WORD, NEGATION, CLAUSE, BOUND = 0, 1, 2, 3
# A batch's texts are analysed as one string, joined by JOIN: per-call costs are paid once per
# batch, not once per text. Its NUL is a chunk of its own that nothing can reach across: no actor
# name or lookaround matches it, and it is not a word character, a space, cased or combining,
# so masking, lower-casing, accents and splitting treat each text as they do alone. Each NUL
# chunk becomes the BOUNDARY id, which ends a negation's scope and joins no bigram. A batch
# whose texts hold a NUL themselves is analysed text by text, each NUL read as NOT_NUL: a
# control character that every step reads exactly as it reads a NUL.
NUL, NOT_NUL = "\x00", "\x01"
JOIN = f" {NUL} "
BOUNDARY = -2


class StoredWords(Mapping):
    """A stored dictionary (word -> lemma) read from its two blobs of lines, as dict(zip(...))
    of their lines reads it, but looked up in C (the kernel's WordTable): making a dict of its
    180k words was a tenth of a second of every start-up, for the few thousand words a run
    looks up. Only where the kernel was built (see stored_words)."""

    def __init__(self, words: bytes, lemmas: bytes):
        words.decode(), lemmas.decode()  # not UTF-8: UnicodeDecodeError, as from_lines raises
        self._words = words
        self._table = KERNEL.WordTable(words, lemmas)  # unpaired: ValueError
        self.get = self._table.get  # what simplemma calls: no Python frame per lookup

    def __getitem__(self, word: str) -> str:
        if (lemma := self._table.get(word)) is None:
            raise KeyError(word)
        return lemma

    def __iter__(self) -> Iterator[str]:  # only to store it again: in order, each word once
        return iter(dict.fromkeys(self._words.decode().split("\n")))

    def __len__(self) -> int:
        return len(self._table)


def stored_words(words: np.ndarray, lemmas: np.ndarray) -> Mapping[str, str]:
    """The dictionary that as_lines stored as words and lemmas: a StoredWords, or a dict
    without the kernel."""
    if KERNEL is None:
        return dict(zip(from_lines(words), from_lines(lemmas), strict=True))
    return StoredWords(words.tobytes(), lemmas.tobytes())


class Chunk(NamedTuple):
    """One whitespace-separated, lower-cased chunk of text, analysed once."""

    ids: tuple[int, ...]  # its tokens' ids when no negation is open before it
    negates: bool  # it holds a negation: the words after it read differently
    entries: tuple[tuple[int, int, int], ...]  # (id, id of "not_" form, kind) per piece


END_OF_TEXT = Chunk((BOUNDARY,), False, ((BOUNDARY, BOUNDARY, BOUND),))


class BoundedCache(dict):
    """key -> make(key), made on the first lookup; seed's entries are always there.

    Cleared when full, so a stream of new keys cannot grow it without limit (a new chunk costs
    one regex and a few lemma lookups, then it is cached again).
    """

    def __init__(self, make: Callable[[str], Any], seed: dict[str, Any]):
        super().__init__(seed)
        self.make, self.seed = make, seed

    def __missing__(self, key: str) -> Any:
        if len(self) >= CHUNK_CACHE_SIZE:
            self.clear()
            self.update(self.seed)
        # A seed key is missing only while another thread is between the two lines above: it
        # must get its seed, not what make() would make of it (a lone NUL is not END_OF_TEXT).
        made = self[key] = self.seed[key] if key in self.seed else self.make(key)
        return made


# What FastScorer._word_ids maps a chunk to when it is not one plain id, as most chunks are:
# DROPPED when it has no id and opens no negation (a lone comma or dash, common once actor names
# are masked: "China," is " _actor_ ,"), which is dropped in one pass at the end; SPECIAL when it
# has several ids or holds a negation, which is read from its Chunk.
SPECIAL, DROPPED = -3, -4


# Every combining character is at U+0300 or beyond (tests/model/test_fast.py checks it).
BEYOND_LATIN = re.compile("[^\x00-\u02ff]")


@lru_cache(maxsize=10_000)
def combining(char: str) -> bool:
    return unicodedata.combining(char) != 0


def strip_accents(text: str) -> str:
    """scikit-learn's strip_accents_unicode (the vectorizer's strip_accents="unicode"), exactly.

    It drops every combining character of the NFKD form; here only the distinct characters past
    U+0300 are checked, so a text whose only non-ASCII is curly quotes and dashes, as wire copy
    has, costs a quarter of a look at every character.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    for char in set(BEYOND_LATIN.findall(decomposed)):
        if combining(char):
            decomposed = decomposed.replace(char, "")
    return decomposed


class PairTable:
    """Bigram ids by their halves' ids, looked up for a whole array at once.

    An open-addressing hash table in numpy arrays: one or two gathers per lookup, four times
    faster than a binary search over the sorted keys (measured on data/test.csv).
    """

    EMPTY = -1
    MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads nearby keys apart

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        bits = max(4, int(len(keys) * 4).bit_length())  # a quarter full: most finds take one probe
        self.mask = (1 << bits) - 1
        self.shift = np.uint64(64 - bits)
        # Each slot's key beside its value: a find in the kernel reads one cache line, not two.
        self.slots = np.empty((self.mask + 1, 2), dtype=np.int64)
        self.keys, self.values = self.slots[:, 0], self.slots[:, 1]
        self.keys[:], self.values[:] = self.EMPTY, UNSEEN
        # Linear probing, every key at once: a key moves on only past taken slots, so a find
        # that walks from a key's home slot to an empty one passes it.
        pending, slots = np.arange(len(keys)), self._home(keys)
        self.probes = 0  # the longest walk a find needs
        while len(pending):
            free = self.keys[slots] == self.EMPTY
            _, first = np.unique(slots[free], return_index=True)  # one key per free slot
            placed = np.flatnonzero(free)[first]
            self.keys[slots[placed]] = keys[pending[placed]]
            self.values[slots[placed]] = values[pending[placed]]
            waiting = np.ones(len(pending), dtype=bool)
            waiting[placed] = False
            pending, slots = pending[waiting], (slots[waiting] + 1) & self.mask
            self.probes += 1

    def _home(self, keys: np.ndarray) -> np.ndarray:
        # Keys are int64 and not negative: their bits read as uint64 are the same number, and
        # the shifted product is below 2**bits, so reading it back as int64 copies nothing.
        unsigned = keys.view(np.uint64) * self.MULTIPLIER
        unsigned >>= self.shift
        return unsigned.view(np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Return the value of each key (non-negative), or UNSEEN where a key is not stored."""
        slots = self._home(keys)
        stored = self.keys[slots]
        # The first probe for every key at once; most finds end there.
        found = np.where(stored == keys, self.values[slots], UNSEEN)
        going_on = (found == UNSEEN) & (stored != self.EMPTY)
        pending, slots = np.flatnonzero(going_on), (slots[going_on] + 1) & self.mask
        for _ in range(self.probes - 1):
            if not len(pending):
                break
            stored = self.keys[slots]
            hit = stored == keys[pending]
            found[pending[hit]] = self.values[slots[hit]]
            going_on = ~hit & (stored != self.EMPTY)
            pending, slots = pending[going_on], (slots[going_on] + 1) & self.mask
        return found


class Tables(NamedTuple):
    """What the fast path needs of a fitted pipeline: its numbers and its tokeniser's settings."""

    analyzer: Analyzer
    terms: list[str]  # the feature names, in feature id order
    idf: np.ndarray  # (features,)
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    classes: tuple[str, ...]
    bigrams: bool
    # simplemma's English dictionary, decoded, and the SHA-256 of the file it came from: stored
    # with a version so that loading it skips the decoding. None when read from a pipeline.
    dictionary: Mapping[str, str] | None = None
    dictionary_source: str | None = None

    @classmethod
    def of(cls, pipeline: Any) -> "Tables":
        """Read the tables of a pipeline that `FastScorer.unsupported` accepts."""
        vectorizer, classifier = pipeline.named_steps["tfidf"], pipeline.named_steps["clf"]
        vocabulary = vectorizer.vocabulary_
        return cls(
            analyzer=vectorizer.tokenizer,
            terms=sorted(vocabulary, key=vocabulary.__getitem__),
            idf=vectorizer.idf_.astype(np.float64),
            coef=classifier.coef_.astype(np.float64),
            intercept=classifier.intercept_.astype(np.float64),
            classes=tuple(str(c) for c in classifier.classes_),
            bigrams=vectorizer.ngram_range[1] == 2,
        )

    def save(self, path: Path) -> None:
        """Write the tables as an .npz of plain arrays: reading it runs no code.

        Not compressed: a few MB more, but inflating it was 30 ms of every start-up.
        """
        dictionary, source = self.dictionary, self.dictionary_source
        if dictionary is None:
            dictionary, source = english_dictionary(), simplemma_source()
        settings = {
            "analyzer": vars(self.analyzer),
            "bigrams": self.bigrams,
            "dictionary_source": source,
        }
        with open(path, "wb") as handle:
            np.savez(
                handle,
                term_lines=as_lines(self.terms),  # a fixed-width array was 4x the size
                idf=self.idf,
                coef=self.coef,
                intercept=self.intercept,
                classes=np.asarray(self.classes, dtype=str),
                settings=np.asarray(json.dumps(settings)),
                # Words and their lemmas, one per line (no entry holds a newline): as bytes,
                # they load many times faster than an array of strings.
                dictionary_words=as_lines(dictionary.keys()),
                dictionary_lemmas=as_lines(dictionary.values()),
            )

    @classmethod
    def load(cls, path: Path) -> "Tables":
        """Read tables written by save; a malformed file raises (ValueError, KeyError...)."""
        with np.load(path, allow_pickle=False) as stored:
            settings = json.loads(str(stored["settings"]))
            tables = cls(
                analyzer=Analyzer(**settings["analyzer"]),
                terms=(  # versions before term_lines stored an array of strings
                    from_lines(stored["term_lines"])
                    if "term_lines" in stored
                    else stored["terms"].tolist()
                ),
                idf=stored["idf"].astype(np.float64),
                coef=stored["coef"].astype(np.float64),
                intercept=stored["intercept"].astype(np.float64),
                classes=tuple(stored["classes"].tolist()),
                bigrams=bool(settings["bigrams"]),
            )
            if "dictionary_words" in stored:  # versions trained before it was stored have none
                words, forms = stored["dictionary_words"], stored["dictionary_lemmas"]
                tables = tables._replace(
                    dictionary=stored_words(words, forms),  # unpaired: ValueError
                    dictionary_source=str(settings["dictionary_source"]),
                )
        n_labels, n_features = len(tables.classes), len(tables.terms)
        if tables.idf.shape != (n_features,) or tables.coef.shape != (n_labels, n_features):
            raise ValueError("the tables' shapes do not agree")
        if tables.intercept.shape != (n_labels,):
            raise ValueError("the tables' shapes do not agree")
        return tables


def as_lines(strings: Collection[str]) -> np.ndarray:
    """Strings as the UTF-8 bytes of their lines, for an .npz; each must be free of newlines."""
    text = "\n".join(strings)
    if text.count("\n") + 1 != len(strings):
        raise ValueError("a string to store holds a newline")
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def from_lines(stored: np.ndarray) -> list[str]:
    """The strings that as_lines stored."""
    return stored.tobytes().decode("utf-8").split("\n")


def next_index(items: list[int], value: int, start: int) -> int | None:
    """The index of value's first occurrence in items from start on, or None."""
    try:
        return items.index(value, start)
    except ValueError:
        return None


class FastScorer:
    """Scores texts exactly as `pipeline.predict_proba` does, many times faster."""

    def __init__(self, tables: Tables):
        self.analyzer = tables.analyzer
        self.terms = tables.terms
        self.vocabulary: dict[str, int] = {term: i for i, term in enumerate(tables.terms)}
        self.n_features = len(self.vocabulary)
        self.idf, self.coef, self.intercept = tables.idf, tables.coef, tables.intercept
        self.bigrams = tables.bigrams
        # Each bigram by its halves' ids. min_df keeps both halves of a kept bigram in the
        # vocabulary; unsupported() refuses a vocabulary where that fails (a feature cap can).
        # Maps and one split of all bigrams joined rather than a loop over every term: they run
        # in C, and this is start-up time (a split per term was 50 ms).
        pair_ids = list(
            compress(range(self.n_features), map(str.__contains__, self.terms, repeat(" ")))
        )
        # A unigram vocabulary has no bigram: "".split(" ") would be one empty half.
        joined = " ".join(map(self.terms.__getitem__, pair_ids))
        halves = joined.split(" ") if pair_ids else []
        if len(halves) != 2 * len(pair_ids):
            raise ValueError("a bigram of the vocabulary is not two words")
        index = self.vocabulary.__getitem__
        firsts = np.fromiter(map(index, halves[0::2]), dtype=np.int64, count=len(pair_ids))
        seconds = np.fromiter(map(index, halves[1::2]), dtype=np.int64, count=len(pair_ids))
        # Each bigram by one int key, first * base + second: for the plain-Python path a dict of
        # them (no tuple to build and hash per pair: 8% of a text's time), for the kernel and
        # numpy a PairTable. The base is one past the last id, so that a pair with an UNSEEN
        # (-1) half has a key no bigram has: negative, or a second of n.
        self._pair_base = self.n_features + 1
        self._pair_keys = firsts * self._pair_base + seconds
        self._pair_values = np.asarray(pair_ids, dtype=np.int64)
        self.pair_table = PairTable(self._pair_keys, self._pair_values)
        self._intercept = self.intercept.tolist()
        found = Lemmas.stored(tables.dictionary, tables.dictionary_source)
        self._lemmatize = found.folded if self.analyzer.fold_spelling else found.plain
        self._actors = actor_names() if self.analyzer.mask_actors else None
        # Lower-cased chunk -> Chunk, and chunk as written -> its one plain id or SPECIAL: a
        # text is split as written, and only a chunk not seen before is lower-cased, which is
        # as lower-casing the text (tests/model/test_fast.py checks that no whitespace character
        # is seen through by lower(), as its final-sigma rule sees through some characters).
        # A lone NUL is the end of a text: only a batch's JOIN holds one (see _batch_text).
        self._chunks = BoundedCache(self._chunk, {NUL: END_OF_TEXT})
        self._word_ids = BoundedCache(self._word_id, {NUL: BOUNDARY})
        self.kernel = KERNEL  # None: the same sums in numpy and Python (tests set it so too)
        # What each call of the kernel reads beside the text: where it finds each chunk's ids,
        # then the tables.
        self._kernel_tables = (
            # Chunks as written to their ids, in C: the kernel's own _word_ids, which it fills
            # through _word_id. Its hash is seeded at random, as str's is.
            None if KERNEL is None else KERNEL.ChunkTable(CHUNK_CACHE_SIZE, random.getrandbits(64)),
            self._word_id,
            self._chunks,
            NEGATION_SCOPE,
            self.pair_table.slots,
            int(self.pair_table.shift),
            self._pair_base,
            np.ascontiguousarray(np.column_stack([self.idf, self.coef.T])),  # a feature a row
            np.ascontiguousarray(self.intercept),
        )
        self._no_probabilities = array("d", bytes(8 * len(self._intercept)))

    # What only the plain-Python arithmetic and explanations read, made on first use: with the
    # kernel a scoring run never needs them (0.02 s and a few MB of every start-up).

    @cached_property
    def _pairs_by_key(self) -> dict[int, int]:
        return dict(zip(self._pair_keys.tolist(), self._pair_values.tolist(), strict=True))

    @cached_property
    def _idf(self) -> list[float]:
        return self.idf.tolist()

    @cached_property
    def _rows(self) -> list[list[float]]:
        """Per feature (idf², idf·coef per label), as Python floats: numpy's per-call cost is
        larger than one text's whole sum. A text's logits are its rows' sums over the norm, with
        one division per label, not per feature."""
        # numpy's products of two floats are Python's, bit for bit.
        return np.column_stack([self.idf * self.idf, (self.idf * self.coef).T]).tolist()

    @classmethod
    def unsupported(cls, pipeline: Any) -> str | None:
        """Return why pipeline cannot take the fast path, or None when it can."""
        from sklearn.pipeline import Pipeline  # only a caller holding a pipeline gets here

        if not isinstance(pipeline, Pipeline) or [n for n, _ in pipeline.steps] != ["tfidf", "clf"]:
            return "not a plain TF-IDF + logistic regression pipeline"
        vectorizer, classifier = pipeline.named_steps["tfidf"], pipeline.named_steps["clf"]
        expected = {
            "analyzer": "word",
            "lowercase": False,
            "strip_accents": "unicode",
            "preprocessor": None,
            "stop_words": None,
            "binary": False,
            "norm": "l2",
            "use_idf": True,
            "sublinear_tf": True,
        }
        for name, value in expected.items():
            if getattr(vectorizer, name) != value:
                return f"vectorizer {name}={getattr(vectorizer, name)!r}"
        if not isinstance(vectorizer.tokenizer, Analyzer):
            return "the tokenizer is not an Analyzer"
        if tuple(vectorizer.ngram_range) not in ((1, 1), (1, 2)):
            return f"ngram_range {vectorizer.ngram_range}"
        if len(classifier.classes_) < 3:
            return "a binary classifier"
        for term in vectorizer.vocabulary_:
            if " " in term and any(p not in vectorizer.vocabulary_ for p in term.split(" ")):
                return f"bigram {term!r} has a half outside the vocabulary"
        return None

    # Analysis: text to the sequence of token ids, exactly as the Analyzer's tokens.

    def _chunk(self, chunk: str) -> Chunk:
        vocabulary = self.vocabulary
        entries = []
        for piece in PIECE.findall(chunk):
            if piece in CLAUSE_END:
                entries.append((UNSEEN, UNSEEN, CLAUSE))
                continue
            for lemma in (piece,) if piece == ACTOR_TOKEN else self._lemmatize(piece):
                kind = NEGATION if lemma in NEGATIONS else WORD
                entries.append(
                    (vocabulary.get(lemma, UNSEEN), vocabulary.get("not_" + lemma, UNSEEN), kind)
                )
        ids = tuple(e[0] for e in entries if e[2] != CLAUSE)
        return Chunk(ids, any(e[2] == NEGATION for e in entries), tuple(entries))

    def _word_id(self, chunk: str) -> int:
        analysed = self._chunks[chunk.lower()]
        if analysed.negates or len(analysed.ids) > 1:
            return SPECIAL
        return analysed.ids[0] if analysed.ids else DROPPED

    def token_ids(self, text: str) -> list[int]:
        """Return the vocabulary id of each token the Analyzer makes of text (UNSEEN if none)."""
        ids = self._ids(self._text(text).split())
        return [i for i in ids if i != DROPPED] if DROPPED in ids else ids

    def batch_token_ids(self, texts: Sequence[str]) -> np.ndarray:
        """Return the token ids of each text in turn, with BOUNDARY between two texts."""
        ids = self._ids(self._batch_text(texts).split())
        tokens = np.fromiter(ids, dtype=np.int64, count=len(ids))  # a third faster than asarray
        return tokens[tokens != DROPPED]

    def _text(self, text: str) -> str:
        """One text as _masked makes it, each NUL of its own read as NOT_NUL."""
        if NUL in text:
            text = text.replace(NUL, NOT_NUL)
        return self._masked(strip_accents(text))

    def _batch_text(self, texts: Sequence[str]) -> str:
        """The texts as _masked makes them, JOINed: split, a NUL chunk between two."""
        if any(map(str.__contains__, texts, repeat(NUL))):  # a text holds a NUL: one at a time
            return JOIN.join(map(self._text, texts))
        joined = JOIN.join(texts)
        if not joined.isascii():  # else there are no accents to strip, nor a call per text
            joined = JOIN.join(map(strip_accents, texts))
        return self._masked(joined)

    def _masked(self, text: str) -> str:
        """Text, its accents stripped, with its actor names masked: one text, or a batch's texts
        JOINed."""
        if self._actors is None:
            return text
        return self._actors.masked(text, NUL, ACTOR_MASK)

    def _ids(self, words: list[str]) -> list[int]:
        """The ids of the chunks words, DROPPED where a chunk has none, as the kernel reads them."""
        ids = list(map(self._word_ids.__getitem__, words))
        if SPECIAL not in ids:  # most statements: one plain id per chunk
            return ids
        return self._spliced(words, ids)

    def _spliced(self, words: list[str], ids: list[int]) -> list[int]:
        """The ids of words, whose plain ids (or SPECIAL or DROPPED) are ids: each SPECIAL chunk
        read as its Chunk, and the words after a negation as their negated forms. DROPPED ids
        outside a negation's scope stay for the caller to drop."""
        lowered = self._chunks

        def chunk_of(at: int) -> Chunk:
            return lowered[words[at].lower()]

        spliced: list[int] = []
        at = 0  # words before this one are read
        while (start := next_index(ids, SPECIAL, at)) is not None:
            spliced += ids[at:start]
            chunk = chunk_of(start)
            if not chunk.negates:  # several ids
                spliced += chunk.ids
                at = start + 1
                continue
            # Piece by piece from the negation until its scope closes.
            at, negated = start, 0
            while at < len(words):
                chunk = chunk_of(at)
                if not (negated or chunk.negates):
                    break
                for plain, negative, kind in chunk.entries:
                    if kind == WORD:
                        if negated:
                            spliced.append(negative)
                            negated -= 1
                        else:
                            spliced.append(plain)
                    elif kind == NEGATION:
                        spliced.append(plain)
                        negated = NEGATION_SCOPE
                    else:  # a clause ends, or a text
                        if kind == BOUND:
                            spliced.append(plain)
                        negated = 0
                at += 1
        spliced += ids[at:]
        return spliced

    def feature_counts(self, text: str) -> Counter[int]:
        """Return how often each feature (unigram or bigram id) occurs in text."""
        ids = self.token_ids(text)
        counts = Counter(ids)
        if self.bigrams:
            counts.update(self._pair_ids(ids))
        counts.pop(UNSEEN, None)
        return counts

    def _pair_ids(self, ids: list[int]) -> list[int]:
        """The bigram id of each pair of neighbouring ids of one text, UNSEEN where none."""
        base, get = self._pair_base, self._pairs_by_key.get
        return [get(first * base + second, UNSEEN) for first, second in pairwise(ids)]

    def features(self, text: str) -> tuple[list[int], list[float]]:
        """Return text's feature ids and their TF-IDF values (sublinear tf, idf, L2 norm)."""
        counts = self.feature_counts(text)
        ids = list(counts)
        idf = self._idf
        values = [(1.0 + math.log(counts[i])) * idf[i] for i in ids]
        norm = math.sqrt(sum(v * v for v in values))
        if norm > 0:
            values = [v / norm for v in values]
        return ids, values

    # Scoring.

    def probabilities_one(self, text: str) -> list[float]:
        """Probabilities for one text, by the C kernel or in plain Python: no numpy call costs
        less than either."""
        if self.kernel is not None:
            found = array("d", self._no_probabilities)
            self.kernel.probabilities(self._text(text), 1, *self._kernel_tables, found)
            return found.tolist()
        features = self.token_ids(text)
        if self.bigrams:
            features += self._pair_ids(features)
        # Each distinct feature's row summed, in C; then the few features that occur n > 1
        # times are corrected: their sublinear tf is 1 + log n, not 1. Counter counts in C too.
        counts = Counter(features)
        counts.pop(UNSEEN, None)
        rows = self._rows
        sums = list(map(sum, zip(*map(rows.__getitem__, counts), strict=True)))
        if counts.total() > len(counts):  # a feature occurs more than once
            for i, n in counts.items():
                if n > 1:
                    tf = 1.0 + math.log(n)
                    row = rows[i]
                    sums[0] += (tf * tf - 1.0) * row[0]
                    for k in range(1, len(row)):
                        sums[k] += (tf - 1.0) * row[k]
        if not sums or sums[0] == 0:  # no feature the model knows: the intercepts decide
            logits = list(self._intercept)
        else:
            norm = math.sqrt(sums[0])
            logits = [b + d / norm for b, d in zip(self._intercept, sums[1:], strict=True)]
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n_texts, n_labels) array, rows in order, a batch at a time."""
        if len(texts) > BATCH_TEXTS:
            return np.concatenate(
                [
                    self._batch_probabilities(texts[start : start + BATCH_TEXTS])
                    for start in range(0, len(texts), BATCH_TEXTS)
                ]
            )
        if len(texts) == 1:
            return np.asarray([self.probabilities_one(texts[0])])
        return self._batch_probabilities(texts)

    def _batch_probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of a few thousand texts from one call of the kernel, or one pass of
        numpy."""
        n_texts = len(texts)
        if self.kernel is not None:
            found = np.empty((n_texts, len(self.intercept)))
            self.kernel.probabilities(self._batch_text(texts), n_texts, *self._kernel_tables, found)
            return found
        keys = self._batch_keys(texts)
        if n_texts * self.n_features <= np.iinfo(np.int32).max:
            keys = keys.astype(np.int32)  # sorts in half the time
        # Count each (text, feature) once: sorted keys give the term frequencies. numpy's
        # quicksort (vectorised) is six times as fast as its stable sort on these keys.
        keys.sort()
        first = np.empty(len(keys), dtype=bool)  # np.diff(prepend=) took ten times as long
        first[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        docs, features = np.divmod(keys[starts], self.n_features)
        # Sublinear tf: 1 + log(count), which is 1.0 for most; a log only where it is not.
        values = self.idf[features]
        counts = np.diff(starts, append=len(keys))
        repeated = np.flatnonzero(counts > 1)
        values[repeated] *= 1.0 + np.log(counts[repeated])
        # docs are sorted: each text's features are one run, summed by reduceat (many times
        # faster than bincount); a text with none keeps logits of zero, so the intercepts decide.
        bounds = np.searchsorted(docs, np.arange(n_texts + 1))
        present = np.flatnonzero(bounds[:-1] < bounds[1:])
        runs = bounds[present]
        norms = np.sqrt(np.add.reduceat(values * values, runs))
        # Label-major, so each product and sum runs along one long row, not rows of 3.
        weighted = self.coef.take(features, axis=1)
        weighted *= values
        logits = np.zeros((len(self.intercept), n_texts))
        logits[:, present] = np.add.reduceat(weighted, runs, axis=1) / norms
        logits = logits.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def _batch_keys(self, texts: Sequence[str]) -> np.ndarray:
        """Return text index * n_features + feature id, once per feature occurrence."""
        tokens = self.batch_token_ids(texts)
        # The first key of the text each token is in.
        base = np.cumsum(tokens == BOUNDARY, dtype=np.int64)
        base *= self.n_features
        keys = (base + tokens)[tokens >= 0]
        if not self.bigrams or len(tokens) < 2:
            return keys
        first, second = tokens[:-1], tokens[1:]
        both = np.flatnonzero((first >= 0) & (second >= 0))
        found = self.pair_table.find(first[both] * self._pair_base + second[both])
        hit = found >= 0
        return np.concatenate([keys, base[both[hit]] + found[hit]])
