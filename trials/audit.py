"""The audit trail: database triggers (django-pghistory) record every insert, update and delete.

Triggers fire on any write path (ORM, bulk update, admin, raw SQL). The context attached to each
event names the user and, for an edit of saved data, the reason for change. Event tables are
append-only (PGHISTORY_APPEND_ONLY); the context table is guarded by a trigger in migration 0002.
"""

import uuid
from contextlib import contextmanager

import pghistory
from pghistory import runtime


def audited(model):
    """Class decorator: track every insert, update and delete of a clinical model.

    Fresh tracker objects per model: pghistory binds each tracker to the model it tracks.
    """
    return pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())(model)


@contextmanager
def change_context(*, user=None, reason: str = "", **metadata):
    """Attach who and why to every audited write inside the block.

    `user` is stored by primary key, as pghistory's request middleware does, so the events of a
    web request and of a management command read the same way.
    """
    values = dict(metadata)
    if user is not None:
        values["user"] = user.pk
        values["username"] = user.get_username()
    if reason:
        values["reason"] = reason
    outer = getattr(runtime._tracker, "value", None)
    if outer is None:
        with pghistory.context(**values):
            yield
        return
    # Inside a request pghistory already has a context (user, URL). Nesting would merge our reason
    # into that one context row, so a second change in the same request would rewrite the reason
    # recorded for the first (which the database refuses). Each change gets its own context row.
    runtime._tracker.value = runtime.Context(id=uuid.uuid4(), metadata={**outer.metadata, **values})
    try:
        yield
    finally:
        runtime._tracker.value = outer


def current_reason() -> str:
    """The reason for change of the audit context in force (empty outside one)."""
    context = getattr(runtime._tracker, "value", None)
    return (context.metadata.get("reason", "") if context is not None else "") or ""
