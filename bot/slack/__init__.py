"""Outgoing Slack: the Web API client, people's files, the one notifier, admins, and the Block Kit
views of every surface (card, dialog, usage, reports, App Home) over builders that keep Slack's
limits."""
