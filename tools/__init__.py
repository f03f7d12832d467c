"""Developer tools: run the service on a laptop, send it events as Segment does, watch what it publishes."""
