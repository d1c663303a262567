"""tickdesk's engine: instruments, exact numbers, order book, matching, accounts, risk, journal.

This package never imports ``feeds``, ``strategies``, ``tui``, textual or rich (a test enforces it).
"""
