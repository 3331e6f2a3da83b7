"""The audit trail: who changed what, when, with the before and after.

Call ``audit(actor, action, entity, uid, before, after)`` inside the transaction of the change
(so the entry and the change commit together). Secret-looking keys (passwords, hashes, tokens)
are replaced by "[redacted]" before anything is stored.
"""

from __future__ import annotations

from typing import Any

from agent.core.models import utcnow
from central.models import AuditLog

SECRET_WORDS = ("password", "token", "secret", "hash")
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """``value`` with every secret-looking key's value replaced (csrf tokens included)."""
    if isinstance(value, dict):
        return {k: REDACTED if any(w in str(k).lower() for w in SECRET_WORDS) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def audit(actor: str, action: str, entity: str, uid: str | int, before: Any = None,
          after: Any = None) -> AuditLog:
    """Record one change (or a manual execution) in the audit trail."""
    return AuditLog.create(at=utcnow(), actor=actor[:200], action=action[:100],
                           entity=entity[:100], entity_uid=str(uid)[:200],
                           before=redact(before), after=redact(after))
