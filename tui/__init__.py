"""The Textual workstation and the Typer CLI.

Importing ``tui`` or ``tui.cli`` must not import textual: scripted commands start fast.
"""
