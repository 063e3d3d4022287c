"""Exceptions a user can cause. Their messages name the file, the row or ID, and the remedy."""


class HendersonError(Exception):
    """Base class: an error in the user's input or configuration (printed without a traceback)."""


class InputError(HendersonError):
    """Bad content in an input table (pedigree, phenotypes)."""


class ConfigError(HendersonError):
    """A configuration key that is unknown, of the wrong type or inconsistent with the data."""


class NumericalError(HendersonError):
    """A system that cannot be solved as specified (e.g. a singular coefficient matrix)."""
