"""Every question on a small population whose answers were counted by hand (see ``question_logs``)."""

import json
import shutil
import subprocess
import sys

import pytest
from aau_stats import cli
from aau_stats.ingest import ingest
from aau_stats.questions import Filters, QuestionError, ask, read_advisories
from question_logs import population_log

from store_helpers import rows


@pytest.fixture(scope="module", params=["raw", "pseudonyms"])
def store(request, tmp_path_factory):
    """The population ingested raw, and with keyed pseudonyms: both must give the same answers."""
    work = tmp_path_factory.mktemp("questions-" + request.param)
    log = work / "access.log"
    log.write_text(population_log())
    db = work / "store.duckdb"
    (report,) = ingest([str(log)], db, raw=request.param == "raw")
    assert report.parsed == report.lines
    return db


def answer(store, question, k=1, **options):
    filters = options.pop("filters", None)
    return ask(question, store, filters or Filters(), min_clients=k, **options)


def by_label(table, *columns):
    """``{label: (columns...)}`` of a table's records (label: the first column, or a tuple of the labels)."""
    out = {}
    for record in table.records():
        labels = list(record)[:table.labels]
        key = record[labels[0]] if table.labels == 1 else tuple(record[c] for c in labels)
        out[key] = tuple(record[c] for c in columns)
    return out


def headline(answer):
    return {h.label: h.value for h in answer.headline}


def test_clients_per_ip_counts_installations_not_addresses_or_visitors(store):
    result = answer(store, "clients-per-ip")
    numbers = headline(result)
    assert numbers["addresses"] == 6
    assert numbers["distinct clients"] == 9  # A B C D X1 X2 X3 Y Z
    assert numbers["addresses shared by 2 or more clients"] == 2  # the office and the CI address
    assert numbers["most clients behind one address"] == 3
    assert numbers["mean clients per address with tokens"] == 1.8  # 9 clients on 5 addresses with tokens
    # IP + day + user agent: the office alone has A's 4 processes, B's 2, C's 1 and the opted-out conda.
    assert numbers["naive unique visitors (IP + day + user agent)"] == 8 + 3 + 6 + 1 + 1 + 1
    assert by_label(result.table("distribution"), "addresses", "clients", "requests") == {
        "none": (1, 0, 1), "1": (3, 3, 5), "3-5": (2, 6, 21)}
    top = result.table("addresses").records()
    assert [(r["clients"], r["environments"], r["requests"], r["untokened_requests"], r["naive_visitors"])
            for r in top[:2]] == [(3, 4, 12, 1, 8), (3, 3, 9, 0, 6)]
    nets = result.table("networks").records()
    assert [(r["addresses"], r["clients"]) for r in nets] == [(1, 3), (1, 3), (2, 2), (1, 1), (1, 0)]


def test_outputs_never_show_an_address_or_a_token(store):
    text = cli_output(store, "clients-per-ip", "--json", "--min-clients", "1")
    for secret in ("10.0.0.1", "10.0.0.0", "20.0.0.9", "40.0.0", "A_____", "acme", "box-a"):
        assert secret not in text
    labels = [r["address"] for r in json.loads(text)["tables"]["addresses"]["rows"]]
    assert len(set(labels)) == 6 and all(len(label) == 12 for label in labels)


def test_lifecycles_separate_ci_jobs_from_desktops_and_report_untokened_apart(store):
    result = answer(store, "lifecycles")
    assert by_label(result.table("summary"), "count") == {
        ("clients", "ci-like"): (3,),  # X1-X3: one day each, three from one network
        ("clients", "one-off"): (3,),  # C (the office's only one), Y and Z (two in 40.0.0.0/24)
        ("clients", "long-lived"): (3,),  # A, B, D
        ("environments", "ephemeral"): (4,),  # C0, X10, X20, X30
        ("environments", "long-lived"): (5,),  # A0, A1, B0, D0 and K (two clients, two days)
    }
    assert headline(result)["share of clients that are CI-like"] == round(3 / 9, 4)
    assert headline(result)["share of clients seen once (one-off)"] == round(3 / 9, 4)
    assert by_label(result.table("untokened"), "requests", "addresses") == {
        "conda, tokens turned off (aau/ only)": (1, 1), "mamba, no tokens": (1, 1)}
    assert by_label(result.table("monthly"), "active_clients", "new_clients") == {
        ("2026-10", "ci-like"): (3, 3), ("2026-10", "long-lived"): (3, 3), ("2026-10", "one-off"): (3, 3)}


def test_ci_like_needs_a_network_of_ephemeral_clients(store):
    result = answer(store, "lifecycles", ci_address_clients=2)  # now Y and Z's network is a pool too
    counts = by_label(result.table("summary"), "count")
    assert (counts[("clients", "ci-like")], counts[("clients", "one-off")]) == ((5,), (1,))


def test_lifecycle_thresholds_are_the_users(store):
    result = answer(store, "lifecycles", min_days=3, min_sessions=3)
    assert by_label(result.table("summary"), "count")[("clients", "long-lived")] == (2,)  # A and D; not B


def test_environments_per_client_and_base_or_child_by_rule(store):
    result = answer(store, "environments")
    assert by_label(result.table("per_client"), "clients", "environments") == {"1": (8, 8), "2": (1, 2)}
    assert by_label(result.table("roles"), "environments", "clients") == {
        ("base", "conda"): (2, 2),  # A0, D0
        ("child", "created with python"): (4, 4),  # A1 and the three CI environments
        ("base", "first of its client"): (3, 4),  # B0, C0, and K (shared by Y and Z)
    }
    numbers = headline(result)
    assert (numbers["environments"], numbers["base environments"], numbers["child environments"]) == (9, 5, 4)


def test_installs_new_update_redownload_without_failures_heartbeats_or_untokened(store):
    result = answer(store, "installs", warm_up_days=0)
    rows = by_label(result.table("installs"), "new_installs", "updates", "redownloads", "first_in_older_env",
                    "untokened_downloads", "environments", "clients")
    assert rows == {
        ("numpy", "2026-10"): (8, 2, 2, 0, 2, 8, 8),
        ("python", "2026-10"): (4, 0, 0, 0, 0, 4, 4),
        ("requests", "2026-10"): (4, 0, 0, 0, 0, 4, 4),
        ("conda", "2026-10"): (2, 0, 0, 0, 0, 2, 2),
    }


def test_installs_warm_up_keeps_older_environments_apart(store):
    result = answer(store, "installs", warm_up_days=2)  # counting from day 3
    rows = by_label(result.table("installs"), "new_installs", "updates", "redownloads", "first_in_older_env")
    assert rows == {
        ("numpy", "2026-10"): (1, 1, 2, 1),  # X30 new; A0 update; A0 and B0 again; D0 first seen on day 1
        ("python", "2026-10"): (1, 0, 0, 0),
        ("requests", "2026-10"): (1, 0, 0, 0),
    }
    since = answer(store, "installs", filters=Filters.build(since="2026-10-03"))
    assert by_label(since.table("installs"), "new_installs", "updates", "redownloads", "first_in_older_env") == rows


@pytest.fixture
def advisories(tmp_path):
    path = tmp_path / "advisories.csv"
    path.write_text("id,package,affected,fixed\nNUMPY-1,numpy,<1.26.4,1.26.4\nREQ-1,requests,\">=3,<4\",4.0\n")
    return read_advisories(path)


def test_exposure_counts_exposed_and_remediated_environments_and_clients(store, advisories):
    result = answer(store, "exposure", advisories=advisories)
    rows = by_label(result.table("advisories"), "environments_exposed", "environments_remediated",
                    "environments_still_exposed", "clients_exposed", "clients_remediated",
                    "median_days_to_remediate")
    # Exposed: A0 A1 B0 X10 X20 X30 K. Remediated: A0 (day 3), K (Z, day 2). Y is remediated (K is);
    # A is not (A1 is still exposed); Z never downloaded an affected version.
    assert rows == {"NUMPY-1": (7, 2, 5, 6, 1, 1.5), "REQ-1": (0, 0, 0, 0, 0, None)}
    assert by_label(result.table("timeline"), "environments_exposed", "environments_remediated") == {
        ("NUMPY-1", "2026-10"): (7, 2)}


def test_exposure_of_an_organization_and_its_machines(store, advisories):
    acme = Filters.build(org="acme")
    result = answer(store, "exposure", advisories=advisories, list_machines=True, filters=acme)
    assert by_label(result.table("advisories"), "environments_exposed", "environments_remediated")["NUMPY-1"] == (3, 1)
    machines = sorted(r["machine"] for r in result.table("machines").records())
    if "raw" in str(store):
        assert machines == ["box-a", "box-b"]  # A1 and B0 are still exposed
    else:
        assert len(machines) == 2 and all(len(m) == 32 for m in machines)


def test_exposure_follows_conda_version_order(tmp_path):
    log = tmp_path / "openssl.log"
    lines = []
    for n, (client, version) in enumerate([("P", "1.0.1_"), ("Q", "1.0.1a"), ("R", "1.0.1.post1"), ("S", "1.0.1")]):
        lines.append('10.9.0.%d - - [01/Oct/2026:10:00:0%d +0000] "GET /main/linux-64/openssl-%s-h0_0.conda'
                     ' HTTP/1.1" 200 10 "-" "conda/24.1.0 aau/0.8.0 c/%s s/%s e/%s"\n'
                     % (n + 1, n, version, (client * 22), (client * 21 + "s"), (client * 21 + "e")))
    log.write_text("".join(lines))
    db = tmp_path / "store.duckdb"
    ingest([str(log)], db)
    spec = tmp_path / "a.yaml"
    spec.write_text("- id: SSL-1\n  package: openssl\n  affected: '<1.0.1a'\n"
                    "- id: SSL-2\n  package: openssl\n  affected: '<1.0.1'\n")
    result = ask("exposure", db, min_clients=1, advisories=read_advisories(spec))
    # conda: 1.0.1_ < 1.0.1a < 1.0.1 < 1.0.1.post1 (a letter makes a pre-release; PEP 440 cannot read 1.0.1_).
    assert by_label(result.table("advisories"), "environments_exposed") == {"SSL-1": (1,), "SSL-2": (2,)}


def test_popularity_like_condastats_with_distinct_clients(store):
    result = answer(store, "popularity")
    assert by_label(result.table("popularity"), "counts", "clients", "environments") == {
        "numpy": (14, 8, 8), "python": (4, 4, 4), "requests": (4, 4, 4), "conda": (2, 2, 2)}
    versions = answer(store, "popularity", packages=["numpy"], by=["version"])
    assert by_label(versions.table("popularity"), "counts", "clients") == {
        ("numpy", "1.26.0"): (10, 6), ("numpy", "1.26.4"): (4, 3)}  # A B X1-X3 Y; A D Z
    python = answer(store, "popularity", by=["python", "platform"], monthly=True)
    assert by_label(python.table("popularity"), "counts") == {
        ("numpy", "3.11", "linux-64", "2026-10"): (14,), ("python", "none", "linux-64", "2026-10"): (4,),
        ("requests", "none", "noarch", "2026-10"): (4,), ("conda", "3.12", "linux-64", "2026-10"): (2,)}


def test_popularity_with_sketches_counts_small_sets_exactly_and_says_so(store):
    result = answer(store, "popularity", distinct="hll")
    assert by_label(result.table("popularity"), "counts", "clients", "environments") == {
        "numpy": (14, 8, 8), "python": (4, 4, 4), "requests": (4, 4, 4), "conda": (2, 2, 2)}
    assert any("HyperLogLog" in note and "0.81 %" in note for note in result.notes)
    with pytest.raises(QuestionError, match="--distinct approximate"):
        answer(store, "popularity", distinct="approximate")


def test_sketches_merge_and_estimate_large_sets_within_their_error():
    import duckdb
    from aau_stats.questions import _sketch

    con = duckdb.connect()
    # 300,000 distinct values over three months, a third of them seen in two months.
    con.execute("CREATE TABLE v AS SELECT 'client-' || (i % 300000) AS v, 'm' || (i % 3) AS month"
                " FROM range(400000) r(i)")
    monthly = _sketch.sketch_sql("v", "v", ["month"])
    merged = _sketch.merge_sql(monthly, [])
    whole = _sketch.sketch_sql("v", "v", [])
    assert con.execute("SELECT * FROM (%s) EXCEPT SELECT * FROM (%s)" % (merged, whole)).fetchall() == []
    assert con.execute("SELECT count(*) FROM (%s)" % merged).fetchall()[0][0] == _sketch.REGISTERS
    (estimate,), = con.execute(_sketch.estimate_sql(merged, [])).fetchall()
    assert abs(estimate - 300000) / 300000 < 3 * _sketch.STANDARD_ERROR
    per_month = dict(con.execute(_sketch.estimate_sql(monthly, ["month"])).fetchall())
    exact = dict(con.execute("SELECT month, count(DISTINCT v) FROM v GROUP BY month").fetchall())
    assert all(abs(per_month[m] - exact[m]) / exact[m] < 3 * _sketch.STANDARD_ERROR for m in exact)


def test_seats_behind_an_organizations_addresses_or_token(store, tmp_path):
    office = tmp_path / "office.txt"
    office.write_text("# the office\n10.0.0.0/24\n")
    numbers = headline(answer(store, "seats", filters=Filters.build(ips=office)))
    assert (numbers["clients"], numbers["long-lived clients (seats)"], numbers["ephemeral clients (CI-like or one-off)"],
            numbers["machines (m/ tokens)"], numbers["environments"]) == (3, 2, 1, 2, 4)
    ci = tmp_path / "ci.txt"
    ci.write_text("20.0.0.9\n")
    numbers = headline(answer(store, "seats", filters=Filters.build(ips=ci)))
    assert (numbers["clients"], numbers["long-lived clients (seats)"], numbers["machines (m/ tokens)"]) == (3, 0, 0)
    numbers = headline(answer(store, "seats", filters=Filters.build(org="acme")))
    assert (numbers["clients"], numbers["long-lived clients (seats)"], numbers["environments"]) == (2, 2, 3)


def test_activity_from_heartbeats_and_from_any_request(store):
    result = answer(store, "activity")
    rows = by_label(result.table("daily"), "environments_by_heartbeat", "environments_by_any_request", "clients")
    assert rows == {"2026-10-01": (0, 5, 5), "2026-10-02": (1, 5, 5), "2026-10-03": (0, 2, 2),
                    "2026-10-04": (1, 1, 1), "2026-10-05": (0, 1, 1), "2026-10-06": (0, 1, 1)}


def test_filters_by_month_channel_and_package(store):
    assert headline(answer(store, "popularity", filters=Filters.build(month="2026-11")))["downloads"] == 0
    assert headline(answer(store, "popularity", filters=Filters.build(since="2026-10-05")))["downloads"] == 2
    assert headline(answer(store, "popularity", filters=Filters.build(channel="bioconda")))["downloads"] == 0
    assert headline(answer(store, "clients-per-ip", filters=Filters.build(package="python")))["distinct clients"] == 4


def test_suppression_marks_values_backed_by_fewer_than_k_clients(store):
    result = answer(store, "clients-per-ip", k=3)
    distribution = {r["clients_per_address"]: r for r in result.table("distribution").records()}
    assert distribution["3-5"]["addresses"] == 2 and distribution["3-5"]["naive_visitors"] == 14
    assert distribution["none"]["addresses"] is None  # one address, no client
    assert distribution["none"]["suppressed"] == ["addresses", "requests", "naive_visitors"]  # its 0 clients are shown
    # Three clients, exactly k, but 6 addresses less 2 shared less these 3 would give back the one
    # suppressed address: withheld as secondary, with its clients (one per address: the same number);
    # and its 5 naive visitors, the smaller of the two the visitors' headline would give back.
    assert distribution["1"]["addresses"] is None and distribution["1"]["clients"] is None
    assert distribution["1"]["secondary"] == ["addresses", "clients", "naive_visitors"]
    assert distribution["1"]["suppressed"] == ["addresses", "clients", "naive_visitors"]
    published = {h.label: h.value for h in result.headline}
    assert (published["addresses"], published["addresses shared by 2 or more clients"]) == (6, 2)
    # the mean (9 clients over 6 addresses less the suppressed one) would give it back too
    assert {h.label: h.secondary for h in result.headline}["mean clients per address with tokens"] is True
    # and as no client is behind two addresses, the 9 clients less the 6 of "3-5" would give the
    # single-client bucket's 3 back: those 6 are withheld too. The bucket without clients shows its 0.
    assert distribution["3-5"]["secondary"] == ["clients"] and distribution["none"]["clients"] == 0
    assert "fewer than 3 clients (primary), and 5 more that would give one of them back" in " ".join(result.notes)
    default = answer(store, "clients-per-ip", k=10)
    assert {h.label: h.suppressed for h in default.headline}["distinct clients"] is True
    assert len(default.table("distribution").rows) == 3  # suppressed, never dropped


def cli_output(store, *args, capsys=None):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["--db", str(store), *args]) == 0
    return out.getvalue()


def test_json_and_csv_mark_suppressed_cells(store):
    data = json.loads(cli_output(store, "lifecycles", "--json", "--min-clients", "4"))
    assert data["min_clients"] == 4
    summary = {(r["what"], r["lifecycle"]): r for r in data["tables"]["summary"]["rows"]}
    assert summary[("clients", "long-lived")] == {"what": "clients", "lifecycle": "long-lived", "count": None,
                                                   "share": None, "suppressed": ["count", "share"], "secondary": []}
    csv_text = cli_output(store, "lifecycles", "--csv", "--table", "summary", "--min-clients", "4")
    assert "clients,long-lived,,,count;share," in csv_text.splitlines()


@pytest.mark.parametrize("args,message,status", [
    (["popularity", "numpyy"], "unknown package 'numpyy'", 1),  # the data has no such package
    (["seats"], "give --ips FILE or --org TOKEN", 2),  # the command line cannot be run as written
    (["activity", "--month", "2026-13"], "--month '2026-13': not a month", 2),
    (["activity", "--org", "not a token"], "--org: not an organization token", 2),
    (["activity", "--since", "2026-10-12", "--until", "2026-10-10"], "--since 2026-10-12 is after --until", 2),
    (["installs", "--warm-up-days", "-1"], "--warm-up-days -1", 2),
    (["activity", "--min-clients", "0"], "--min-clients 0", 2),
    (["lifecycles", "--csv", "--table", "nope"], "--table nope", 2),
])
def test_clear_errors(store, capsys, args, message, status):
    assert cli.main(["--db", str(store), *args]) == status
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_empty_store_is_named(tmp_path, capsys):
    empty = tmp_path / "empty.log"
    empty.write_text("")
    db = tmp_path / "store.duckdb"
    ingest([str(empty)], db)
    assert cli.main(["--db", str(db), "activity"]) == 1
    assert capsys.readouterr().err == "aau-stats: %s: the store has no requests yet (run aau-stats ingest first)\n" % db


@pytest.mark.parametrize("name,text,message", [
    ("a.csv", "package,affected\nnumpy,<1.2\nnumpy,>=>1\n", "a.csv:3: affected '>=>1' is not a conda version spec"),
    ("a.csv", "package,affected,fixed\nnumpy,,1.2 3\n", "a.csv:2: fixed '1.2 3' is not a conda version"),
    ("a.csv", "name,spec\nnumpy,<1\n", "a.csv:1: the CSV header must name package and affected"),
    ("a.yaml", "- package: numpy\n  affected: '<1'\n- package: scipy\n  afected: '<2'\n", "a.yaml:3: unknown key afected"),
    ("a.yaml", "- package: numpy\n  affected: [<1\n", "a.yaml:3: not YAML"),
    ("a.json", '{"id": "X", "affected": [\n{"package": {"name": "numpy"}, ]}', "a.json:2: not JSON"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}}]}', "advisory 1 (X): no affected ranges"),
    # Wrong types, found by trying to break it: each used to be a traceback.
    ("a.json", '{"id": "X", "affected": [{"package": "numpy"}]}', "advisory 1 (X): an affected entry names no package"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": ["numpy"]}}]}', "an affected entry names no package"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}, "ranges": {"events": []}}]}',
     "advisory 1 (X): ranges must be a list of objects"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}, "ranges": ["x"]}]}',
     "ranges must be a list of objects"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}, "ranges": [{"events": "introduced"}]}]}',
     "a range's events must be a list of objects"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}, "ranges": [{"events": [{"fixed": [1]}]}]}]}',
     "a range event names a version, not list"),
    ("a.json", '{"id": "X", "affected": [{"package": {"name": "numpy"}, "versions": {"1.0": 1}}]}',
     "versions must be a list of versions"),
    ("a.json", "[" * 100000 + "]" * 100000, "a.json: JSON nested too deeply"),
    ("a.csv", "package,affected\nnumpy,\"" + "x" * 1_000_000 + "\"\n", "a.csv:2: not CSV (field larger than field limit"),
])
def test_malformed_advisories_name_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(QuestionError) as error:
        read_advisories(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_osv_ranges_become_conda_specs(tmp_path):
    path = tmp_path / "osv.json"
    path.write_text(json.dumps([{"id": "OSV-1", "affected": [{"package": {"ecosystem": "conda", "name": "numpy"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.4"},
                                                    {"introduced": "2.0"}, {"last_affected": "2.0.1"}]}],
        "versions": ["3.0"]}]}]))
    (advisory,) = read_advisories(path)
    assert (advisory.id, advisory.package, advisory.affected, advisory.fixed) == (
        "OSV-1", "numpy", "<1.26.4|>=2.0,<=2.0.1|==3.0", "1.26.4")


@pytest.mark.parametrize("text,message", [
    ("10.0.0.1\n10.0.0.300\n", "ips.txt:2: '10.0.0.300' is not an IP address or CIDR range"),
    ("2001:db8::/64\n", "ips.txt:1: 2001:db8::/64 cannot be matched against pseudonymised addresses"),
    ("10.0.0.0/4\n", "ips.txt:1: 10.0.0.0/4 is too wide"),
    ("# nothing\n", "ips.txt: no addresses in it"),
])
def test_malformed_ip_files_name_the_line(store, tmp_path, capsys, text, message):
    path = tmp_path / "ips.txt"
    path.write_text(text)
    assert cli.main(["--db", str(store), "seats", "--ips", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_machines_are_private(store, tmp_path, capsys):
    advisories = tmp_path / "a.csv"
    advisories.write_text("package,affected\nnumpy,<1.26.4\n")
    assert cli.main(["--db", str(store), "exposure", "--advisories", str(advisories), "--list", "machines",
                     "--json", "--org", "acme"]) == 2  # a usage error: the options conflict
    assert "private view" in capsys.readouterr().err


@pytest.mark.slow
def test_report_opens_offline_in_chromium_with_every_chart_drawn(store, tmp_path, capsys):
    from browser import open_in_chromium

    advisories = tmp_path / "a.csv"
    advisories.write_text("id,package,affected,fixed\nNUMPY-1,numpy,<1.26.4,1.26.4\n")
    out = tmp_path / "report.html"
    assert cli.main(["--db", str(store), "report", "--out", str(out), "--advisories", str(advisories),
                     "--min-clients", "3"]) == 0
    assert capsys.readouterr().out == "report written to %s\n" % out
    html = out.read_text()
    for secret in ("10.0.0.1", "A_____", "acme", "box-a"):
        assert secret not in html
    page = open_in_chromium(out, tmp_path / "report.png")
    assert page.console_errors == [] and page.page_errors == [] and page.network_requests == []
    sections = {chart.id.rsplit("-", 1)[0] for chart in page.charts}
    assert sections == {"clients-per-ip", "lifecycles", "environments", "installs", "exposure", "popularity",
                        "activity"}
    for chart in page.charts:
        assert chart.width > 200 and chart.height > 100, chart.id
        assert chart.empty or chart.drawn == chart.marks > 0, chart.id
    # k = 3: the bucket of the shared addresses is shown; the address without clients is not, nor (as
    # secondary) the single-client addresses' bucket, which with the totals would give it back.
    assert not any(chart.empty for chart in page.charts if chart.id.startswith("clients-per-ip"))
    assert any(chart.suppressed for chart in page.charts if chart.id.startswith("clients-per-ip"))


def test_report_of_an_organization_has_its_seats(store, tmp_path):
    from aau_stats.report import build_report

    html = build_report(store, Filters.build(org="acme"), min_clients=1)
    assert 'id="seats"' in html and 'id="exposure"' not in html


SESSION_QUESTIONS = {"clients-per-ip": {}, "lifecycles": {}, "environments": {}, "installs": {"warm_up_days": 1},
                     "activity": {}, "seats": {"filters": Filters.build(org="acme")}, "popularity": {},
                     "popularity-by": {"by": ["platform", "python"], "monthly": True}}


def answers(db, engine_change=None):
    from aau_stats.questions import QUESTIONS, DuckDBEngine, Scope

    out = {}
    for name, options in SESSION_QUESTIONS.items():
        options = dict(options)
        with DuckDBEngine(db) as engine:
            if engine_change:
                engine_change(engine)
            answer = QUESTIONS[name.replace("-by", "")](Scope(engine, options.pop("filters", None)), **options)
        out[name] = ([(h.label, h.value) for h in answer.headline], [t.records() for t in answer.tables])
    return out


def test_kept_sessions_answer_as_the_requests_do(store):
    """The sessions kept at ingest and the same sessions made from the requests give the same answers."""
    assert answers(store) == answers(store, lambda engine: setattr(engine, "has_sessions", False))


def test_kept_downloads_answer_as_the_requests_do(store):
    """The downloads kept at ingest and the same downloads grouped from the requests give the same answers."""
    assert answers(store) == answers(store, lambda engine: setattr(engine, "has_downloads", False))


def test_a_session_split_across_inputs_counts_once(tmp_path, store):
    lines = population_log().splitlines(keepends=True)
    parts = [tmp_path / "access.log.1", tmp_path / "access.log"]
    parts[0].write_text("".join(lines[: len(lines) // 2]))
    parts[1].write_text("".join(lines[len(lines) // 2:]))
    db = tmp_path / "split.duckdb"
    for part in parts:
        ingest([str(part)], db, raw="raw" in str(store))
    whole = answers(store)
    split = answers(db)
    assert split["clients-per-ip"][0] == whole["clients-per-ip"][0]
    assert split["lifecycles"] == whole["lifecycles"] and split["environments"] == whole["environments"]


def test_a_store_without_kept_sessions_is_answered_then_given_them(tmp_path):
    import duckdb

    log = tmp_path / "access.log"
    log.write_text(population_log())
    db = tmp_path / "old.duckdb"
    ingest([str(log)], db, raw=True)
    before = answers(db)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM session_rows")  # as a store made before sessions were kept
    con.close()
    assert answers(db) == before  # made from the requests
    more = tmp_path / "more.log"
    more.write_text("")
    ingest([str(more)], db, raw=True)  # any ingest makes the sessions of the old requests
    assert rows(db, "SELECT sum(requests) FROM session_rows") == rows(db, "SELECT count(*) FROM request_rows")
    assert answers(db) == before


def test_a_store_from_before_user_agent_pseudonyms_is_answered_then_given_them(tmp_path):
    import duckdb
    from aau_stats.store import SCHEMA

    log = tmp_path / "access.log"
    log.write_text(population_log())
    db = tmp_path / "old.duckdb"
    ingest([str(log)], db)
    package = Filters.build(package="numpy")  # sessions made from the requests, grouped by agent
    before = [answer(db, q, filters=package) for q in ("clients-per-ip", "lifecycles")]
    con = duckdb.connect(str(db))
    without_numbered_tokens(con, SCHEMA, drop=("g.agent, ",))  # the views as they were, without agent
    con.execute("ALTER TABLE agents DROP COLUMN agent")
    con.close()
    old = [answer(db, q, filters=package) for q in ("clients-per-ip", "lifecycles")]
    assert [headline(a) for a in old[1:]] == [headline(a) for a in before[1:]]
    ingest([str(tmp_path / "access.log")], db)  # nothing new, but the store gets its agent column back
    assert rows(db, "SELECT count(*) FROM agents WHERE agent IS NULL OR agent NOT LIKE 'id:%'") == [(0,)]
    assert [headline(a) for a in (answer(db, q, filters=package) for q in ("clients-per-ip", "lifecycles"))] == [
        headline(a) for a in before]


def without_numbered_tokens(con, schema, drop=()):
    """A store as the versions before numbered tokens and kept downloads left it: views requests and sessions
    only (without the words ``drop`` too)."""
    for view in ("requests", "keyed_requests", "sessions", "downloads"):
        con.execute("DROP VIEW IF EXISTS %s" % view)
    con.execute("DROP TABLE download_rows")
    con.execute("DROP TABLE token_values")
    con.execute("ALTER TABLE agents DROP COLUMN client_id")
    con.execute("ALTER TABLE agents DROP COLUMN env_id")
    for statement in schema.split(";"):
        if "CREATE OR REPLACE VIEW requests " in statement or "CREATE OR REPLACE VIEW sessions " in statement:
            for words in ("g.client_id AS c_id, g.env_id AS e_id, ", *drop):
                statement = statement.replace(words, "")
            con.execute(statement)


def as_digest_store(db):
    """Rewrite a store into the layout of the versions before numbered dimensions: rows refer to the
    dimensions by their 128-bit digest, which was the dimension's only id; no numbered tokens, no kept downloads."""
    import duckdb
    from aau_stats.store import DIMENSIONS, SCHEMA

    con = duckdb.connect(str(db))
    for table, number, digest in DIMENSIONS:
        con.execute("CREATE TABLE {t}_old AS SELECT {d} AS {n}, * EXCLUDE ({n}, {d}) FROM {t}".format(
            t=table, n=number, d=digest))
    for table in ("request_rows", "session_rows"):
        columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                                             " ORDER BY ordinal_position", [table]).fetchall()]
        refer = {n: (t, d) for t, n, d in DIMENSIONS if n in columns}
        con.execute("CREATE TABLE %s_old AS SELECT %s FROM %s r %s" % (table, ", ".join(
            "%s.%s AS %s" % (refer[c][0], refer[c][1], c) if c in refer else "r." + c for c in columns), table, " ".join(
            "JOIN {t} ON {t}.{n} = r.{n}".format(t=t, n=n) for n, (t, _) in refer.items())))
    for view in ("requests", "keyed_requests", "sessions", "downloads"):
        con.execute("DROP VIEW %s" % view)
    for table in ("request_rows", "session_rows", *(t for t, _, _ in DIMENSIONS)):
        con.execute("DROP TABLE %s" % table)
        con.execute("ALTER TABLE %s_old RENAME TO %s" % (table, table))
    without_numbered_tokens(con, SCHEMA)
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'request_rows'"
                       " AND column_name = 'agent_id'").fetchall() == [("UHUGEINT",)]
    con.close()


@pytest.mark.parametrize("raw", [True, False])
def test_a_store_whose_rows_hold_digests_is_answered_then_numbered_by_the_next_ingest(tmp_path, raw):
    log = tmp_path / "access.log"
    log.write_text(population_log())
    db = tmp_path / "old.duckdb"
    lines = log.read_text().splitlines(keepends=True)
    first, rest = tmp_path / "first.log", tmp_path / "rest.log"
    first.write_text("".join(lines[: len(lines) // 2]))
    rest.write_text("".join(lines[len(lines) // 2:]))
    ingest([str(first)], db, raw=raw)
    as_digest_store(db)
    half = answers(db)
    fresh = tmp_path / "fresh.duckdb"
    shutil.copy(str(db) + ".key", str(fresh) + ".key")  # the same pseudonyms in both
    ingest([str(first)], fresh, raw=raw)
    assert half == answers(fresh)  # read as it is, before any ingest
    ingest([str(rest)], db, raw=raw)  # numbers the old rows, then adds the new ones to the same dimensions
    assert rows(db, "SELECT data_type FROM information_schema.columns WHERE table_name = 'request_rows'"
                    " AND column_name IN ('address_id', 'line_id', 'agent_id')") == [("INTEGER",)] * 3
    ingest([str(rest)], fresh, raw=raw)
    assert answers(db) == answers(fresh)
    assert rows(db, "SELECT count(*), count(DISTINCT agent_digest), max(agent_id) FROM agents") == rows(
        fresh, "SELECT count(*), count(DISTINCT agent_digest), max(agent_id) FROM agents")


def test_the_downloads_of_an_older_store_are_kept_whole_or_not_at_all(tmp_path, monkeypatch):
    """A store from before the kept downloads gets them at its next opening for writing: interrupted then,
    it has none (and is answered from its requests), never an empty or partial table taken for whole."""
    import duckdb
    from aau_stats import store
    from aau_stats.store import SCHEMA

    log = tmp_path / "access.log"
    log.write_text(population_log())
    db = tmp_path / "old.duckdb"
    ingest([str(log)], db)
    expected = answers(db)
    con = duckdb.connect(str(db))
    without_numbered_tokens(con, SCHEMA)
    con.close()
    monkeypatch.setattr(store, "download_rows_sql", lambda rows: "SELECT error('stopped while keeping the downloads')")
    with pytest.raises(duckdb.Error, match="stopped while keeping"):
        store.open_store(db)
    monkeypatch.undo()
    assert answers(db) == expected  # read-only, from the requests
    store.open_store(db).close()
    assert rows(db, "SELECT count(*) > 0 FROM download_rows") == [(True,)]
    assert answers(db) == expected


def test_two_versions_first_downloaded_in_the_same_second_are_one_install_and_one_update(tmp_path):
    agent = "conda/24.11.3 aau/0.8.0 c/%s s/%s e/%s" % ("T" * 22, "U" * 22, "V" * 22)
    log = tmp_path / "tie.log"
    log.write_text("".join(
        '10.3.0.1 - - [01/Oct/2026:10:00:00 +0000] "GET /cf/linux-64/numpy-%s-py312h0_0.conda HTTP/1.1" 200 9'
        ' "-" "%s"\n' % (version, agent) for version in ("2.1.3", "2.2.1")))
    db = tmp_path / "store.duckdb"
    ingest([str(log)], db)
    (row,) = ask("installs", db, min_clients=1, warm_up_days=0).table("installs").records()
    assert (row["new_installs"], row["updates"], row["redownloads"]) == (1, 1, 0)


@pytest.mark.parametrize("question", ["clients-per-ip", "lifecycles", "environments", "installs", "popularity",
                                      "activity"])
def test_duckdb_answers_alike_from_the_parquet_export(store, tmp_path_factory, question):
    from aau_stats.export import export_parquet
    from aau_stats.questions import DuckDBEngine

    exported = tmp_path_factory.mktemp("export") / "parquet"
    export_parquet(store, exported)
    with DuckDBEngine(store, parquet_dir=exported) as engine:
        assert not engine.has_sessions  # made from the requests, as on Spark
        got = ask(question, None, Filters(), min_clients=1, engine=engine)
    expected = answer(store, question)
    assert [(h.label, h.value) for h in got.headline] == [(h.label, h.value) for h in expected.headline]
    assert [sorted(map(repr, t.rows)) for t in got.tables] == [sorted(map(repr, t.rows)) for t in expected.tables]


def test_the_report_reads_a_parquet_store_too(store, tmp_path, capsys):
    from aau_stats.export import export_parquet

    export_parquet(store, tmp_path / "parquet")
    assert cli.main(["--db", str(store), "report", "--parquet", str(tmp_path / "parquet"),
                     "--out", str(tmp_path / "r.html"), "--min-clients", "1"]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "distinct clients" in page and "27 requests" in page
    assert cli.main(["--db", str(store), "report", "--parquet", str(tmp_path / "nothing")]) == 1
    assert "nothing: not a Parquet store of requests" in capsys.readouterr().err


def test_log_content_reaches_the_terminal_as_text(tmp_path):
    """A channel named like rich markup and a package name with terminal escapes are data."""
    agent = "conda/24.11.3 aau/0.8.0 c/%s s/%s e/%s"
    lines = []
    for n in range(3):
        for channel, name in (("[/bold]", "numpy"), ("cf", "evil\x1b]0;owned\x07\x1b[2J\u202e")):
            token = chr(ord("A") + n) * 22
            lines.append('10.3.0.%d - - [01/Oct/2026:10:00:0%d +0000] "GET /%s/linux-64/%s-2.1.3-py312h0_0.conda'
                         ' HTTP/1.1" 200 9 "-" "%s"\n' % (n, n, channel, name, agent % (token, token, token)))
    log = tmp_path / "odd.log"
    log.write_text("".join(lines))
    db = tmp_path / "store.duckdb"
    ingest([str(log)], db)
    done = subprocess.run([sys.executable, "-m", "aau_stats.cli", "--db", str(db), "popularity", "--min-clients", "1",
                           "--by", "source"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[/bold]" in done.stdout
    assert "evil\\x1b]0;owned\\x07\\x1b[2J\\u202e" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u202e" not in done.stdout


def test_seats_never_show_a_part_backed_by_fewer_than_k_clients(tmp_path):
    """Ten seats and one ephemeral client at k = 10: "ephemeral clients = 1" was published, and with
    the total, either part gives the other away, so both go."""
    lines = []
    for n in range(11):
        client = chr(ord("A") + n) * 22
        days = (1, 2) if n < 10 else (1,)
        for day in days:
            session = (chr(ord("a") + n) * 21) + str(day)
            lines.append('10.4.0.%d - - [0%d/Oct/2026:10:00:00 +0000] "GET /cf/noarch/repodata.json HTTP/1.1"'
                         ' 200 9 "-" "conda/24.11.3 aau/0.9.0 c/%s s/%s e/%s o/acme"\n' % (n, day, client, session, client))
    log = tmp_path / "org.log"
    log.write_text("".join(lines))
    db = tmp_path / "store.duckdb"
    ingest([str(log)], db)
    shown = {h.label: (h.value, h.suppressed) for h in ask("seats", db, Filters.build(org="acme"), min_clients=10).headline}
    assert shown["clients"] == (11, False)
    assert shown["ephemeral clients (CI-like or one-off)"] == (None, True)
    assert shown["long-lived clients (seats)"] == (None, True)
    exact = {h.label: h.value for h in ask("seats", db, Filters.build(org="acme"), min_clients=1).headline}
    assert (exact["long-lived clients (seats)"], exact["ephemeral clients (CI-like or one-off)"]) == (10, 1)
    (month,) = ask("seats", db, Filters.build(org="acme"), min_clients=10).table("monthly").records()
    assert month["clients"] == 11 and month["long_lived_clients"] is None
