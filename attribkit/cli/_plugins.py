"""``attribkit plugins`` and ``attribkit models``: what is installed."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list plugins and what each registers")
    p.set_defaults(func=run_plugins)
    m = sub.add_parser("models", help="list the models load_model and --model accept")
    m.set_defaults(func=run_models)


def run_plugins(args: argparse.Namespace) -> int:
    from attribkit import get_registry

    for plugin in get_registry().plugins():
        origin = plugin.distribution or "registered in code"
        print(f"{plugin.name}  ({origin})")
        if plugin.error is not None:
            print(f"    broken, set aside: {plugin.error}")
            continue
        for reg in sorted(plugin.registrations, key=lambda r: (r.kind, r.name)):
            print(f"    {reg.kind:<10} {reg.name:<28} {reg.description}")
            print(f"    {'':<10} {'':<28} options: {_options(reg.options)}")
            if reg.presets:
                print(f"    {'':<10} {'':<28} presets: {', '.join(sorted(reg.presets))}")
        if not plugin.registrations:
            print("    (registers nothing, or lost every name to another plugin)")
    return 0


def _options(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "(not declared: passed to the factory unchecked)"
    return ", ".join(names) or "(none)"


def run_models(args: argparse.Namespace) -> int:
    from attribkit.models import DEFAULT_MODEL, available_models

    for name in available_models():
        note = "  (default; ImageNet weights bundled)" if name == DEFAULT_MODEL else "  (needs --weights FILE)"
        print(f"{name}{note}")
    return 0
