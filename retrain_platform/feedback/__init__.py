"""Delayed labels come back: live traffic joined with its labels, judged like the champion's own monitoring."""
