"""Workspace-wide pytest hooks: the run ends by saying what it skipped, and why."""

from collections import Counter


def _reason(report):
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text[len("Skipped: "):] if text.startswith("Skipped: ") else text


def pytest_terminal_summary(terminalreporter):
    """One line per skip reason, with how many tests it skipped."""
    counts = Counter(_reason(report) for report in terminalreporter.stats.get("skipped", ()))
    if not counts:
        return
    total = sum(counts.values())
    terminalreporter.write_sep("-", "skipped: %d test%s, %d reason%s" % (
        total, "s" * (total != 1), len(counts), "s" * (len(counts) != 1)))
    for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line("%5d  %s" % (count, reason))
