"""Reading OMNeT++ result files (.sca, .vec, .vci) and exporting their scalars.

The formats are line oriented: each line starts with a keyword (`run`, `attr`, `scalar`, ...) or,
in vector files, with a vector id. Tokens are separated by spaces or tabs; a token that contains
spaces or special characters is written in double quotes with backslash escapes.

Scalar files are small, so `read_runs` builds one `RunResults` at a time with all its results. Vector
files can be hundreds of megabytes: `read_vector_file` reads only the declarations (from the
.vci index when there is a fresh one), and `VectorFile.samples` seeks to one vector's blocks.

Modules, each importing only those above it: `model` (the data and the errors), `tokens`, `reader`
(.sca), `vectors` (.vec, .vci), `export` (CSV, JSON, DataFrame). This package re-exports their
public names.
"""

from opp_ci.results.export import (
    export_scalars,
    itervar_names,
    run_to_dict,
    scalar_table,
    to_dataframe,
    write_runs_json,
    write_scalars_csv,
)
from opp_ci.results.model import (
    Histogram,
    Parameter,
    ParseError,
    ResultFileError,
    RunResults,
    Scalar,
    Statistic,
    Vector,
    VectorBlock,
    VectorSample,
)
from opp_ci.results.reader import (
    SUPPORTED_VERSIONS,
    find_scalar_files,
    read_all_runs,
    read_runs,
    read_runs_and_errors,
)
from opp_ci.results.tokens import CSV_PRECISION, format_number, parse_number, split_line
from opp_ci.results.vectors import VectorFile, read_vector_file

__all__ = [
    "CSV_PRECISION",
    "SUPPORTED_VERSIONS",
    "Histogram",
    "Parameter",
    "ParseError",
    "ResultFileError",
    "RunResults",
    "Scalar",
    "Statistic",
    "Vector",
    "VectorBlock",
    "VectorFile",
    "VectorSample",
    "export_scalars",
    "find_scalar_files",
    "format_number",
    "itervar_names",
    "parse_number",
    "read_all_runs",
    "read_runs",
    "read_runs_and_errors",
    "read_vector_file",
    "run_to_dict",
    "scalar_table",
    "split_line",
    "to_dataframe",
    "write_runs_json",
    "write_scalars_csv",
]
