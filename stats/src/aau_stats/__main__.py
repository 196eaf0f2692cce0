"""``python -m aau_stats``, and the file to give ``spark-submit`` (it runs files, not modules)::

    spark-submit --master spark://host:7077 "$(python -c 'import aau_stats.__main__ as m; print(m.__file__)')" \\
        ingest --engine spark --parquet s3a://bucket/store s3a://bucket/logs/2026-11-20/
"""

import sys

from aau_stats.cli import main

if __name__ == "__main__":
    sys.exit(main())
