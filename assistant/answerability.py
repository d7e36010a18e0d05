"""Answerability: do the retrieved passages hold the answer, or only the topic?

The relevance gate (`chat.min_relevance`) declines questions the corpus knows nothing about. The
harder case is the near miss: a question on a topic the documents cover, about a fact they do not
hold ("revenue in FY2019/20" when the reports start in 2021, "the notice period" in a leave
policy, "the Bristol office" of a company without one). Retrieval then returns passages on the
right topic with a high similarity, and a small engine answers from them anyway. Similarity
measures topic; answerability needs the question's *specific* content to be in the evidence.

`TermCoverageCheck` decides with lexical and semantic evidence, before any generation:

1. The question's terms are split in two kinds.
   - Specific terms: years and financial periods (2025, FY2020/21, 2020-21), codes (27001:2022,
     DCB0129) and names (capitalised words inside the sentence, acronyms). These have no synonyms:
     when no retrieved passage (nor its document's title, date or period) mentions the year or name
     asked about, the passages cannot hold the answer, and the question is declined. Usual
     equivalent spellings count: FY2020/21 = 2020/21 = 2020-21 = "year ended ... 2021"; an acronym
     matches its spelled-out form and the other way round.
   - Other content words (stopwords and question forms such as "how long" removed). A word is
     covered by a passage word with the same Porter stem, or softly, by a word the embedder finds
     close enough (`soft_match`: "workplace" ~ "office", "trip" ~ "travel"). Paraphrase is normal
     for these words, so one miss lowers the score rather than deciding alone.
2. Each content word is weighted by importance × IDF. Importance is how far the question's
   embedding moves when the word is left out: generic words ("latest", "according", "put") barely
   move it, the word that carries the information need ("pensions", "rent", "sabbatical") moves it
   most. IDF comes from the keyword index: a word rare in the corpus says more than a common one,
   and a word absent from it gets the highest weight.
3. `unsupported` = weight of uncovered words / weight of all terms (covered names count as support).
   Above `max_unsupported` the question is declined. The dense similarity is not used again here: on
   the check set, letting it move the threshold added nothing.

Thresholds (`chat.soft_match` 0.6, `chat.max_unsupported` 0.35) were chosen on a synthetic check set,
never on the demo questions (bench/answerability.py): hand-written questions on other facts,
synonym paraphrases of the answerable questions, and near misses made mechanically (a year moved to
one the corpus never mentions, a name swapped for an invented one, attributes the documents never
give) plus hand-written ones. 0.35 sits inside the range (0.25 to 0.60) where answerable questions
stay answered at 0.97 there; lower declines more and answers fewer. Measured: synthetic, answered
0.97, declined 0.69 (hard near misses: 14 of 37); demo (held out), answered 0.97, declined 4 of 11,
where the relevance gate alone declines none. It costs about 0.1 to 0.2 s a question on a CPU.

What it cannot see: a fact missing although every word of the question is in the passages ("which
supplier won Lot 2", "who was CFO before X"), or a question whose key word is paraphrased beyond
the embedder's word similarity. Those need a reader that understands the passage: an extractive
QA or NLI model, or a capable engine. The embedded SmolLM2-135M asked "do the sources answer it?"
(log-probability of Yes vs No) ranks answerable above unanswerable questions barely better than
chance: AUC 0.56 on the demo set and 0.63 on the synthetic near misses, where this check has 0.62
and 0.83.

Other checks plug in through the `AnswerabilityCheck` protocol: `RerankScoreCheck` uses the scores
of a configured cross-encoder (`retrieval.reranker`), and a stronger local model can replace the
heuristic by implementing `judge`. Checks see only the passages the viewer may read, and IDF is
counted over public documents only, so whether a question is declined reveals nothing about
documents the viewer cannot see.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from indexing.keyword import STOPWORDS
from indexing.retrieval import RetrievedChunk

_WORD = re.compile(r"[^\W_]+")
# A financial period: FY2020/21, 2020/21, 2020-21, 2020/2021.
_PERIOD = re.compile(r"\b(?:FY\s?)?((?:19|20)\d{2})\s?[/\-\u2013]\s?((?:19|20)?\d{2})\b", re.I)
_FY_SHORT = re.compile(r"\bFY\s?'?(\d{2}|(?:19|20)\d{2})\b", re.I)
_YEAR = re.compile(r"(?<![\d.,£$€])((?:19|20)\d{2})(?![\d%])")
# A code: letters and digits mixed (DCB0129, CO2e), or digits joined by separators (27001:2022).
_CODE = re.compile(r"\b(?=[\w\-:/.]*\d)(?=[\w\-:/.]*[A-Za-z])[A-Za-z0-9]+(?:[-:/.][A-Za-z0-9]+)*\b|\b\d{4,}\b")
_MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
# Words that shape the question rather than name what is asked: contraction fragments, filler,
# and the answer types after "how" ("how long", "how often"); the answer is what they ask for.
_FORM_WORDS = frozenset(
    "s t d m ll re ve don doesn didn isn aren wasn weren us per via get got one ones thing things anything "
    "something exactly actually currently now still ever really amount size kind type sort way number total "
    # Recency asks for the newest document, which retrieval ranks by date; no passage says "latest".
    "latest recent newest current".split()
)
_AFTER_HOW = frozenset("long often big far fast quickly soon old large high many much well".split())
# Joining words allowed inside a spelled-out acronym ("Department for Education" = DfE).
_JOINERS = r"(?:(?:and|of|for|the|&|on|in)[\s\-]+)?"
# Metadata keys that are bookkeeping, not evidence.
_NOT_EVIDENCE = frozenset({"source", "file_name", "file_type", "page", "chunk", "public", "groups"})


@dataclass
class Term:
    text: str  # as written in the question
    kind: str  # "period", "code", "name" (specific) or "word"
    covered: bool = False
    similarity: float = 1.0  # best soft match in the evidence for an uncovered word; 1 when covered
    weight: float = 0.0
    covered_by: list[bool] = field(default_factory=list)  # per passage, in retrieval order
    similarity_by: list[float] = field(default_factory=list)


@dataclass
class Verdict:
    answerable: bool
    unsupported: float  # share of the question's weight the passages do not support (0..1)
    missing: list[str] = field(default_factory=list)  # question terms the passages lack
    reason: str = ""
    terms: list[Term] = field(default_factory=list)


class AnswerabilityCheck(Protocol):
    def judge(self, question: str, chunks: list[RetrievedChunk]) -> Verdict: ...


SPECIFIC = ("period", "code", "name")


def _stemmer() -> Any:
    try:
        from nltk.stem.porter import PorterStemmer  # the algorithm FTS5's porter tokenizer implements

        return PorterStemmer(mode=PorterStemmer.ORIGINAL_ALGORITHM).stem
    except ImportError:  # nltk comes with llama-index; without it, plural and -ing stripping still helps
        return lambda w: re.sub(r"(ing|ed|es|s)$", "", w) if len(w) > 4 else w


_STEM = _stemmer()


def _period_pattern(start: int, end: int) -> str:
    """Spellings of the financial period start/end: 2020/21, 2020-2021, FY21, year ended ... 2021."""
    return (rf"{start}\s?[/\-\u2013]\s?(?:{end % 100:02d}|{end})(?!\d)|FY\s?'?{end % 100:02d}(?!\d)"
            rf"|FY\s?{end}(?!\s?[/\-\u2013]\s?\d)|FY\s?{start}(?!\s?[/\-\u2013]\s?\d)"
            rf"|year\s+end(?:ed|ing)?\b[^.]{{0,30}}(?<!\d){end}(?!\d)")


def _year_pattern(year: int) -> str:
    """A year as such, or a financial period that ends or starts in it."""
    return (rf"(?<!\d){year}(?!\d)|{year - 1}\s?[/\-\u2013]\s?{year % 100:02d}(?!\d)"
            rf"|FY\s?'?{year % 100:02d}(?!\d)")


def _acronym_pattern(acronym: str) -> str:
    letters = [re.escape(c) for c in acronym]
    return r"\b" + (r"[\w'\-]*[\s\-]+" + _JOINERS).join(letters) + r"[\w'\-]*"


@dataclass
class _Specific:
    text: str
    kind: str
    patterns: list[tuple[str, int]]  # (regex, flags): any one matching the evidence covers the term
    words: list[str] = field(default_factory=list)  # a name's words: all present also covers it


def specific_terms(question: str) -> tuple[list[_Specific], str]:
    """Years, periods, codes and names in the question, and the question with them blanked out."""
    found: list[_Specific] = []
    text = question

    def take(match: re.Match, item: _Specific) -> str:
        found.append(item)
        return " " * len(match.group(0))

    def period(m: re.Match) -> str:
        start = int(m.group(1))
        end_raw = m.group(2)
        end = int(end_raw) if len(end_raw) == 4 else start // 100 * 100 + int(end_raw)
        if end != start + 1:  # "2020-2023" is a range of years, not one period
            return m.group(0)
        return take(m, _Specific(m.group(0), "period", [(_period_pattern(start, end), re.I)]))

    text = _PERIOD.sub(period, text)

    def fy_short(m: re.Match) -> str:
        raw = m.group(1)
        end = int(raw) if len(raw) == 4 else 2000 + int(raw)
        return take(m, _Specific(m.group(0), "period", [(_period_pattern(end - 1, end), re.I)]))

    text = _FY_SHORT.sub(fy_short, text)
    text = _YEAR.sub(lambda m: take(m, _Specific(m.group(1), "period", [(_year_pattern(int(m.group(1))), re.I)])), text)

    def code(m: re.Match) -> str:
        token = m.group(0)
        if token.isdigit() and len(token) < 4:
            return token
        return take(m, _Specific(token, "code", [(r"(?<![\w])" + re.escape(token) + r"(?![\w])", re.I)]))

    text = _CODE.sub(code, text)
    names = _names(text)
    for name in names:  # a name is judged as a name only, not again as content words
        text = re.sub(r"(?<![\w])" + r"[\s\-]+".join(re.escape(w) for w in name.text.split()) + r"(?![\w])",
                      " ", text)
    return found + names, text


def _names(text: str) -> list[_Specific]:
    """Capitalised words inside the sentence and acronyms, grouped in runs ("Crown Justice Digital Agency")."""
    tokens = list(_WORD.finditer(text))
    alphabetic = [t.group(0) for t in tokens if t.group(0).isalpha()]
    capitalised = sum(1 for w in alphabetic if w[0].isupper())
    if alphabetic and capitalised / len(alphabetic) > 0.5:
        return []  # Title Case Or SHOUTING: capitals say nothing about names here
    runs: list[list[str]] = []
    previous_end = -1
    for i, m in enumerate(tokens):
        word = m.group(0)
        before = text[: m.start()].rstrip()
        sentence_start = i == 0 or before[-1:] in ".?!:;\"'(" or not before
        is_acronym = len(word) >= 2 and word.isupper() and word.isalpha()
        is_name = word[0].isupper() and not sentence_start and word.isalpha() and len(word) > 1
        if (is_name or is_acronym) and word.lower() not in _MONTHS and word != "I":
            gap = text[previous_end: m.start()] if previous_end >= 0 else ""
            if runs and previous_end >= 0 and re.fullmatch(r"[\s\-]+", gap):
                runs[-1].append(word)
            else:
                runs.append([word])
            previous_end = m.end()
        else:
            previous_end = -1
    out = []
    for run in runs:
        # Case matters only where initials are compared: "ICB" must not match "in care b...".
        patterns = [(r"(?<![\w])" + r"[\s\-]+".join(re.escape(w) for w in run) + r"(?![\w])", re.I)]
        if len(run) >= 2 and not any(w.isupper() for w in run):  # spelled out, by its acronym (Care Board ~ CB)
            patterns.append((r"(?<![\w])" + "".join(w[0] for w in run) + r"(?![\w])", 0))
        if len(run) == 1 and run[0].isupper() and len(run[0]) <= 6:  # an acronym, by its spelled-out form
            patterns.append((_acronym_pattern(run[0]), 0))
        out.append(_Specific(" ".join(run), "name", patterns, [w.lower() for w in run if len(w) > 1]))
    return out


def content_words(text: str) -> list[str]:
    """The question's content words, lower case, without stopwords and question forms."""
    words = [w.lower() for w in _WORD.findall(text)]
    out = []
    for i, w in enumerate(words):
        if w in STOPWORDS or w in _FORM_WORDS or (i > 0 and words[i - 1] == "how" and w in _AFTER_HOW):
            continue
        if len(w) < 2 and not w.isdigit():
            continue
        out.append(w)
    return list(dict.fromkeys(out))


def evidence_text(chunks: Sequence[RetrievedChunk]) -> str:
    """What the passages say, with their document's title, date, period and other metadata values."""
    parts = []
    for c in chunks:
        meta = " ".join(str(v) for k, v in c.metadata.items() if k not in _NOT_EVIDENCE and v is not None)
        parts.append(f"{c.text}\n{meta}")
    return "\n".join(parts)


class CorpusStats:
    """Document frequencies from the keyword index (FTS5, porter-stemmed, as retrieval matches words).

    Counted over public chunks only: the weights then depend on nothing a viewer may not see, so
    whether a question is declined cannot hint at what restricted documents contain.
    """

    _PUBLIC = "json_extract(c.metadata, '$.public') = 1"

    def __init__(self, keyword: Any) -> None:
        self.db = keyword.db
        self._cache: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def size(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM chunks c WHERE {self._PUBLIC}").fetchone()[0])

    def idf(self, words: list[str]) -> dict[str, float]:
        n = self.size()
        out = {}
        for w in words:
            key = (w, n)  # the corpus size in the key: a re-index invalidates what was counted before
            with self._lock:
                df = self._cache.get(key)
            if df is None:
                df = int(self.db.execute(
                    f"""SELECT COUNT(*) FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
                        WHERE chunks_fts MATCH ? AND {self._PUBLIC}""",
                    ['"' + w.replace('"', '""') + '"'],
                ).fetchone()[0])
                with self._lock:
                    if len(self._cache) > 50_000:
                        self._cache.clear()
                    self._cache[key] = df
            out[w] = math.log((n + 1) / (df + 0.5))
        return out


class WordVectors:
    """Embedder vectors of single words, cached: the corpus vocabulary is bounded and recurs across questions."""

    def __init__(self, embed_model: Any, capacity: int = 20_000) -> None:
        # The model, or a function that returns it: loading waits until a question needs it.
        self._model = embed_model
        self.capacity = capacity
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if callable(self._model) and not hasattr(self._model, "get_text_embedding_batch"):
            self._model = self._model()
        return self._model

    def get(self, words: list[str]) -> np.ndarray:
        with self._lock:
            new = [w for w in dict.fromkeys(words) if w not in self._cache]
        if new:
            vectors = self.model.get_text_embedding_batch(new)
            with self._lock:
                if len(self._cache) + len(new) > self.capacity:
                    self._cache.clear()
                for w, v in zip(new, vectors, strict=True):
                    self._cache[w] = _unit(np.asarray(v, dtype=np.float32))
        with self._lock:
            missing = [w for w in words if w not in self._cache]
        if missing:  # evicted by a concurrent request between the two steps: embed again, uncached
            extra = dict(zip(missing, self.model.get_text_embedding_batch(missing), strict=True))
            return np.stack([self._cache.get(w, _unit(np.asarray(extra.get(w, 0.0), dtype=np.float32)))
                             for w in words])
        with self._lock:
            return np.stack([self._cache[w] for w in words])

    def question(self, texts: list[str]) -> np.ndarray:
        return np.stack([_unit(np.asarray(self.model.get_query_embedding(t), dtype=np.float32)) for t in texts])


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


class TermCoverageCheck:
    """Decline when the passages lack a specific term of the question or too much of its weight (see module doc)."""

    def __init__(
        self, max_unsupported: float = 0.35, soft_match: float = 0.6, stats: CorpusStats | None = None,
        vectors: WordVectors | None = None, require_specific: bool = True,
    ) -> None:
        self.max_unsupported = max_unsupported
        self.soft_match = soft_match
        self.stats = stats
        self.vectors = vectors
        self.require_specific = require_specific

    def judge(self, question: str, chunks: list[RetrievedChunk]) -> Verdict:
        terms = self.evidence(question, chunks)
        return self.decide(terms)

    def decide(self, terms: list[Term], max_unsupported: float | None = None,
               soft_match: float | None = None) -> Verdict:
        """The verdict from measured terms; thresholds may be overridden (the bench sweeps them)."""
        tau = self.max_unsupported if max_unsupported is None else max_unsupported
        sigma = self.soft_match if soft_match is None else soft_match
        specific_missing = [t.text for t in terms if t.kind in SPECIFIC and not t.covered]
        unsupported_words = [t for t in terms if t.kind == "word" and not t.covered and t.similarity < sigma]
        total = sum(t.weight for t in terms)
        unsupported = sum(t.weight for t in unsupported_words) / total if total > 0 else 0.0
        missing = specific_missing + [t.text for t in unsupported_words]
        if self.require_specific and specific_missing:
            return Verdict(False, unsupported, missing, f"the passages never mention {', '.join(specific_missing)}",
                           terms)
        if unsupported > tau:
            return Verdict(False, unsupported, missing,
                           f"{unsupported:.0%} of the question is not in the passages ({', '.join(missing)})", terms)
        return Verdict(True, unsupported, missing, "", terms)

    def evidence(self, question: str, chunks: list[RetrievedChunk]) -> list[Term]:
        """Each question term, which passages cover it (lexically, or how closely), and its weight."""
        texts = [evidence_text([c]) for c in chunks]
        words = [{w.lower() for w in _WORD.findall(t)} for t in texts]
        stems = [{_STEM(w) for w in ws} for ws in words]
        specifics, rest = specific_terms(question)
        terms: list[Term] = []
        for s in specifics:
            by = [any(re.search(pattern, text, flags) for pattern, flags in s.patterns)
                  or (s.kind == "name" and bool(s.words) and all(w in ws or _STEM(w) in ss for w in s.words))
                  for text, ws, ss in zip(texts, words, stems, strict=True)]
            terms.append(Term(s.text, s.kind, any(by), covered_by=by))
        for w in content_words(rest):
            stem = _STEM(w)
            # Same word, same stem, or one stem (or word) extending the other: expire ~ expiry, employ ~ employees.
            by = [w in ws or stem in ss or (len(stem) >= 5 and any(
                e.startswith(stem) or (len(e) >= 5 and stem.startswith(e)) for e in ss))
                  or (len(w) >= 5 and any(e.startswith(w) for e in ws))
                  for ws, ss in zip(words, stems, strict=True)]
            terms.append(Term(w, "word", any(by), covered_by=by))
        self._soft_match(terms, words)
        self._weigh(question, terms)
        return terms

    def _soft_match(self, terms: list[Term], words: list[set[str]]) -> None:
        """For each word a passage lacks, its best embedder similarity to that passage's words."""
        for t in terms:
            t.similarity_by = [1.0 if c else 0.0 for c in t.covered_by]
            t.similarity = max(t.similarity_by, default=0.0)
        # Numbers have no synonyms: only the lexical match counts for them.
        uncovered = [t for t in terms if t.kind == "word" and not all(t.covered_by) and not t.text.isdigit()]
        vocabulary = sorted({w for ws in words for w in ws if w not in STOPWORDS and w.isalpha() and len(w) > 2})
        if not uncovered or self.vectors is None or not vocabulary:
            return
        index = {w: i for i, w in enumerate(vocabulary)}
        sims = self.vectors.get(vocabulary) @ self.vectors.get([t.text for t in uncovered]).T  # words x terms
        for j, t in enumerate(uncovered):
            for i, ws in enumerate(words):
                rows = [index[w] for w in ws if w in index]
                if not t.covered_by[i] and rows:
                    t.similarity_by[i] = float(np.max(sims[rows, j]))
            t.similarity = max(t.similarity_by, default=0.0)

    def _weigh(self, question: str, terms: list[Term]) -> None:
        idf = self.stats.idf([t.text.lower() for t in terms if t.kind in ("word", "name")]) if self.stats else {}
        if self.vectors is not None and terms:
            variants = [question] + [re.sub(rf"(?<!\w){re.escape(t.text)}(?!\w)", " ", question, flags=re.I)
                                     for t in terms]
            vectors = self.vectors.question(variants)
            importance = [max(0.0, 1.0 - float(vectors[0] @ v)) for v in vectors[1:]]
        else:
            importance = [1.0] * len(terms)
        top = max(idf.values(), default=1.0)
        for t, imp in zip(terms, importance, strict=True):
            # Periods and codes are rare by nature: they get the highest IDF seen in this question.
            t.weight = imp * idf.get(t.text.lower(), top)


class RerankScoreCheck:
    """Decline when the best cross-encoder score (retrieval.reranker) is below `min_score`.

    A cross-encoder reads the question and the passage together, so with a model trained for it
    (answer-bearing vs not) its score is direct evidence of answerability. The scale is the model's
    own: set `chat.min_rerank` from its scores on answerable and unanswerable questions.
    """

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score

    def judge(self, question: str, chunks: list[RetrievedChunk]) -> Verdict:
        scores = [c.signals["rerank"] for c in chunks if "rerank" in c.signals]
        if not scores:  # no reranker ran: no evidence either way
            return Verdict(True, 0.0, reason="no reranker scores")
        best = max(scores)
        if best < self.min_score:
            return Verdict(False, 1.0, reason=f"best reranker score {best:.3f} < {self.min_score}")
        return Verdict(True, 0.0)


class AllChecks:
    """Several checks in order; the first that declines decides."""

    def __init__(self, checks: list[AnswerabilityCheck]) -> None:
        self.checks = checks

    def judge(self, question: str, chunks: list[RetrievedChunk]) -> Verdict:
        verdict = Verdict(True, 0.0)
        for check in self.checks:
            verdict = check.judge(question, chunks)
            if not verdict.answerable:
                return verdict
        return verdict


def build_check(chat: Any, indexer: Any = None) -> AnswerabilityCheck | None:
    """The checks the `chat` settings ask for, over an indexer's keyword index and embedder (both optional).

    The embedder is taken from the indexer on the first question that needs it, not here.
    """
    checks: list[AnswerabilityCheck] = []
    if getattr(chat, "answerability", False):
        checks.append(TermCoverageCheck(
            chat.max_unsupported, chat.soft_match,
            CorpusStats(indexer.keyword) if indexer is not None else None,
            WordVectors(lambda: indexer.embed_model) if indexer is not None else None,
        ))
    if getattr(chat, "min_rerank", None) is not None:
        checks.append(RerankScoreCheck(chat.min_rerank))
    if not checks:
        return None
    return checks[0] if len(checks) == 1 else AllChecks(checks)
