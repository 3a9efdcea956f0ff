"""The one plugin manager: loads the ``m0`` entry points once and keeps the registries.

Built-in plugins are entry points of m0's own distribution, so they load exactly like a third
party's. Environment switches:

- ``M0_DEBUG=1`` re-raises a plugin's import error with its traceback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from m0core import hookspecs
from m0core.errors import OptionError, PluginError

KINDS = ("sources", "analyzers", "selectors", "encoders", "writers")

pm = pluggy.PluginManager("m0")
pm.add_hookspecs(hookspecs)

_lock = threading.RLock()
_loaded = False
_registries: dict[str, dict[str, Registration]] | None = None


@dataclass(frozen=True)
class Registration:
    """A name registered for a stage, the factory behind it and the plugin that gave it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str


@dataclass
class PluginInfo:
    """What ``m0 plugins`` shows about one loaded (or failed) plugin."""

    name: str
    module: str
    dist: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


_infos: dict[str, PluginInfo] = {}


def debug() -> bool:
    """Whether ``M0_DEBUG`` asks for tracebacks."""
    return os.environ.get("M0_DEBUG", "") not in ("", "0")


def _is_builtin(ep: EntryPoint) -> bool:
    return ep.value.split(":")[0].split(".")[0] == "m0_plugins"


def load_plugins() -> None:
    """Load every ``m0`` entry point once; later calls do nothing.

    A plugin that fails to import is recorded (see :func:`failed_plugins`) and skipped, so the
    others keep working. ``pm.check_pending()`` then rejects hooks m0 does not define.
    """
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for ep in entry_points(group="m0"):
            _load_entry_point(ep)
        _reject_unknown_hooks()
        for name, plugin in pm.list_name_plugin():
            if name in _infos:
                _infos[name].hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])


def _reject_unknown_hooks() -> None:
    """Unregister every plugin with a hook m0 does not define (a misspelling, usually)."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or str(exc.plugin)
            info = _infos.setdefault(name, PluginInfo(name, str(exc.plugin)))
            info.error = str(exc)
            pm.unregister(exc.plugin)
            if debug():
                raise


def _load_entry_point(ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist else None
    version = ep.dist.version if ep.dist else None
    info = PluginInfo(ep.name, ep.value, dist, version, builtin=_is_builtin(ep))
    _infos[ep.name] = info
    if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
        return
    try:
        module = ep.load()
        pm.register(module, name=ep.name)
    except Exception as exc:
        info.error = f"{type(exc).__name__}: {exc}"
        if debug():
            raise


def failed_plugins() -> list[PluginInfo]:
    """Plugins that could not be loaded, with the reason."""
    load_plugins()
    return [info for info in _infos.values() if info.error]


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen through the entry points, loaded or not, sorted by name."""
    load_plugins()
    return sorted(_infos.values(), key=lambda info: info.name)


def describe_failure(info: PluginInfo) -> str:
    """The one line that reports a plugin that could not be loaded."""
    dist = f" ({info.dist} {info.version})" if info.dist else ""
    return f'Error loading m0 plugin "{info.name}"{dist}: {info.error}'


def registries() -> dict[str, dict[str, Registration]]:
    """Every registered name by kind: ``{"analyzers": {"rms-streaming": Registration}, ...}``.

    Raises :class:`PluginError` when two plugins register the same name for the same kind.
    """
    global _registries
    with _lock:
        if _registries is not None:
            return _registries
        load_plugins()
        result: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            caller = getattr(pm.hook, f"m0_register_{kind}")
            for impl in reversed(caller.get_hookimpls()):
                _call_register(kind, impl, result[kind])
        _registries = result
        return result


def _call_register(kind: str, impl: Any, table: dict[str, Registration]) -> None:
    plugin = impl.plugin_name

    def register(name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f'm0 plugin "{plugin}" registered a {kind[:-1]} with no name')
        if name in table:
            raise PluginError(
                f'{kind[:-1]} "{name}" is registered twice: by plugin "{table[name].plugin}" '
                f'and by plugin "{plugin}"'
            )
        table[name] = Registration(kind, name, factory, plugin)

    try:
        impl.function(register=register)
    except PluginError:
        raise
    except Exception as exc:
        if debug():
            raise
        raise PluginError(f'm0 plugin "{plugin}" failed in m0_register_{kind}: {exc}') from exc


def lookup(kind: str, name: str) -> Registration:
    """The registration of ``name`` for ``kind`` or an :class:`OptionError` listing the choices."""
    table = registries()[kind]
    if name not in table:
        choices = ", ".join(sorted(table)) or "none installed"
        raise OptionError(f'unknown {kind[:-1]} "{name}" (available: {choices})')
    return table[name]


def create(kind: str, name: str, **params: Any) -> Any:
    """Build the stage ``name`` of ``kind`` with ``params``; a failure names the plugin."""
    reg = lookup(kind, name)
    try:
        return reg.factory(**params)
    except TypeError as exc:
        raise OptionError(f'{kind[:-1]} "{name}" does not take these options: {exc}') from exc
    except (OptionError, PluginError):
        raise
    except ValueError as exc:
        raise OptionError(f'{kind[:-1]} "{name}": {exc}') from exc


def reset() -> None:
    """Forget loaded plugins and registries (for tests that register throwaway plugins)."""
    global _loaded, _registries
    with _lock:
        for name, plugin in list(pm.list_name_plugin()):
            pm.unregister(plugin, name=name)
        _infos.clear()
        _loaded = False
        _registries = None


def invalidate() -> None:
    """Rebuild the registries on next use (after registering a plugin by hand)."""
    global _registries
    with _lock:
        _registries = None
