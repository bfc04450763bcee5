"""Errors that reach the user as one line on stderr (the CLI prints them without a traceback)."""


class VidbwError(Exception):
    """A problem the user can fix: bad input, bad option, unwritable output. Shown as one line."""


class InputError(VidbwError):
    """The input file or folder is missing, empty, unreadable or has no usable stream."""


class OutputError(VidbwError):
    """The output path cannot be written (exists, is the input, folder not writable, disk full)."""


class OptionError(VidbwError):
    """An unknown style, codec, pixel format or other option value."""
