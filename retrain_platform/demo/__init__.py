"""The demo: synthetic data for the two example models and a replay of the loop through real automation."""
