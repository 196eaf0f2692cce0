"""A small hand-written conda population, as nginx would log it, whose answers are counted by hand.

Days are 2026-10-01 (day 1) to 2026-10-06. Session number n (its place in
``SESSIONS``) runs at 12:n, a second per request.

- Office 10.0.0.1: clients A, B, C, and an opted-out conda (only ``aau/``).
  A (``o/acme m/box-a``): base A0 updates conda; child A1 created with python.
  B (``o/acme m/box-b``): one environment B0, days 1 and 5.  C: day 2 only.
- Home 10.0.1.5: client D, base D0 (conda), a heartbeat on day 2, day 6.
- CI 20.0.0.9: X1, X2, X3, one each on days 1-3, two processes each, a fresh
  environment created with python.
- A container image copied with its environment token: K, used by Y
  (40.0.0.1, day 1) and by Z (40.0.0.2, day 2).
- mamba at 30.0.0.1: no tokens at all.
"""

from anaconda_anon_usage import grammar


def token(name):
    """A valid 22-character random-token-shaped value, readable in a failing test."""
    text = (name.replace(" ", "_") + "_" * 22)[:22]
    assert grammar.is_random_token(text)
    return text


CONDA = "conda/24.11.3 requests/2.32.3 CPython/3.12.7 Linux/6.1.0 debian/12 glibc/2.36"
NUMPY_OLD = "/conda-forge/linux-64/numpy-1.26.0-py311h1234567_0.conda"
NUMPY_NEW = "/conda-forge/linux-64/numpy-1.26.4-py311h1234567_0.conda"
NUMPY_BROKEN = "/conda-forge/linux-64/numpy-2.0.0-py311h1234567_0.conda"
PYTHON = "/conda-forge/linux-64/python-3.12.0-h1234567_0.conda"
CONDA_PKG = "/conda-forge/linux-64/conda-24.1.0-py312h06a4308_0.conda"
REQUESTS = "/conda-forge/noarch/requests-2.31.0-pyhd8ed1ab_0.conda"
HEARTBEAT = "/conda-forge/noarch/activate-0.0.0-0.conda"


def agent(client=None, session=None, env=None, extra=""):
    if client is None:
        return CONDA + " aau/0.8.0"
    return "%s aau/0.8.0 c/%s s/%s e/%s%s" % (CONDA, token(client), token(session), token(env), extra)


ACME_A = " o/acme m/box-a"
ACME_B = " o/acme m/box-b"

# (ip, day, user agent, [(method, path, status), ...]) for each conda process, in time order per client.
SESSIONS = [
    ("10.0.0.1", 1, agent("A", "A s1", "A0", ACME_A), [("GET", CONDA_PKG, 200), ("GET", NUMPY_OLD, 200)]),
    ("10.0.0.1", 2, agent("A", "A s2", "A1", ACME_A), [("GET", PYTHON, 200), ("GET", NUMPY_OLD, 200)]),
    ("10.0.0.1", 3, agent("A", "A s3", "A0", ACME_A),
     [("GET", NUMPY_NEW, 200), ("GET", NUMPY_NEW, 200), ("GET", NUMPY_BROKEN, 404)]),
    ("10.0.0.1", 4, agent("A", "A s4", "A1", ACME_A), [("HEAD", HEARTBEAT, 404)]),
    ("10.0.0.1", 1, agent("B", "B s1", "B0", ACME_B), [("GET", NUMPY_OLD, 200)]),
    ("10.0.0.1", 5, agent("B", "B s2", "B0", ACME_B), [("GET", NUMPY_OLD, 200)]),
    ("10.0.0.1", 2, agent("C", "C s1", "C0"), [("GET", REQUESTS, 200)]),
    ("10.0.0.1", 1, agent(), [("GET", NUMPY_OLD, 200)]),
    ("10.0.1.5", 1, agent("D", "D s1", "D0"), [("GET", CONDA_PKG, 200)]),
    ("10.0.1.5", 2, agent("D", "D s2", "D0"), [("HEAD", HEARTBEAT, 404)]),
    ("10.0.1.5", 6, agent("D", "D s3", "D0"), [("GET", NUMPY_NEW, 200)]),
    *[("20.0.0.9", day, agent("X%d" % day, "X%d s1" % day, "X%d0" % day), [("GET", PYTHON, 200), ("GET", NUMPY_OLD, 200)])
      for day in (1, 2, 3)],
    *[("20.0.0.9", day, agent("X%d" % day, "X%d s2" % day, "X%d0" % day), [("GET", REQUESTS, 200)])
      for day in (1, 2, 3)],
    ("40.0.0.1", 1, agent("Y", "Y s1", "K"), [("GET", NUMPY_OLD, 200)]),
    ("40.0.0.2", 2, agent("Z", "Z s1", "K"), [("GET", NUMPY_NEW, 200)]),
    ("30.0.0.1", 1, "mamba/1.5.8 conda/24.11.3 requests/2.32.3 CPython/3.12.7 Linux/6.1.0", [("GET", NUMPY_OLD, 200)]),
]


def population_log():
    """The population's access log (nginx ``combined``), lines sorted by time."""
    lines = []
    for order, (ip, day, user_agent, requests) in enumerate(SESSIONS):
        for second, (method, path, status) in enumerate(requests):
            when = "%02d/Oct/2026:12:%02d:%02d +0000" % (day, order, second)
            lines.append(((day, order, second), '%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s"\n' % (
                ip, when, method, path, status, 1000 if status < 400 else 153, user_agent)))
    return "".join(line for _, line in sorted(lines))
