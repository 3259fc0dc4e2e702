"""Offline model pair: the exact oracle of docs/paired.md from two small LMs trained here, and the zero-run
estimator graded against it (issue 17).

Two fine-tunes of one base model, identical (initialization, data order, seed, steps) except that one saw a
random half of the candidate texts where the other saw background text of the same token length. Both score
every candidate; the oracle harness (``llm_audit.estimate.oracle``) then draws confounded member sets among
the inserted texts and grades every zero-run method against the pair's truth.

Run: ``python -m benchmarks.model_pair [--size small|default] [--multi-run R] [--write-readme]``.
"""
