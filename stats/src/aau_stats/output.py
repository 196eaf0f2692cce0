"""An answer as a terminal table, JSON or CSV.

JSON and CSV are published outputs: they carry the answer as suppressed by
the privacy threshold, with each suppressed value as ``null`` (JSON) or an
empty field (CSV) and named in the row's ``suppressed`` list, never dropped;
the ``secondary`` list names those among them withheld only because they
would give another suppressed value back (:mod:`aau_stats.disclosure`). The
terminal shows a primary one as ``<k`` and a secondary one as ``withheld``.
"""

import csv
import io
import json

from .questions._answer import _plain


def to_json(answer):
    data = {
        "question": answer.question,
        "title": answer.title,
        "filters": answer.filters,
        "min_clients": answer.min_clients,
        "headline": [{"label": h.label, "value": _plain(h.value), "suppressed": h.suppressed,
                      "secondary": h.secondary}
                     for h in answer.headline],
        "tables": {t.name: {"title": t.title, "columns": t.shown, "rows": t.records()} for t in answer.tables},
        "notes": answer.notes,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_csv(answer, table=None):
    """One table of the answer as CSV (the first unless ``table`` names another)."""
    chosen = answer.table(table) if table else answer.tables[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*chosen.shown, "suppressed", "secondary"])
    for record in chosen.records():
        suppressed, secondary = record.pop("suppressed"), record.pop("secondary")
        writer.writerow(["" if v is None else v for v in record.values()] + [";".join(suppressed), ";".join(secondary)])
    return out.getvalue()


# Bidirectional overrides and isolates: they reorder what the terminal shows.
_BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))


def terminal_safe(text):
    """``text`` with every control character (C0, DEL, C1) and bidirectional
    override written as an escape (``\\x1b``), so that what came from a log
    reaches the terminal as characters, never as commands."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or code in _BIDI:
            out.append("\\x%02x" % code if code < 0x100 else "\\u%04x" % code)
        else:
            out.append(char)
    return "".join(out)


def _cell(value, suppressed, k, secondary=False):
    if secondary:
        return "withheld"  # backed by enough clients, but it would give a suppressed value back
    if suppressed:
        return "<%d" % k
    if value is None:
        return "-"
    value = _plain(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return "{:,}".format(value)
    if isinstance(value, float):
        return "{:,.4g}".format(value) if abs(value) < 1 else "{:,.2f}".format(value)
    return terminal_safe(value)


def _text(value):
    """A rich Text: shown as it is, never read as markup (``[/bold]`` in a channel name is a name)."""
    from rich.text import Text

    return Text(terminal_safe(value))


def print_answer(answer, file=None, max_rows=None):
    """The answer as rich tables: headline numbers, then each table, then the notes."""
    from rich.console import Console
    from rich.table import Table as RichTable

    class _Console(Console):
        def on_broken_pipe(self):
            raise BrokenPipeError  # the command decides what a closed pipe means (rich would exit 1)

    console = _Console(file=file, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 200  # a file or a pipe: do not cut columns to 80
    k = answer.min_clients
    head = RichTable(title=_text(answer.title), show_header=False, title_justify="left")
    head.add_column("what")
    head.add_column("value", justify="right")
    for h in answer.headline:
        head.add_row(_text(h.label), _text(_cell(h.value, h.suppressed, k, h.secondary)))
    console.print(head)
    for table in answer.tables:
        records = table.records()
        shown = records if max_rows is None else records[:max_rows]
        title = table.title + ("" if len(shown) == len(records) else " (first %d of %d rows)" % (len(shown), len(records)))
        out = RichTable(title=_text(title), title_justify="left")
        for i, column in enumerate(table.shown):
            out.add_column(_text(column), justify="left" if i < table.labels else "right")
        for record in shown:
            hidden, secondary = set(record.pop("suppressed")), set(record.pop("secondary"))
            out.add_row(*[_text(_cell(v, c in hidden, k, c in secondary)) for c, v in record.items()])
        console.print(out)
    for note in answer.notes:
        console.print(_text("- " + note))
