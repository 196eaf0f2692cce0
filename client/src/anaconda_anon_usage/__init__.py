"""Anonymous usage tokens for conda's user agent.

``anaconda_anon_usage.tokens`` computes the tokens; ``anaconda_anon_usage.grammar``
says what a token looks like on the wire. Importing this package imports
nothing else, so that it costs nothing inside conda.
"""

__version__ = "0.9.0"
