"""The Slack stand-in: a workspace behind a loopback Web API, with Socket Mode, file hosting,
response URLs, and a driver that plays Slack's side of a conversation."""
