"""The package's one exception hierarchy; each surface turns these into its own messages.

- ``AssistantError``: the base; its message is written for a person to read.
- ``InputError`` (``QuestionError``, ``FilterError``): what the caller asked cannot be
  asked as written; the message says what to change.
- ``ConfigError`` (``ExposureError``, ``SlackConfigError``): the settings cannot work; the
  message names the setting (never a secret's value).
- ``IndexFailure`` (``IndexUnavailable``): the index is missing, unreadable or built with
  other settings; the message says what to run.
- ``ModelError`` (``SynthesisError``, ``LLMFailure``): a model could not answer; the answer
  pipeline answers offline instead, so surfaces rarely see one.

The classes stay importable from where they were defined before this module
(``assistant.api.QuestionError``, ``assistant.index.store.IndexUnavailable`` …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Nothing imported at run time: the CLI imports this module before it knows the command.
if TYPE_CHECKING:
    from assistant.schema import Usage


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose; ``code`` is a stable name for
    machines (the HTTP API's error code)."""

    code = "assistant_error"


class InputError(AssistantError, ValueError):
    """A question, filter or argument that cannot be used as given."""

    code = "invalid_input"


class QuestionError(InputError):
    """The question cannot be asked as written; the message says why, for a person to read."""

    code = "invalid_question"


class FilterError(InputError):
    """A filter names an episode or speaker the index does not have."""

    code = "unknown_filter"


class ConfigError(AssistantError, ValueError):
    """Settings that cannot work together; the message names the setting to fix."""

    code = "invalid_settings"


class ExposureError(ConfigError):
    """A server would listen beyond this machine with no key: refused, with how to fix it."""

    code = "exposed_without_key"


class SlackConfigError(ConfigError):
    """The Slack settings cannot work; the message names the setting to fix (never its value)."""

    code = "invalid_slack_settings"


class IndexFailure(AssistantError, RuntimeError):
    """The index cannot be searched."""

    code = "index_failure"


class IndexUnavailable(IndexFailure):
    """The index is missing, unreadable or built with other settings; the message says what to do."""

    code = "index_unavailable"


class ModelError(AssistantError):
    """A model (an OpenAI-compatible server) did not produce a usable answer."""

    code = "model_error"


class SynthesisError(ModelError):
    """A synthesizer could not answer; the pipeline answers offline with ``notice``.

    ``reason`` is safe to log and ``usage`` keeps the cost of the calls that failed.
    """

    code = "synthesis_failed"

    def __init__(self, reason: str, notice: str, usage: Usage | None = None) -> None:
        from assistant.schema import Usage

        super().__init__(reason)
        self.reason = reason
        self.notice = notice
        self.usage = usage or Usage()


class LLMFailure(ModelError):
    """A model call that did not produce a usable reply; ``reason`` is safe to log and show."""

    code = "model_call_failed"

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry  # worth asking again (the reply broke after it started)
