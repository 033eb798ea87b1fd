"""Errors whose messages are safe to show to a person, and say how to fix the problem."""


class AssistantError(Exception):
    """Base for errors the CLI and UI show as a plain message, without a traceback."""


class ConfigError(AssistantError):
    """A setting is invalid or names something that cannot be loaded."""


class InvalidQuestionError(AssistantError):
    """The question is empty or too long to answer."""


class IndexMissingError(AssistantError):
    """There is no index where the settings point."""


class IndexCorruptError(AssistantError):
    """The index exists but cannot be read."""


class IngestError(AssistantError):
    """A document cannot be read or holds no text."""


class IndexBusyError(AssistantError):
    """Another process kept the index locked for writing longer than the wait allowed."""


class StoreUnreachableError(ConfigError):
    """The Chroma server did not answer (connection refused, timed out)."""


class StoreUnauthorizedError(ConfigError):
    """The Chroma server refused the request's credentials."""


class StoreIncompatibleError(ConfigError):
    """The store speaks another version of Chroma's API or format than the one installed."""
