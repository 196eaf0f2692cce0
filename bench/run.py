"""Run the benchmarks. Each prints a Markdown table; copy it into the README with the date.

    ./run bench [--reference DIR]

``--reference`` (or ``$AAU_REFERENCE_SRC``) names a source tree of Anaconda's
anaconda-anon-usage, kept outside this repository, to measure beside ours.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client_conda
import client_tokens

if __name__ == "__main__":
    print("## client: token computation\n")
    client_tokens.main(sys.argv[1:])
    print("\n## client: cost inside conda\n")
    client_conda.main(sys.argv[1:])
