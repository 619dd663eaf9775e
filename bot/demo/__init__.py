"""`imagebot demo`: the real bot, in this process, against the Slack stand-in and the mock
provider."""
