"""The vocabulary every layer shares, without I/O: the image request and fal's size rules, dollars,
calendar periods, the clock, why a job failed (and what the person is told), people's images
checked before anything is sent."""
