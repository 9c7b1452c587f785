"""Date and time formats per language (settings.FORMAT_MODULE_PATH).

One format in every language: ISO 8601, 2026-11-20 and 2026-11-20 14:05. Why: "03/04/2026" is
4 March to a British reader and 3 April to an American one; a study's dates are read across sites,
languages, exports and monitoring reports, and ISO dates cannot be misread, sort as text and are
what the exports, the API and the date inputs use. Chinese readers use the same order (2026-11-20 =
2026年11月20日).
"""
