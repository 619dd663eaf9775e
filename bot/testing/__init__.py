"""Loopback stand-ins for the Slack Web API and fal's queue, for the tests and `imagebot demo`."""
