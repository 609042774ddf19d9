"""Chat-platform adapters: a platform-neutral core (``core``) and one small module per platform.

``core`` knows conversations, duplicates and how to turn a question into a reply (or a stream
of one) that never raises; ``slack`` (the Bolt app and its listeners), ``slack_web`` (Web API
client, retries, delivery), ``slack_format`` (mrkdwn) and ``slack_http`` (the ASGI endpoint)
are the Slack adapter. Another platform is one more module on top of ``core``.

The Slack modules are not imported here so that importing ``assistant.surfaces.bots`` never needs
``slack_bolt``; use ``from assistant.surfaces.bots.slack import run_slack, create_slack_app``.
"""

from assistant.surfaces.bots.core import BotCore, BotReply, ConversationBook, SeenEvents, ThreadKey

__all__ = ["BotCore", "BotReply", "ConversationBook", "SeenEvents", "ThreadKey"]
