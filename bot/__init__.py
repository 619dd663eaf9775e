"""imagebot: a Slack bot that makes and edits images with GPT Image 2 on fal."""

__version__ = "0.1.0"
