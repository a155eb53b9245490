"""Errors that the command line reports as one line and exit status 2."""


class SambenchError(Exception):
    """Bad usage or bad input: the message names the file, field or value at fault."""


class ConfigError(SambenchError):
    """A task or dataset configuration is malformed."""


class DataError(SambenchError):
    """A dataset file is missing or malformed."""


class MissingFileError(DataError):
    """A file or folder a dataset needs does not exist (the message names it).

    Suites treat such a dataset as absent rather than broken.
    """


class RecordsError(SambenchError):
    """A run directory's records are unreadable or inconsistent."""
