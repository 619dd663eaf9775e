"""Image providers: what the runner needs from one (submit, status, result, bill, cancel), fal's
queue and Platform API, the local mock, model profiles and the price table."""
