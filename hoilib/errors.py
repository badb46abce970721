"""Error types whose messages name the file, field and expected value."""


class HoiBookError(Exception):
    """Base class: anything the user can fix by changing an input."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook (IPython shows this instead of a traceback): the one line, as on the command line."""
        return [f"{type(self).__name__}: {self}"]


class ConfigError(HoiBookError):
    """Unknown profile, unknown parameter, or a value of the wrong type."""


class DataError(HoiBookError):
    """An annotation file or image that is missing or malformed."""


class ArtifactError(HoiBookError):
    """A run artifact (checkpoint, tensors, metadata) that is missing, truncated or foreign."""


class TooBig(HoiBookError):
    """A run that needs more disk or memory than the machine has (``--force`` overrides)."""


class DiskFull(HoiBookError):
    """No space left on the device a run writes to, met during the run."""
