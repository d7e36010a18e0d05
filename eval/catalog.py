"""Every metric an evaluation can report: its family, what it needs and what it measures.

The names are a contract (results.json keys, `--gate --metric NAME`): extend, do not rename.
All metrics are "higher is better" and lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    family: str  # classic | retrieval | answerability | judge | style | classification
    needs: str  # what a row must have for the metric to apply
    description: str


_METRICS = [
    # Answer against the reference answer, no judge (RAGAS non-LLM metrics).
    MetricInfo("rouge_l", "classic", "reference",
               "ROUGE-L F-measure of the answer against the reference (RAGAS RougeScore)."),
    MetricInfo("bleu", "classic", "reference",
               "BLEU of the answer against the reference, 0-1 (RAGAS BleuScore, sacrebleu)."),
    MetricInfo("chrf", "classic", "reference", "chrF character n-gram F-score, 0-1 (RAGAS ChrfScore, sacrebleu)."),
    MetricInfo("string_similarity", "classic", "reference",
               "1 - normalised Levenshtein distance between answer and reference (RAGAS NonLLMStringSimilarity)."),
    MetricInfo("exact_match", "classic", "reference",
               "1 when the answer equals the reference exactly (RAGAS ExactMatch); near 0 for free text."),
    # Retrieval, no judge: the ranked top-k of the question (same for every engine in `rag` mode).
    MetricInfo("hit_at_k", "retrieval", "reference_sources",
               "1 when a reference source is among the top-k retrieved chunks."),
    MetricInfo("mrr", "retrieval", "reference_sources",
               "Reciprocal rank of the first chunk from a reference source (0 when none in the top k)."),
    MetricInfo("ref_context_recall", "retrieval", "reference_contexts",
               "Share of reference contexts found (fuzzy containment, rapidfuzz partial ratio >= 90) in the top-k."),
    MetricInfo("nonllm_context_recall", "retrieval", "reference_contexts",
               "RAGAS NonLLMContextRecall: reference contexts whose whole-string similarity to a retrieved chunk "
               "exceeds 0.5. Compares whole strings, so a short reference sentence inside a long chunk scores low."),
    MetricInfo("nonllm_context_precision", "retrieval", "reference_contexts",
               "RAGAS NonLLMContextPrecisionWithReference: rank-weighted share of retrieved chunks similar to a "
               "reference context (whole-string similarity, same caveat)."),
    # Answerability: does the engine answer what the corpus holds and decline what it does not?
    MetricInfo("answered", "answerability", "answerable: true",
               "Share of answerable questions the engine answered (did not decline)."),
    MetricInfo("declined", "answerability", "answerable: false",
               "Share of unanswerable questions the engine declined. `norag` answers are never marked declined."),
    # LLM-judged (RAGAS, through ragas.evaluate with the configured judge).
    MetricInfo("faithfulness", "judge", "rag answer with sources",
               "RAGAS Faithfulness: share of the answer's claims supported by its retrieved sources."),
    MetricInfo("response_relevancy", "judge", "answer",
               "RAGAS ResponseRelevancy: similarity of questions generated from the answer to the question."),
    MetricInfo("context_precision", "judge", "rag sources + reference",
               "RAGAS LLMContextPrecisionWithReference: are the useful sources ranked first?"),
    MetricInfo("context_recall", "judge", "rag sources + reference",
               "RAGAS LLMContextRecall: share of the reference's claims found in the sources."),
    MetricInfo("factual_correctness", "judge", "reference",
               "RAGAS FactualCorrectness (F1 of claims) of the answer against the reference."),
    # Tone of voice.
    MetricInfo("house_style", "style", "an answer (declines skipped)",
               "Probability that the answer is written in the company's house style (classifier on embeddings "
               "of house texts vs generic text; see the calibration in the report)."),
    # Classification rows (questions with `label`).
    MetricInfo("accuracy", "classification", "label", "Share of answers mapped to the right label."),
    MetricInfo("precision_macro", "classification", "label", "Macro-averaged precision over the label set."),
    MetricInfo("recall_macro", "classification", "label", "Macro-averaged recall over the label set."),
    MetricInfo("f1_macro", "classification", "label", "Macro-averaged F1 over the label set."),
]

METRICS: dict[str, MetricInfo] = {m.name: m for m in _METRICS}
CLASSIC = [m.name for m in _METRICS if m.family == "classic"]
RETRIEVAL = [m.name for m in _METRICS if m.family == "retrieval"]
JUDGE = [m.name for m in _METRICS if m.family == "judge"]
# Classification summaries are computed over whole sets of rows, not averaged per row.
AGGREGATE_ONLY = {"precision_macro", "recall_macro", "f1_macro"}
FAMILY_ORDER = ["retrieval", "answerability", "classic", "judge", "style", "classification"]


def ordered(names: set[str] | list[str]) -> list[str]:
    """Metric names in the catalogue's order (unknown names last, sorted)."""
    known = [m.name for m in _METRICS if m.name in names]
    return known + sorted(set(names) - set(known))
