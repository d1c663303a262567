"""Market sources for the workstation and the one-shot CLI (never imports textual).

``tui.sources.base.open_source(spec, settings, symbols)`` builds one from a ``--source`` spec.
"""
