"""Promotion: the gate that decides whether a candidate replaces the champion."""
