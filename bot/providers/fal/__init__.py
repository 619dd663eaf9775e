"""fal: its queue (submit, status, result, cancel), the answers it gives, and its Platform API."""
