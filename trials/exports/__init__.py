"""Analysis-ready exports of the whole study: CSV, Excel, SPSS, Stata, SAS transport and CDISC ODM.

Variable names are the data dictionary's (docs/design.md §2). De-identified by default: no date of
birth, hospital number or initials, age at enrolment instead. Each form is one table keyed by `screening_number`.

- `variables`: what each column is (type, labels, codes), read off the model fields;
- `frames`: the study read in one database snapshot;
- `statistical`: SPSS, Stata and SAS transport files; `odm`: CDISC ODM 1.3.2;
- `dictionary`: the data dictionary; `archive`: one export start to finish, with its checksums.
"""

from trials.exports.archive import FORMATS, ExportFile, render
from trials.exports.dictionary import data_dictionary
from trials.exports.frames import read_study, snapshot
from trials.exports.variables import FORMS, IDENTIFYING, LANGUAGES, export_fields, study_variables

__all__ = [
    "FORMATS",
    "FORMS",
    "IDENTIFYING",
    "LANGUAGES",
    "ExportFile",
    "data_dictionary",
    "export_fields",
    "read_study",
    "render",
    "snapshot",
    "study_variables",
]
