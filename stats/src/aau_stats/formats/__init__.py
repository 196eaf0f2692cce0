"""Log formats. Each format says how DuckDB's CSV reader splits its lines into
text columns and how those columns map onto the request model's raw fields
(``ip time method path status bytes user_agent``).

Only the nginx/Apache family exists so far (:mod:`.combined`).
"""

from .combined import FORMATS, detect

__all__ = ["FORMATS", "detect"]
