"""The errors of a user's own input (``--input``): each names the file,
field or shape at fault, and is a :class:`~lavacut.util.LavacutError`
(exit 2) and a ValueError."""

from __future__ import annotations

from lavacut.data.events import EventFileError
from lavacut.util import LavacutError


class UserInputError(LavacutError, ValueError):
    """A user's input file or folder cannot be used; the message names it."""


class UnsupportedFileError(UserInputError):
    """A file no registered format reads (or one named for another format)."""


class EmptyInputError(UserInputError):
    """An empty folder, class folder or array."""


class InputShapeError(UserInputError):
    """Frames whose shape does not match the network input."""


class FrameValuesError(UserInputError):
    """Frames that are not binary spikes (NaN, negative or other values)."""


class LabelError(UserInputError):
    """Labels or classes that do not fit the samples."""


class SensorError(UserInputError):
    """An invalid sensor size, or events outside it."""


class RecordingError(UserInputError, EventFileError):
    """An empty, corrupt or truncated event file, or one lacking fields."""
