"""The built-in plugins. Each module is an entry point of group ``attribkit`` in ``pyproject.toml``;
the core never imports them by name."""
