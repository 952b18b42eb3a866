"""Didit's data as the sandbox imitates it: pure functions and constants, no storage and no HTTP.

Features and workflow definitions, scenarios, the test persona, decision payloads, request validation, list rows
and the PDF report.
"""
