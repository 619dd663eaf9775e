"""One Block Kit module per surface, each built from bot.slack.blockkit's builders only."""
