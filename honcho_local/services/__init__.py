"""Domain services: plain synchronous Python over the store (and, later, the model layer)."""
