"""Telling people what the loop did: events read from the Dagster instance, sent to webhooks and email."""
