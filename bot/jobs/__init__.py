"""Jobs: the runner that takes each admitted request to fal and back into Slack."""
