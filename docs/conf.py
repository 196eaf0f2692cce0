"""Sphinx configuration of the manual. Build it with ``./run docs`` (warnings are errors)."""

project = "Anonymous usage tokens for conda"
author = "the aau-stats and anaconda-anon-usage authors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# Links such as [the schema](ingestion.md#schema) resolve to headings down to the third level.
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]
html_theme = "furo"
html_title = project
html_static_path = []
