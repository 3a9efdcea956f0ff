"""The one plugin manager: loads the ``m0`` entry points once and keeps the registries.

Built-in plugins are entry points of m0's own distribution, so they load exactly like a third
party's. Switches:

- ``M0_DEBUG=1`` re-raises a plugin's import error with its traceback.
- ``M0_LOAD_PLUGINS=a,b`` loads only the third-party plugins named (entry-point names) besides
  the built-ins; ``M0_LOAD_PLUGINS=''`` loads the built-ins only (the safe mode).
- :func:`block` (``m0 --disable-plugin NAME``) keeps one third-party plugin from loading.
- ``M0_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np
import pluggy

from m0core import combine, contracts, hookspecs
from m0core.errors import M0Error, OptionError, PluginError, debug
from m0core.options import SET_BY_M0

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from m0core.model import MediaInfo
    from m0core.options import Options

KINDS = ("sources", "analyzers", "selectors", "encoders", "writers")

pm = pluggy.PluginManager("m0")
pm.add_hookspecs(hookspecs)

_lock = threading.RLock()
_loaded = False
_blocked: set[str] = set()
_undo_trace: Callable[[], None] | None = None
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
    disabled: str | None = None
    hooks: list[str] = field(default_factory=list)


_infos: dict[str, PluginInfo] = {}


#: The distribution whose entry points are m0's built-in plugins.
DISTRIBUTION = "m0-clipper"


#: ``(name, version)`` of each distribution whose metadata was read (see :func:`_dist`).
_dists: dict[Any, tuple[str, str]] = {}


def _dist(ep: EntryPoint) -> tuple[str | None, str | None]:
    """``(name, version)`` of the distribution that installed ``ep``. Each read of a
    distribution's metadata parses its METADATA file anew (a few ms): once per distribution."""
    if ep.dist is None:
        return None, None
    if ep.dist not in _dists:
        _dists[ep.dist] = (ep.dist.name, ep.dist.version)
    return _dists[ep.dist]


def _is_builtin(ep: EntryPoint) -> bool:
    """Whether ``ep`` is one of m0's own: installed by m0's distribution (not merely pointing
    at an ``m0_plugins`` module: any package can name one) and loading from ``m0_plugins``."""
    dist = _dist(ep)[0] or ""
    return (re.sub(r"[-_.]+", "-", dist).lower() == DISTRIBUTION
            and ep.value.split(":")[0].split(".")[0] == "m0_plugins")


def load_target(value: str) -> Any:
    """The object an entry-point value (``module[:attr.attr]``) names, its module imported —
    without :mod:`importlib.metadata` (a worker process and a deferred stage need no more)."""
    module, _, attribute = value.partition(":")
    target: Any = import_module(module.strip())
    for part in filter(None, attribute.split("[")[0].strip().split(".")):
        target = getattr(target, part)
    return target


def _allowed() -> set[str] | None:
    """The third-party plugins ``M0_LOAD_PLUGINS`` allows, or ``None`` when it is not set."""
    value = os.environ.get("M0_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def block(name: str) -> None:
    """Keep the third-party plugin ``name`` (its entry-point name) from loading or, if it is
    loaded, unregister it. Built-in plugins cannot be blocked; an unknown name is an error."""
    from importlib.metadata import entry_points

    with _lock:
        found = [ep for ep in entry_points(group="m0") if ep.name == name]
        if not found:
            raise OptionError(f'cannot disable plugin "{name}": no m0 plugin of that name is '
                              "installed (see 'm0 plugins')")
        if any(_is_builtin(ep) for ep in found):
            raise OptionError(f'cannot disable plugin "{name}": it is built into m0')
        pm.set_blocked(name)
        _blocked.add(name)
        if name in _infos:
            _infos[name].disabled = "disabled by --disable-plugin"
        invalidate()


def blocked() -> tuple[str, ...]:
    """The plugins blocked in this process (for worker processes to block them too)."""
    return tuple(sorted(_blocked))


def _trace_before(hook_name: str, hook_impls: list, kwargs: dict) -> None:
    names = ", ".join(impl.plugin_name for impl in hook_impls) or "no plugin"
    print(f"m0 trace: {hook_name}({', '.join(kwargs)}) → {names}", file=sys.stderr)


def _trace_after(outcome: Any, hook_name: str, hook_impls: list, kwargs: dict) -> None:
    names = ", ".join(impl.plugin_name for impl in hook_impls) or "no plugin"
    failed = outcome.exception
    how = f"raised {type(failed).__name__}: {failed}" if failed else "ok"
    print(f"m0 trace: {hook_name} ← {names}: {how}", file=sys.stderr)


def load_plugins() -> None:
    """Load every ``m0`` entry point once; later calls do nothing.

    A plugin that fails to import is recorded (see :func:`failed_plugins`) and skipped, so the
    others keep working, as is one named as a plugin loaded before it: m0's own load first,
    so none of theirs is replaced. ``pm.check_pending()`` then rejects hooks m0 does not
    define.
    """
    with _lock:
        if _loaded:  # a worker's load_only: no need to read the distributions' metadata
            return
        from importlib.metadata import entry_points

        _start_loading()
        for ep in sorted(entry_points(group="m0"), key=lambda ep: not _is_builtin(ep)):
            _load_entry_point(ep)
        _end_loading()


def load_only(modules: dict[str, dict[str, Any]]) -> None:
    """Load just the plugins ``modules`` (``{entry-point name: {"module": "module[:attr]",
    "dist": ..., "version": ..., "builtin": bool}}``, as :func:`modules_of` gives them)
    instead of every entry point; later calls and :func:`load_plugins` do nothing.

    For a worker process whose parent resolved its stages: it neither reads the installed
    distributions' metadata nor imports the plugins it does not use. An import error is
    raised: the parent loaded these plugins already.
    """
    with _lock:
        if _loaded:
            return
        _start_loading()
        for name, about in modules.items():
            value = str(about["module"])
            _infos[name] = PluginInfo(name, value, about.get("dist"), about.get("version"),
                                      builtin=bool(about.get("builtin")))
            pm.register(load_target(value), name=name)
        _end_loading()


def modules_of(stages: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """``{entry-point name: {"module", "dist", "version", "builtin"}}`` of the plugins that provide
    ``stages`` (``(kind, name)`` pairs): what :func:`load_only` loads in a worker process to
    build them. A stage registered in this process only (:func:`in_process`) has no module to
    name: KeyError."""
    found = {}
    for kind, name in stages:
        info = _infos[lookup(kind, name).plugin]
        found[info.name] = {"module": info.module, "dist": info.dist, "version": info.version,
                            "builtin": info.builtin}
    return found


def _start_loading() -> None:
    global _loaded, _undo_trace
    _loaded = True
    if os.environ.get("M0_TRACE_PLUGINS", "") not in ("", "0"):
        _undo_trace = pm.add_hookcall_monitoring(_trace_before, _trace_after)


def _end_loading() -> None:
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
            info.error = _one_line(str(exc))
            pm.unregister(exc.plugin)
            _show_traceback()


def _load_entry_point(ep: EntryPoint) -> None:
    dist, version = _dist(ep)
    info = PluginInfo(ep.name, ep.value, dist, version, builtin=_is_builtin(ep))
    allowed = _allowed()
    if pm.is_blocked(ep.name):
        info.disabled = "disabled by --disable-plugin"
    elif not info.builtin and allowed is not None and ep.name not in allowed:
        info.disabled = "not in M0_LOAD_PLUGINS"
    taken = _infos.get(ep.name)
    if taken is not None:  # listed under another key: the plugin of that name is the first
        _infos[f"{ep.name} ({dist} {version})"] = info
        if not info.disabled:
            info.error = (f"another installed plugin has that name ({taken.dist} "
                          f"{taken.version}): rename the entry point in its "
                          "[project.entry-points.m0]")
        return
    _infos[ep.name] = info
    if info.disabled or pm.get_plugin(ep.name) is not None:
        return
    try:
        module = ep.load()
        pm.register(module, name=ep.name)
    except (Exception, SystemExit) as exc:  # a sys.exit() in a plugin does not end m0
        info.error = said(exc)
        _show_traceback()


def said(exc: BaseException) -> str:
    """``Type: message`` of a plugin's exception ``exc`` on one line (the lines of a message
    of several joined by "; "), or its type alone when it has no message."""
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text: str) -> str:
    """``text``'s lines, stripped, joined by "; " (pluggy's messages have several)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _show_traceback() -> None:
    """With ``M0_DEBUG=1``: the traceback of the exception being handled (a plugin that could
    not be loaded), on stderr; the other plugins keep working either way."""
    if debug():
        import traceback

        traceback.print_exc()


def failed_plugins() -> list[PluginInfo]:
    """Plugins that could not be loaded (imported, or their hooks run), with the reason."""
    registries()
    return [info for info in _infos.values() if info.error]


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen through the entry points, loaded or not, sorted by name."""
    load_plugins()
    return sorted(_infos.values(), key=lambda info: info.name)


def version_of(plugin: str) -> str | None:
    """The distribution version of the plugin registered as ``plugin``, if known."""
    load_plugins()
    info = _infos.get(plugin)
    return info.version if info else None


def unknown_allowed() -> list[str]:
    """The names in ``M0_LOAD_PLUGINS`` that no installed plugin has (a misspelling: what
    was meant is not loaded), sorted."""
    load_plugins()
    return sorted((_allowed() or set()) - set(_infos))


def describe_unknown_allowed(names: list[str]) -> str:
    """The one line that reports the ``names`` of :func:`unknown_allowed`, with the
    third-party plugins installed (the names ``M0_LOAD_PLUGINS`` chooses from)."""
    quoted = ", ".join(f'"{name}"' for name in names)
    what = "an installed m0 plugin" if len(names) == 1 else "installed m0 plugins"
    installed = sorted(info.name for info in _infos.values() if not info.builtin)
    choice = (f"the third-party plugins installed: {', '.join(installed)}" if installed
              else "no third-party plugin is installed")
    return f"M0_LOAD_PLUGINS names {quoted}, not {what} ({choice})"


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
        failed: set[str] = set()
        for kind in KINDS:
            caller = getattr(pm.hook, f"m0_register_{kind}")
            for impl in reversed(caller.get_hookimpls()):
                if impl.plugin_name not in failed and not _call_register(kind, impl,
                                                                          result[kind]):
                    failed.add(impl.plugin_name)
        for table in result.values():  # none of a failed plugin's stages, as if not loaded
            for name in [name for name, reg in table.items() if reg.plugin in failed]:
                del table[name]
        _registries = result
        return result


def _call_register(kind: str, impl: Any, table: dict[str, Registration]) -> bool:
    """Call one plugin's ``m0_register_<kind>`` (through pluggy, so tracing sees it) with a
    ``register`` that knows which plugin is registering. A hook that raises is the plugin's
    failure to load, recorded as an import error is (:func:`failed_plugins`): ``False``."""
    plugin = impl.plugin_name
    others = [p for p in pm.get_plugins() if p is not impl.plugin]
    hook = pm.subset_hook_caller(f"m0_register_{kind}", remove_plugins=others)

    def register(name: str, factory: Callable[..., Any]) -> None:
        problem = _name_problem(kind, name)
        if problem is not None:
            raise _BadName(problem)
        taken = _find_in(table, name)  # names are taken in any case: "Top" is "top"
        if taken is not None:
            spelt = "" if taken.name == name else f' (as "{taken.name}")'
            raise PluginError(
                f'{kind[:-1]} "{name}" is registered twice: by plugin "{taken.plugin}"{spelt} '
                f'and by plugin "{plugin}"'
            )
        table[name] = Registration(kind, name, factory, plugin)

    try:
        hook(register=register)
    except PluginError:
        raise
    except (Exception, SystemExit) as exc:
        info = _infos.get(plugin)
        if info is None:  # registered by hand in this process (a test's): its caller hears it
            if isinstance(exc, _BadName):
                raise PluginError(f'm0 plugin "{plugin}" {exc}') from exc
            if debug():
                raise
            raise PluginError(f'm0 plugin "{plugin}" failed in m0_register_{kind}: {exc}'
                              ) from exc
        text = _one_line(str(exc))
        info.error = text if isinstance(exc, _BadName) else (
            f"{type(exc).__name__} in m0_register_{kind}" + (f": {text}" if text else ""))
        _show_traceback()
        return False
    return True


class _BadName(ValueError):
    """A name a plugin registered that users could not type (:func:`_name_problem`)."""


def _name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` cannot be registered for ``kind``, or ``None``: a name users can type after
    ``--analyzer`` and the like, not empty, without spaces and, an analyzer's, without ``+``
    (which joins analyzers: ``--analyzer loudness+onset``)."""
    what = contracts._a(kind[:-1])
    if not isinstance(name, str) or not name:
        return f"registered {what} with no name"
    if any(c.isspace() for c in name):
        return f'registered {what} named "{name}": a name has no spaces'
    if kind == "analyzers" and "+" in name:
        return (f'registered an analyzer named "{name}": "+" joins analyzers (--analyzer a+b), '
                "so no name has one")
    return None


def _find(kind: str, name: str) -> Registration | None:
    """The registration of ``name`` for ``kind``, in any case (``CSV``, ``Standout``)."""
    return _find_in(registries()[kind], name)


def _find_in(table: dict[str, Registration], name: str) -> Registration | None:
    """The registration of ``name`` in ``table``, spelt in any case (no two registered names
    differ in case only)."""
    if name in table:
        return table[name]
    return next((reg for key, reg in table.items() if key.casefold() == name.casefold()), None)


def lookup(kind: str, name: str) -> Registration:
    """The registration of ``name`` for ``kind`` (in any case, see :func:`_find`), or an
    :class:`OptionError` listing the choices and suggesting the nearest (``did you mean``).

    The one place a stage's or writer's name is looked up: the command line's, the API's and
    a batch's names all come here."""
    reg = _find(kind, name)
    if reg is not None:
        return reg
    table = registries()[kind]
    choices = ", ".join(sorted(table)) or "none installed"
    spelt = {key.casefold(): key for key in table}
    near = difflib.get_close_matches(name.casefold(), list(spelt), n=1)
    hint = f': did you mean "{spelt[near[0]]}"?' if near else ""
    parts = [part.strip() for part in name.split(",")]
    if kind == "writers" and len(parts) > 1 and all(_find(kind, part) for part in parts):
        hint = f": one format a name ({' '.join(f'-f {part}' for part in parts)})"  # -f csv,edl
    off = [f"{info.name}, {info.disabled or 'failed to load'}" for info in plugin_infos()
           if info.disabled or info.error]  # why, in the warning said as it failed
    also = f"; not loaded: {'; '.join(off)}" if off else ""  # one of them may register it
    raise OptionError(f'unknown {kind[:-1]} "{name}"{hint} (available: {choices}{also})')


def named(options: Options) -> Options:
    """``options`` with every stage and writer named as its plugin registered it (``CSV`` →
    ``csv``; each part of a combined analyzer), so what follows compares and records one
    spelling; an unknown name is :func:`lookup`'s :class:`OptionError`, as is a ``-P``
    parameter a stage does not take or one it needs (:func:`check_params`): said before a
    run, a batch or the GUI's start, not by each job. The encoder is looked up only when clips
    are cut."""
    analyzer = "+".join(lookup("analyzers", part).name
                        for part in combine.parts(options.analyzer))
    encoder = lookup("encoders", options.encoder).name if options.clips else options.encoder
    names = {"source": lookup("sources", options.source).name, "analyzer": analyzer,
             "selector": lookup("selectors", options.selector).name, "encoder": encoder,
             "formats": tuple(lookup("writers", name).name for name in options.formats)}
    for stage in ("source", "analyzer", "selector", "encoder"):
        if stage != "encoder" or options.clips:
            check_params(f"{stage}s", names[stage], dict(getattr(options, f"{stage}_params")))
    if all(getattr(options, key) == value for key, value in names.items()):
        return options
    return replace(options, **names)


def in_process(kind: str, name: str) -> bool:
    """Whether the stage ``name`` of ``kind`` comes from a plugin registered in this process
    by hand (``m0core.testing.registered``, ``pm.register``) rather than through an entry
    point: a new process (a decoding worker, a batch job) cannot build it by name."""
    reg = _find(kind, name)
    return reg is not None and reg.plugin not in _infos


#: The keyword arguments m0 itself gives a stage's factory, by kind (besides the user's -P
#: parameters): a factory that does not take one is its plugin's fault, not the user's.
GIVEN: dict[str, tuple[str, ...]] = {
    "selectors": ("timeline", "threshold"),
    "encoders": ("media", "out_dir", "workers", "cut", "timeout", "short_form"),
}


def create(kind: str, name: str, **params: Any) -> Any:
    """Build the stage ``name`` of ``kind`` with ``params``; a failure names the plugin.

    Parameters the factory does not take, or a ``ValueError`` from it, are an
    :class:`OptionError`; any other exception (not an :class:`M0Error`) is a
    :class:`PluginError` naming the plugin (see :func:`blame`), as is a stage without a member
    its contract requires (:func:`m0core.contracts.stage_problem`). An analyzer name of several
    registered names joined by ``+`` builds a :class:`~m0core.combine.Combined` analyzer of them.
    """
    if not isinstance(name, str):
        raise OptionError(f"{kind[:-1]} must be a plugin name, not {name!r}")
    if kind == "analyzers" and len(combine.parts(name)) > 1:
        check_params(kind, name, params)
        return combine.Combined({part: create(kind, part) for part in combine.parts(name)},
                                analyzer_scores, check_count)
    reg = lookup(kind, name)
    if not callable(reg.factory):
        raise broken(kind, name, f"registered {reg.factory!r:.60} as its factory, which is not "
                                 "callable")
    ours = [p for p in GIVEN.get(kind, ()) if p in params and not accepts(kind, name, p)]
    if ours:  # not the user's options: the factory does not fit its contract
        raise broken(kind, name, f"its factory does not take {', '.join(ours)}, which m0 gives "
                                 f"every {kind[:-1]} (take **params)")
    check_params(kind, name, params)
    with blame(kind, name):
        try:
            stage = reg.factory(**params)
        except (ValueError, OptionError) as exc:  # a bad parameter: one line naming the stage
            raise OptionError(f'{kind[:-1]} "{name}": {_one_line(str(exc))}') from exc
    problem = contracts.stage_problem(kind[:-1], stage)
    if problem is not None:  # before the run: not hours later, when the member is first used
        raise broken(kind, name, problem)
    return stage


def check_params(kind: str, name: str, params: dict[str, Any]) -> None:
    """Raise :class:`OptionError` for a parameter in ``params`` that the factory of ``name``
    does not take (``-P selector.margn_db=8``: the nearest it takes is suggested), or one it
    needs that neither ``params`` nor m0 (:data:`GIVEN`) give, without building the stage: how
    :func:`create` tells the user's mistake from a plugin's bug, and how a run, a batch and
    the GUI check the ``-P`` parameters once, before anything runs (:func:`named`)."""
    if kind == "analyzers" and len(combine.parts(name)) > 1:
        if params:
            raise OptionError(f'analyzer "{name}": a combined analyzer takes no parameters '
                              f"(got {', '.join(sorted(params))})")
        return
    factory = lookup(kind, name).factory
    refused = _refused(factory, params, SET_BY_M0.get(kind[:-1], {}))
    if refused:
        raise OptionError(f'{kind[:-1]} "{name}" does not take {refused}')
    missing = _missing(factory, {**dict.fromkeys(GIVEN.get(kind, ())), **params})
    if missing:
        needs = ", ".join(f'"{m}"' for m in missing)
        if kind == "writers":
            raise broken(kind, name, f"its factory needs {needs}, but a writer's factory is "
                                     "called without arguments")
        stage = kind[:-1]
        raise OptionError(f'{stage} "{name}" needs the parameter{"s" * (len(missing) > 1)} '
                          f"{needs} (-P {stage}.{missing[0]}=VALUE)")


def takes(kind: str, name: str, param: str) -> bool:
    """Whether the factory of ``name`` names the keyword parameter ``param`` (an optional part
    of a stage's contract, such as a selector's ``max_clips``)."""
    try:
        found = inspect.signature(lookup(kind, name).factory).parameters.get(param)
    except (TypeError, ValueError):
        return False
    return found is not None and found.kind in (found.KEYWORD_ONLY, found.POSITIONAL_OR_KEYWORD)


def accepts(kind: str, name: str, param: str) -> bool:
    """Whether the factory of ``name`` can be given the keyword parameter ``param`` (it names
    it or takes ``**params``)."""
    try:
        inspect.signature(lookup(kind, name).factory).bind_partial(**{param: None})
    except TypeError:
        return False
    except ValueError:  # no signature to read: the call will tell
        pass
    return True


class Deferred:
    """A stage factory that imports its implementation only when a stage is built (or its
    parameters are read), so loading the plugin that registers it stays cheap: m0's built-in
    plugins register their stages this way, and a third party may too.

    ``target`` is ``"package.module:Name"``; the object it names is the real factory. Its
    signature is the target's (what :func:`create` checks parameters against). A target that
    fails to import fails when the stage is built, as one line naming the plugin
    (:func:`blame`).
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._loaded: Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        """The real factory (imported on the first call)."""
        if self._loaded is None:
            self._loaded = load_target(self.target)
        return self._loaded

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature | None:
        try:
            return inspect.signature(self.load())
        except Exception:  # reported when the stage is built, inside blame()
            return None

    def __repr__(self) -> str:
        return f"deferred({self.target!r})"


def deferred(target: str) -> Deferred:
    """``register(name, deferred("package.module:Name"))``: see :class:`Deferred`."""
    return Deferred(target)


def _refused(factory: Callable[..., Any], params: dict[str, Any],
             set_by_m0: Collection[str] = ()) -> str | None:
    """Why ``factory`` cannot be called with ``params`` (keyword arguments), or ``None``:
    ``the option "x": did you mean "y"? (it takes: a, b)`` for names it has no parameter for,
    listing those a user may give (not ``set_by_m0``: ``-P`` refuses them)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return None
    try:
        signature.bind(**params)
    except TypeError as exc:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        named = [p.name for p in signature.parameters.values() if p.kind in kinds]
        unknown = [k for k in params if k not in named]
        if not unknown or any(p.kind is inspect.Parameter.VAR_KEYWORD
                              for p in signature.parameters.values()):
            return None if _missing(factory, params) else str(exc)
        options = ", ".join(f'"{k}"' for k in unknown)
        settable = [name for name in named if name not in set_by_m0]
        near = difflib.get_close_matches(unknown[0], settable, n=1) if len(unknown) == 1 else []
        hint = f': did you mean "{near[0]}"?' if near else ""
        takes = f"it takes: {', '.join(settable)}" if settable else "it takes no options"
        return f"the option{'s' * (len(unknown) > 1)} {options}{hint} ({takes})"
    return None


def _missing(factory: Callable[..., Any], params: dict[str, Any]) -> list[str]:
    """The keyword parameters ``factory`` needs (no default) that ``params`` does not give."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in signature.parameters.values()
            if p.kind in kinds and p.default is p.empty and p.name not in params]


def origin(kind: str, name: str) -> str:
    """Who provides the stage ``name`` of ``kind``, for messages:
    ``plugin "m0-foo" (selector "foo", from m0-foo 1.2)``, shortened to
    ``plugin "foo" (selector, from m0-foo 1.2)`` when the plugin has the stage's name, and
    ``selector "foo"`` for a name no plugin registered (a combined analyzer ``a+b``)."""
    stage = kind[:-1]
    reg = _find(kind, name)
    if reg is None:
        return f'{stage} "{name}"'
    info = _infos.get(reg.plugin)
    what = stage if reg.plugin == name else f'{stage} "{name}"'
    dist = f", from {info.dist} {info.version}" if info is not None and info.dist else ""
    return f'plugin "{reg.plugin}" ({what}{dist})'


def builtin(kind: str, name: str) -> bool:
    """Whether the stage ``name`` of ``kind`` is m0's own (registered by a built-in plugin)."""
    reg = _find(kind, name)
    info = _infos.get(reg.plugin) if reg is not None else None
    return info is not None and info.builtin


def broken(kind: str, name: str, problem: str) -> PluginError:
    """The error for the stage ``name`` of ``kind`` breaking its contract (``problem``, e.g.
    "returned None, not a 1-D array of score values"): one line naming its plugin."""
    return PluginError(f"{origin(kind, name)}: {problem}")


def analyzer_scores(name: str, method: Callable[..., Any], *args: Any) -> np.ndarray:
    """The scores that the analyzer ``name``'s ``method(*args)`` (``feed(chunk)``,
    ``finish()``) returns, as float32: its exception, or values that are not a 1-D array of
    finite numbers (:func:`m0core.contracts.scores_problem`), are one line naming its plugin."""
    with blame("analyzers", name):
        returned = method(*args)
        scores = np.asarray(returned, dtype=np.float32)
    problem = contracts.scores_problem(returned, scores)
    if problem is not None:
        raise broken("analyzers", name, problem)
    return scores


def check_count(name: str, values: int, samples: int, rate: int, hop: float) -> None:
    """Raise the error naming the plugin of the analyzer ``name`` if it gave another number of
    ``values`` over ``samples`` at ``rate`` than one per hop begun
    (:func:`m0core.contracts.count_problem`): later values would be at other times."""
    problem = contracts.count_problem(values, samples, rate, hop)
    if problem is not None:
        raise broken("analyzers", name, problem)


def probe(source: Any, name: str, path: str) -> MediaInfo:
    """``source.probe(path)``, the source ``name``'s: its exception, or something else than
    a :class:`~m0core.model.MediaInfo`, is one line naming its plugin."""
    with blame("sources", name):
        media = source.probe(path)
    problem = contracts.media_problem(media)
    if problem is not None:
        raise broken("sources", name, problem)
    return media


@contextmanager
def blame(kind: str, name: str) -> Iterator[None]:
    """Report an exception raised inside the block by the stage ``name`` of ``kind`` as one
    line naming its plugin.

    An :class:`M0Error` (the plugin's own one-line error) passes unchanged; any other
    exception, a ``sys.exit()`` too (``SystemExit``), becomes a :class:`PluginError`
    ``<origin>: <type>: <message>`` (see :func:`origin`) raised from it, so ``M0_DEBUG=1``
    shows the plugin's traceback. Wrap only the call into the plugin, not m0's own work
    around it.
    """
    try:
        yield
    except M0Error:
        raise
    except (Exception, SystemExit) as exc:
        detail = said(exc)
        raise PluginError(f"{origin(kind, name)}: {detail}") from exc


def reset() -> None:
    """Forget loaded and blocked plugins, registries and tracing (for tests)."""
    global _loaded, _registries, _undo_trace
    with _lock:
        for name, plugin in list(pm.list_name_plugin()):
            if plugin is not None:
                pm.unregister(plugin, name=name)
        for name in _blocked:
            pm.unblock(name)
        _blocked.clear()
        if _undo_trace is not None:
            _undo_trace()
            _undo_trace = None
        _infos.clear()
        _loaded = False
        _registries = None


def invalidate() -> None:
    """Rebuild the registries on next use (after registering a plugin by hand)."""
    global _registries
    with _lock:
        _registries = None
