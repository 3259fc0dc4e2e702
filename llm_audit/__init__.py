"""llm-audit: measure a causal LM's memorization of texts, naive and corrected for confounding."""

__version__ = "0.1.0"

from llm_audit.errors import AuditError

__all__ = ["AuditError", "__version__"]
