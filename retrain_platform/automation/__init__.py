"""Automation: the conditions and sensors that run the loop by themselves."""
