"""Dates as ISO 8601 (YYYY-MM-DD) in English as in Chinese: see config/formats/__init__.py."""

from config.formats.iso import *  # noqa: F403
