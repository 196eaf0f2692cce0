"""Log formats (see :mod:`.base` for what a format provides).

- ``combined``, ``common``, ``vhost_combined``: nginx and Apache (:mod:`.combined`);
- ``cloudfront``: Amazon CloudFront standard logs (:mod:`.cloudfront`);
- ``cloudflare``: Cloudflare Logpush ``http_requests`` JSON lines (:mod:`.cloudflare`);
- ``s3``: Amazon S3 server access logs (:mod:`.s3`).
"""

from .base import Layout, LogFormat
from .cloudflare import CloudflareJSON
from .cloudfront import CloudFront
from .combined import COMBINED, COMMON, VHOST_COMBINED
from .s3 import S3Access

FORMATS = {fmt.name: fmt for fmt in (COMBINED, VHOST_COMBINED, COMMON, CloudFront(), CloudflareJSON(), S3Access())}


def detect(sample_lines):
    """The name of the format most of ``sample_lines`` (bytes) look like, or ``None``."""
    votes = {}
    for line in sample_lines:
        for name, fmt in FORMATS.items():
            if fmt.looks_like(line):
                votes[name] = votes.get(name, 0) + 1
                break
    return max(votes, key=votes.get) if votes else None


__all__ = ["FORMATS", "Layout", "LogFormat", "detect"]
