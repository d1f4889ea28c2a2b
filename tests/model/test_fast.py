"""The fast path is exact: the same probabilities and explanations as scikit-learn's pipeline."""

import shutil
import subprocess
import sys
import sysconfig
import threading
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import strip_accents_unicode

from model import LABELS
from model.fast import (
    BOUNDARY,
    DROPPED,
    KERNEL,
    NUL,
    SPECIAL,
    UNSEEN,
    FastScorer,
    PairTable,
    StoredWords,
    Tables,
    stored_words,
    strip_accents,
)
from model.features import PIECE, SHIPPED, Lemmas, english_dictionary, simplemma_source
from model.pipeline import build_pipeline
from model.predict import Predictor, best, decide
from training.data import read_labelled

from ..helpers import BIN, DATA, NEWS_TEST_DATA, ROOT, TEST_DATA

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    return [t for path in (DATA, TEST_DATA, NEWS_TEST_DATA) for t in read_labelled(path)["text"]]


PATHS = ["C kernel", "numpy and Python"]


def kernel_of(path: str):
    """The FastScorer.kernel that scores by path: the C kernel, or None for numpy and Python."""
    if path == "numpy and Python":
        return None
    if KERNEL is None:
        pytest.skip("model._kernel is not built (no C compiler): see test_the_kernel_is_built_*")
    return KERNEL


@pytest.fixture(scope="module", params=PATHS)
def arithmetic(predictor, request) -> Predictor:
    """The predictor, scoring by the C kernel or by the numpy and Python it falls back to."""
    saved = predictor.fast.kernel
    predictor.fast.kernel = kernel_of(request.param)
    yield predictor
    predictor.fast.kernel = saved


def test_the_trained_model_takes_the_fast_path(predictor):
    assert predictor.fast is not None, predictor.slow_path_reason


def test_the_kernel_is_built_where_there_is_a_c_compiler(predictor):
    # setup.py builds it optionally: without a compiler the fast path is numpy and Python.
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler here")
    assert KERNEL is not None and predictor.fast.kernel is KERNEL


def test_batch_probabilities_equal_scikit_learn_on_the_whole_corpus(arithmetic, corpus_texts):
    expected = arithmetic.model.predict_proba(corpus_texts)
    np.testing.assert_allclose(arithmetic.probabilities(corpus_texts), expected, atol=TOLERANCE)


def test_one_text_probabilities_equal_scikit_learn(arithmetic, corpus_texts):
    sample = corpus_texts[::25]
    expected = arithmetic.model.predict_proba(sample)
    one_by_one = np.array([arithmetic.probabilities([text])[0] for text in sample])
    np.testing.assert_allclose(one_by_one, expected, atol=TOLERANCE)


def test_the_kernel_refuses_chunks_and_ids_it_cannot_read(predictor):
    if KERNEL is None:
        pytest.skip("model._kernel is not built")
    scorer = predictor.fast
    _, _, chunks, scope, *tables = scorer._kernel_tables
    out = np.empty((2, len(LABELS)))
    KERNEL.probabilities("Talks resumed \x00 not war", 2, *scorer._kernel_tables, out)
    np.testing.assert_allclose(out, scorer.probabilities(["Talks resumed", "not war"]))

    def probabilities(text, n_texts, ids, analysed=chunks, out=None):
        """The kernel with a table of its own: what ids gives stays out of the scorer's."""
        table = KERNEL.ChunkTable(100, 0)
        out = np.empty((n_texts, len(LABELS))) if out is None else out
        KERNEL.probabilities(text, n_texts, table, ids.__getitem__, analysed, scope, *tables, out)
        return out

    # A DROPPED chunk has no token: the words either side of it make a bigram.
    first, second = next(t for t in scorer.terms if " " in t).split(" ")
    ids = {"1": scorer.vocabulary[first], "2": scorer.vocabulary[second], "-": DROPPED}
    together = probabilities("1 2", 1, ids)
    np.testing.assert_array_equal(probabilities("1 - 2", 1, ids), together)
    np.testing.assert_array_equal(probabilities("\t1\u3000-\n 2 ", 1, ids), together)
    assert not np.allclose(probabilities("1 1", 1, ids), together)
    n = scorer.n_features
    entry = ((0, 0, 0),)
    for text, n_texts, ids, analysed, message in [
        ("a", 1, {"a": n}, {}, "not a feature id"),
        ("a", 1, {"a": -7}, {}, "not a feature id"),
        ("a", 1, {"a": "0"}, {}, "must be ints"),
        ("a", 1, {"a": True}, {}, "must be ints"),
        ("a", 1, {"a": 2**70}, {}, "too (large|big)"),
        ("a", 1, {}, {}, "'a'"),  # what word_id raises
        ("a \x00 a", 1, {"a": 0, NUL: BOUNDARY}, {}, "more texts"),
        ("a \x00 a", 3, {"a": 0, NUL: BOUNDARY}, {}, "fewer texts"),
        ("A", 1, {"A": SPECIAL}, {"a": (0, False, ((0, 0, 9),))}, "entry kind"),
        ("A", 1, {"A": SPECIAL}, {"a": (0, False, ((0, 0),))}, "entries"),
        ("A", 1, {"A": SPECIAL}, {"a": entry}, "a Chunk"),
        ("A", 1, {"A": SPECIAL}, {"a": (0, False, ((0, 2**70, 0),))}, "too (large|big)"),
    ]:
        with pytest.raises((ValueError, TypeError, OverflowError, KeyError), match=message):
            probabilities(text, n_texts, ids, analysed)
    with pytest.raises(ValueError, match="out"):
        probabilities("a", 1, {"a": 0}, out=np.empty(2))
    with pytest.raises(TypeError):  # not writable
        probabilities("a", 1, {"a": 0}, out=bytes(8 * len(LABELS)))
    with pytest.raises(TypeError, match="str"):
        probabilities(["a"], 1, {"a": 0})
    with pytest.raises(TypeError, match="ChunkTable"):
        KERNEL.probabilities("a", 1, {}, {"a": 0}.get, chunks, scope, *tables, out[:1])
    with pytest.raises(ValueError, match="limit"):
        KERNEL.ChunkTable(0, 0)
    slots, shift, base, weights, intercept = tables
    for wrong in (
        (slots[:-1], shift, base, weights, intercept),  # not a power of two
        (slots, shift - 1, base, weights, intercept),  # home slots past the end
        (slots[:, :1].copy(), shift, base, weights, intercept),  # keys without values
        (slots, shift, base + 1, weights, intercept),
        (slots, shift, base, weights[:, :-1].copy(), intercept),  # a label short
    ):
        with pytest.raises(ValueError, match=r"PairTable|pair_base|weights"):
            KERNEL.probabilities(
                "a", 1, KERNEL.ChunkTable(9, 0), {"a": 0}.get, chunks, scope, *wrong, out[:1]
            )


def test_the_kernel_s_chunk_table_stays_within_its_limit_and_keeps_each_chunk_s_id(predictor):
    if KERNEL is None:
        pytest.skip("model._kernel is not built")
    scorer = predictor.fast
    _, _, chunks, scope, *tables = scorer._kernel_tables
    words = [f"w{i}" for i in range(500)]
    made: list[str] = []

    def word_id(chunk: str) -> int:
        made.append(chunk)
        return words.index(chunk) % scorer.n_features

    table = KERNEL.ChunkTable(64, 12345)
    out, again = np.empty((1, len(LABELS))), np.empty((1, len(LABELS)))
    text = " ".join(words)
    KERNEL.probabilities(text, 1, table, word_id, chunks, scope, *tables, out)
    assert made == words and 0 < len(table) <= 64
    KERNEL.probabilities(" ".join(words[-10:]), 1, table, word_id, chunks, scope, *tables, again)
    assert made == words  # the last ten were kept: none was made again
    KERNEL.probabilities(text, 1, table, word_id, chunks, scope, *tables, again)
    np.testing.assert_array_equal(out, again)


# Texts that stress the analyzer: any unicode, negations, clause ends, actor names, nothing.
pieces = st.sampled_from(
    [
        "not",
        "no",
        "never",
        "won't",
        "without",
        ",",
        ".",
        ";",
        "!",
        "?",
        "Beijing",
        "U.S.",
        "South Sudan",
        "the",
        "warned",
        "talks",
        "neighbours",
        "criticised",
        "Kim Jong Un",
        "Elysée",
        "Türkiye",
        "café",
        "  ",
        "\n",
        "\t",
        "'",
        "-",
        "de-escalation",
        "US",
        "WHO",
        "\x00",  # what joins a batch's texts: a text holding it is read alone
        "ΟΔΟΣ",  # a capital sigma lower-cases by its neighbours: none across texts
        "Σ",
    ]
)
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(pieces, st.text(max_size=12)), max_size=80).map(" ".join),
    st.lists(pieces, max_size=2000).map(" ".join),  # very long texts
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=6))
def test_generated_texts_score_as_scikit_learn_does(arithmetic, batch):
    expected = arithmetic.model.predict_proba(batch)
    np.testing.assert_allclose(arithmetic.probabilities(batch), expected, atol=TOLERANCE)
    np.testing.assert_allclose(arithmetic.probabilities(batch[:1])[0], expected[0], atol=TOLERANCE)


def test_explanations_add_up_to_scikit_learn_logits(predictor, corpus_texts):
    sample = corpus_texts[::97]
    logits = predictor.pipeline.decision_function(sample)
    vectors = predictor.pipeline.named_steps["tfidf"].transform(sample).tocsr()
    names = predictor.pipeline.named_steps["tfidf"].get_feature_names_out()
    for i, prediction in enumerate(predictor.predict(sample, explain=True)):
        explanation = prediction.explanation
        k = LABELS.index(explanation.label)
        assert explanation.logit == pytest.approx(logits[i, k], abs=TOLERANCE)
        terms = {t.term for t in (*explanation.toward, *explanation.against)}
        row = vectors.getrow(i)
        nonzero = {names[j] for j, w in zip(row.indices, row.data, strict=True) if w}
        coefficients = predictor.pipeline.named_steps["clf"].coef_[k]
        assert terms == {n for n in nonzero if coefficients[list(names).index(n)] != 0}


def test_a_vocabulary_that_breaks_the_bigram_rule_is_scored_by_scikit_learn():
    frame = read_labelled(TEST_DATA)
    capped = build_pipeline({"tfidf__max_features": 300}).fit(frame["text"], frame["label"])
    reason = FastScorer.unsupported(capped)
    assert reason is None or "half outside" in reason


@pytest.mark.parametrize("path", PATHS)
def test_a_unigram_vocabulary_takes_the_fast_path_and_scores_as_scikit_learn(corpus_texts, path):
    frame = read_labelled(TEST_DATA)
    unigrams = build_pipeline({"tfidf__ngram_range": (1, 1)}).fit(frame["text"], frame["label"])
    predictor = Predictor(unigrams, {"version": "unigrams"})
    assert predictor.fast is not None
    predictor.fast.kernel = kernel_of(path)
    expected = unigrams.predict_proba(corpus_texts[:500])
    np.testing.assert_allclose(predictor.probabilities(corpus_texts[:500]), expected, atol=1e-9)
    one = predictor.probabilities([corpus_texts[0]])
    np.testing.assert_allclose(one, expected[:1], atol=1e-9)


def test_one_text_and_batch_decide_alike_on_ties():
    rows = [[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [1 / 3] * 3, [0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]
    assert [LABELS[best(row)] for row in rows] == decide(np.array(rows)).tolist()


def test_texts_joined_in_a_batch_read_as_they_do_alone(arithmetic):
    predictor = arithmetic
    # A NUL joins a batch's texts; a text holding one sends its batch text by text.
    for batch in (
        ["Beijing will not", "cross the line", "ΟΔΟΣ", "ΣΟΦΟΣ talks"],
        ["not \x00 war", "South", "Korea warned", "never"],
        ["\x00", "war", "not", "\x00not war"],
    ):
        one_by_one = [predictor.fast.probabilities_one(text) for text in batch]
        np.testing.assert_allclose(predictor.probabilities(batch), one_by_one, atol=TOLERANCE)
        np.testing.assert_allclose(
            predictor.probabilities(batch), predictor.model.predict_proba(batch), atol=TOLERANCE
        )


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.integers(0, 2**40), st.integers(0, 2**31), max_size=500), st.data())
def test_the_pair_table_finds_what_it_holds_and_nothing_else(stored, data):
    table = PairTable(np.asarray(list(stored), dtype=np.int64), np.asarray(list(stored.values())))
    keys = list(stored) + data.draw(st.lists(st.integers(0, 2**40), max_size=200))
    found = table.find(np.asarray(keys, dtype=np.int64)).tolist()
    assert found == [stored.get(k, UNSEEN) for k in keys]


def test_one_text_finds_each_bigram_by_its_halves_and_none_with_an_unseen_half(predictor):
    scorer = predictor.fast
    vocabulary, n = scorer.vocabulary, scorer.n_features
    bigrams = [t for t in scorer.terms if " " in t]
    for term in bigrams[:: max(1, len(bigrams) // 500)]:
        first, second = (vocabulary[half] for half in term.split(" "))
        assert scorer._pair_ids([first, second]) == [vocabulary[term]]
    # No pair with an unseen half, before or after any id, has a bigram's key.
    base = scorer._pair_base
    with_unseen = {a * base + UNSEEN for a in range(n)} | {UNSEEN * base + b for b in range(n)}
    assert not with_unseen & scorer._pairs_by_key.keys()
    assert scorer._pair_ids([UNSEEN, first]) == scorer._pair_ids([first, UNSEEN]) == [UNSEEN]


def test_a_version_stores_simplemma_s_dictionary_and_lemmatises_from_it(model_dir, corpus_texts):
    version = model_dir / (model_dir / "CURRENT").read_text().strip()
    tables = Tables.load(version / "scorer.npz")
    assert tables.dictionary_source == simplemma_source()
    assert tables.dictionary == english_dictionary()
    stored = Lemmas.stored(tables.dictionary, tables.dictionary_source)
    assert stored is not SHIPPED
    words = {w for text in corpus_texts[::5] for w in PIECE.findall(text.lower())}
    words |= {"neighbours", "won't", "de-escalation", "thanked", "zzqx", "criticised"}
    assert {w: stored.folded(w) for w in words} == {w: SHIPPED.folded(w) for w in words}


def test_a_version_s_dictionary_is_looked_up_in_c_where_the_kernel_is_built(model_dir):
    version = model_dir / (model_dir / "CURRENT").read_text().strip()
    tables = Tables.load(version / "scorer.npz")
    assert isinstance(tables.dictionary, StoredWords) == (KERNEL is not None)


@pytest.mark.skipif(KERNEL is None, reason="the kernel is not built (no C compiler)")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=12), st.text())
def test_stored_words_read_as_a_dict_of_their_lines(pairs, asked):
    # WordTable reads the blobs of lines an .npz stores as dict(zip()) of their lines does:
    # a repeated word keeps its last lemma, and every other word is missing.
    pairs = [(w, m) for w, m in pairs if "\n" not in w + m]
    words = "\n".join(w for w, _ in pairs).encode("utf-8", "surrogatepass")
    lemmas = "\n".join(m for _, m in pairs).encode("utf-8", "surrogatepass")
    try:
        expected = dict(zip(words.decode().split("\n"), lemmas.decode().split("\n"), strict=True))
    except (UnicodeDecodeError, ValueError) as error:
        with pytest.raises(type(error)):
            StoredWords(words, lemmas)
        return
    found = StoredWords(words, lemmas)
    assert dict(found) == expected and len(found) == len(expected) and list(found) == list(expected)
    for word in [asked, *expected]:
        assert found.get(word) == expected.get(word)
        assert found.get(word, "?") == expected.get(word, "?")
        assert (word in found) == (word in expected)
    as_stored = (np.frombuffer(words, dtype=np.uint8), np.frombuffer(lemmas, dtype=np.uint8))
    assert found == stored_words(*as_stored) == expected


@pytest.mark.skipif(KERNEL is None, reason="the kernel is not built (no C compiler)")
def test_stored_words_refuse_blobs_that_do_not_pair():
    with pytest.raises(ValueError):
        StoredWords(b"talks\nwar", b"talk")
    with pytest.raises(UnicodeDecodeError):
        StoredWords(b"talks", b"\xe9")
    with pytest.raises(TypeError):
        KERNEL.WordTable("talks", b"talk")
    table = KERNEL.WordTable(b"talks\nwar\ntalks", b"talk\nwar\nTALK")
    assert (len(table), table.get("talks"), table.get(b"talks"), table.get("\ud800")) == (
        2,
        "TALK",
        None,
        None,
    )


def test_a_dictionary_from_another_simplemma_is_not_used():
    assert Lemmas.stored({"talks": "wrong"}, "0" * 64) is SHIPPED
    assert Lemmas.stored(None, None) is SHIPPED


def test_loading_a_version_does_not_decode_simplemma_s_own_dictionary(model_dir):
    script = (
        "from simplemma.strategies.dictionaries import DEFAULT_DICTIONARY_FACTORY as shipped\n"
        "from model import Predictor\n"
        f"predictor = Predictor.load_current({str(model_dir)!r})\n"
        "predictor.predict(['Moscow warned of countermeasures against the neighbours.'])\n"
        "predictor.probabilities(['Talks resumed.', 'Unheard-of wordings appear'])\n"
        "assert shipped._get_dictionary.cache_info().currsize == 0\n"
    )
    subprocess.run([BIN / "python", "-c", script], cwd=ROOT, check=True, timeout=300)


def test_bounded_caches_give_the_same_scores(predictor, corpus_texts, monkeypatch):
    monkeypatch.setattr("model.fast.CHUNK_CACHE_SIZE", 50)  # cleared many times over
    scorer = FastScorer(Tables.of(predictor.pipeline))
    sample = corpus_texts[::7]
    expected = predictor.model.predict_proba(sample)
    np.testing.assert_allclose(scorer.probabilities(sample), expected, atol=TOLERANCE)
    one_by_one = [scorer.probabilities_one(text) for text in sample[:200]]
    np.testing.assert_allclose(one_by_one, expected[:200], atol=TOLERANCE)
    assert len(scorer._chunks) <= 50 and len(scorer._word_ids) <= 50
    if scorer.kernel is not None:
        assert 0 < len(scorer._kernel_tables[0]) <= 50  # the kernel's own table of chunks


def test_lower_casing_each_chunk_is_lower_casing_the_text():
    # The scorer lower-cases the chunks that split() makes, not the text: the same, since no
    # whitespace character has a case, becomes one, or lets the final-sigma rule see past it.
    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    assert all(c.lower() == c for c in spaces)
    for space in spaces:
        assert ("AΣ" + space + "A").lower() == "aς" + space + "a"
        assert ("A" + space + "Σ").lower() == "a" + space + "\u03c3"  # small sigma, not final
    for c in map(chr, range(sys.maxunicode + 1)):
        assert c.isspace() or not any(map(str.isspace, c.lower())), hex(ord(c))


def test_no_character_before_u0300_is_combining():
    assert not any(unicodedata.combining(chr(c)) for c in range(0x300))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | texts)
def test_accents_are_stripped_as_scikit_learn_strips_them(text):
    assert strip_accents(text) == strip_accents_unicode(text)


def test_threads_sharing_a_scorer_while_its_caches_clear_keep_texts_apart(predictor, monkeypatch):
    # gunicorn's gthread workers share one scorer. A cache cleared by one thread while another
    # looked up the NUL that joins a batch's texts once lost the boundary: a negation at the end
    # of one text then read into the next.
    monkeypatch.setattr("model.fast.CHUNK_CACHE_SIZE", 30)
    scorer = FastScorer(Tables.of(predictor.pipeline))
    batches = [[f"We will not w{i}x{j}" for j in range(4)] for i in range(400)]
    expected = [predictor.model.predict_proba(batch) for batch in batches]
    wrong: list[int] = []

    def score_all() -> None:
        for i, batch in enumerate(batches):
            if not np.allclose(scorer.probabilities(batch), expected[i], atol=TOLERANCE):
                wrong.append(i)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=score_all) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong, f"{len(wrong)} batches scored wrong"
