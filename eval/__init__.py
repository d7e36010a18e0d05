"""Evaluation: the same questions through engines × modes, scored, written as a report.

Modules, one job each:
- questions        read and check a questions file (errors name file:line)
- model, catalog   the per-row records and the metric names (a contract: results.json keys)
- metrics_retrieval, metrics_classic, metrics_ragas, style, classify   the metric families
- judge            any generation backend as a RAGAS LLM, with call accounting
- results, stats   rows -> mean / spread / failures per engine × mode × metric
- runner           one run, driven by callables (no import of the assistant)
- plots, report    plots/*.png, report.html and results.json, written atomically
- gate             candidate vs baseline, gate.json for `engines promote`
"""
