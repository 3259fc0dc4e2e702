"""Ground-truth benchmark: do the zero-run corrections match what retraining shows? (docs/method.md §4, issue 5)

Small causal LMs are trained here on real text (pile_domains): a base model pretrained on documents outside
the audit pool, then fine-tunes that include pool texts at random (multi-run truth, one-run) or with a
confounded probability that depends on domain and length (zero-run, strength a). Every step is seeded and
cached under the cache folder, so an interrupted run resumes and a re-run only prints.

Run: ``python -m benchmarks.ground_truth [--size small|medium|default] [--write-readme]``.
"""
