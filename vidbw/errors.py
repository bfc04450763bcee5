"""Errors that reach the user as one line on stderr (the CLI prints them without a traceback).

An error about an argument names it as the library's parameter, in backticks (`temporal`), and says
which in `param` (and `mentions`, for others it refers to): the CLI shows each as its flag
(`--temporal`), so a Python caller and a command-line user both read the name they typed.
"""

from __future__ import annotations

from collections.abc import Callable


class VidbwError(Exception):
    """A problem the user can fix: bad input, bad option, unwritable output. Shown as one line.

    `param` is the parameter the error is about; `mentions` other parameters its message names
    (advice such as "run again with `resume` DIR"). Each appears in the message as `name`.
    """

    def __init__(self, message: str = "", *, param: str | None = None, mentions: tuple[str, ...] = ()):
        super().__init__(message)
        self.param = param
        self.mentions = tuple(mentions)

    @property
    def params(self) -> tuple[str, ...]:
        return ((self.param,) if self.param else ()) + self.mentions

    def message_naming(self, name_of: Callable[[str], str]) -> str:
        """The message with each parameter it names written as `name_of(parameter)` (a CLI flag)."""
        text = str(self)
        for name in self.params:
            text = text.replace(f"`{name}`", name_of(name))
        return text


class InputError(VidbwError):
    """The input file or folder is missing, empty, unreadable or has no usable stream."""


class OutputError(VidbwError):
    """The output path cannot be written (exists, is the input, folder not writable, disk full)."""


class OptionError(VidbwError):
    """An unknown style, codec, pixel format or other option value."""
