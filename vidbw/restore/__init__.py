"""Archive restoration before the look: deflicker, dust, scratches, gate weave and grain."""
