"""The questions the tokens exist for, one module each, and :func:`ask` to run one on a store.

    >>> from aau_stats.questions import Filters, ask
    >>> answer = ask("clients-per-ip", "aau-stats.duckdb", Filters.build(month="2026-10"))
    >>> answer.table("distribution").records()

Every answer comes with the privacy threshold applied (``min_clients``,
default 10): values backed by fewer distinct clients are suppressed.
"""

import inspect

from ..disclosure import protect
from ._answer import DEFAULT_MIN_CLIENTS, Answer, Headline, Table
from ._page import companions, cross_relations
from ._scope import DuckDBEngine, Filters, QuestionError, Scope, UsageError
from .activity import activity
from .advisories import Advisory, read_advisories
from .clients_per_ip import clients_per_ip
from .environments import environments
from .exposure import exposure
from .installs import installs
from .lifecycles import lifecycles
from .popularity import popularity
from .seats import seats

QUESTIONS = {
    "clients-per-ip": clients_per_ip,
    "lifecycles": lifecycles,
    "environments": environments,
    "installs": installs,
    "exposure": exposure,
    "popularity": popularity,
    "seats": seats,
    "activity": activity,
}


def ask(question, db, filters=None, min_clients=DEFAULT_MIN_CLIENTS, engine=None, **options):
    """The answer to one question (a key of :data:`QUESTIONS`) on the store at ``db``.

    ``engine``: an open engine to use instead (a :class:`aau_stats.spark.questions.SparkEngine`, say);
    ``db`` is then ignored.
    """
    if min_clients < 1:
        raise UsageError("--min-clients %d: must be 1 or more" % min_clients)
    if engine is None:
        with DuckDBEngine(db) as opened:
            return ask(question, db, filters, min_clients, engine=opened, **options)
    return answer_in(Scope(engine, filters, min_clients), question, min_clients, **options)


def computed(scope, question, **options):
    """The answer to ``question`` in an open :class:`Scope`, with its filters and the engine's notes
    about the store, before disclosure control."""
    answer = QUESTIONS[question](scope, **options)
    answer.filters = scope.filters.describe()
    answer.notes.extend(getattr(scope.engine, "notes", ()))
    return answer


def published(answers, min_clients=DEFAULT_MIN_CLIENTS):
    """``answers`` (computed in one scope) as published side by side: disclosure control applied to them
    together, with the relations between them."""
    return protect(answers, min_clients, cross_relations(answers))


def answer_in(scope, question, min_clients=DEFAULT_MIN_CLIENTS, **options):
    """The answer to ``question`` in an open :class:`Scope`, as published: with its filters, the
    engine's notes about the store and disclosure control applied, together with the questions it
    shares totals with, so that it is withheld exactly as on the report page."""
    if min_clients <= 1:
        return published([computed(scope, question, **options)], min_clients)[0]
    answers = []
    for name in companions(question, scope.filters, options):
        accepted = inspect.signature(QUESTIONS[name]).parameters
        answers.append(computed(scope, name, **(options if name == question else {
            k: v for k, v in options.items() if k in accepted})))
    return next(a for a in published(answers, min_clients) if a.question == question)


__all__ = [
    "DEFAULT_MIN_CLIENTS",
    "QUESTIONS",
    "Advisory",
    "Answer",
    "DuckDBEngine",
    "Filters",
    "Headline",
    "QuestionError",
    "Scope",
    "Table",
    "UsageError",
    "activity",
    "answer_in",
    "ask",
    "clients_per_ip",
    "computed",
    "environments",
    "exposure",
    "installs",
    "lifecycles",
    "popularity",
    "published",
    "read_advisories",
    "seats",
]
