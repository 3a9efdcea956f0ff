"""The plugin manager: built-ins through entry points, duplicates, failures, unknown hooks."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_m0

import m0core
from m0core import hookimpl, plugins
from m0core.errors import OptionError, PluginError
from m0core.model import Timeline

BUILTINS = {
    "sources": {"ffmpeg", "soundfile"},
    "analyzers": {"rms-streaming", "rms-legacy"},
    "selectors": {"standout", "adaptive", "crest", "top"},
    "encoders": {"ffmpeg"},
}


def test_builtins_register_through_entry_points():
    tables = plugins.registries()
    for kind, names in BUILTINS.items():
        assert names <= set(tables[kind]), kind
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["rms"].builtin and infos["rms"].dist == "m0-clipper"
    assert infos["rms"].hooks == ["m0_register_analyzers"]


def test_unknown_name_lists_the_choices():
    with pytest.raises(OptionError, match=r'unknown analyzer "nope" \(available: .*rms-streaming'):
        plugins.lookup("analyzers", "nope")


@pytest.mark.parametrize(("args", "line"), [
    (["-f", "cvs"], 'unknown writer "cvs": did you mean "csv"? (available: chapters, csv,'),
    # 'did you mean "edl"?', as if csv were a typo
    (["-f", "csv,edl"], 'unknown writer "csv,edl": one format a name (-f csv -f edl) '
                        "(available: chapters, csv,"),
    (["--analyzer", "rms-stream"], 'unknown analyzer "rms-stream": did you mean '
                                   '"rms-streaming"? (available: '),
    (["--selector", "standot"], 'unknown selector "standot": did you mean "standout"? '
                                "(available: adaptive, crest, standout, top)"),
    (["--source", "ffmpg"], 'unknown source "ffmpg": did you mean "ffmpeg"? (available: '),
    (["--encoder", "ffmpge"], 'unknown encoder "ffmpge": did you mean "ffmpeg"? (available: '),
])
def test_a_misspelt_name_is_one_line_suggesting_the_nearest(wav, tmp_path, args, line):
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), *args, "-q")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and line in run.stderr


def test_names_are_taken_in_any_case(wav, tmp_path):
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "-f", "CSV", "-f", "csv", "--selector",
                 "Standout", "--analyzer", "RMS-Streaming", "--source", "FFmpeg",
                 "--encoder", "FFMPEG", "--cut", "Accurate", "-q")
    assert run.returncode == 0, run.stderr
    record = json.loads((out / "highlights.json").read_text())
    assert record["clips"]["cut"] == "accurate"
    assert record["selector"]["name"] == "standout"  # recorded as registered
    assert record["analyzer"]["name"] == "rms-streaming"
    assert record["source"]["plugin"] == "ffmpeg"
    assert record["outputs"].count("highlights.csv") == 1


class _Twice:
    @hookimpl
    def m0_register_analyzers(self, register):
        register("rms-streaming", object)


def test_name_registered_twice_names_both_plugins(register_plugin):
    register_plugin(_Twice(), "twice")
    with pytest.raises(PluginError) as info:
        plugins.registries()
    assert '"rms"' in str(info.value) and '"twice"' in str(info.value)


class _TwiceInAnotherCase:
    @hookimpl
    def m0_register_selectors(self, register):
        register("Top", object)


def test_a_name_registered_twice_in_another_case_names_both_plugins(register_plugin):
    """A third-party selector "Top" beside the built-in "top" was taken: '--selector TOP' was
    then 'unknown selector "TOP": did you mean "Top"? (available: Top, adaptive, ..., top)'
    and which one '--selector top' ran was a matter of exact spelling, where names are taken
    in any case."""
    register_plugin(_TwiceInAnotherCase(), "twice-in-another-case")
    with pytest.raises(PluginError) as info:
        plugins.registries()
    assert str(info.value) in (
        'selector "Top" is registered twice: by plugin "selectors" (as "top") and by plugin '
        '"twice-in-another-case"',
        'selector "top" is registered twice: by plugin "twice-in-another-case" (as "Top") and '
        'by plugin "selectors"')


def _registering(kind: str, name: str) -> type:
    """A plugin class whose ``m0_register_<kind>`` hook registers ``name`` (of ``object``)."""
    def hook(self, register):
        register(name, object)

    return type(f"_Registering{kind.title()}", (), {f"m0_register_{kind}": hookimpl(hook)})


class _RaisingAnalyzers:
    @hookimpl
    def m0_register_analyzers(self, register):
        raise RuntimeError("no licence key")


@pytest.mark.parametrize("plugin, said", [
    (_registering("analyzers", ""), "registered an analyzer with no name"),
    (_registering("selectors", ""), "registered a selector with no name"),
    # listed as available, and '--analyzer bass+treble' was 'unknown analyzer "bass"'
    (_registering("analyzers", "bass+treble"),
     'registered an analyzer named "bass+treble": "+" joins analyzers (--analyzer a+b), so no '
     "name has one"),
    (_registering("selectors", "my pick"),
     'registered a selector named "my pick": a name has no spaces'),
    (_RaisingAnalyzers, "failed in m0_register_analyzers: no licence key"),
])
def test_a_plugin_registered_by_hand_that_fails_to_register_is_one_line(register_plugin,
                                                                        plugin, said):
    """It said 'registered a analyzer with no name'. A plugin registered in this process (a
    test's) is told at once (one whose hook raised was taken for an installed plugin that
    failed to load, and reported so after it was unregistered)."""
    register_plugin(plugin(), "failing")
    with pytest.raises(PluginError) as info:
        plugins.registries()
    assert str(info.value) == f'm0 plugin "failing" {said}'


def test_create_reports_bad_parameters():
    with pytest.raises(OptionError, match="rms-streaming"):
        plugins.create("analyzers", "rms-streaming", nonsense=1)


class _Buggy:
    """A selector whose factory has a bug."""

    def __init__(self, timeline, threshold=None):
        self.level = threshold + 1


class _BuggyPlugin:
    @hookimpl
    def m0_register_selectors(self, register):
        register("buggy", _Buggy)


def test_create_tells_bad_parameters_from_a_factory_bug(register_plugin):
    register_plugin(_BuggyPlugin(), "buggy-plugin")
    with pytest.raises(OptionError, match=r'^selector "buggy" does not take the option '
                                          r'"colour" \(it takes no options\)$'):
        plugins.create("selectors", "buggy", timeline=None, colour="red")
    with pytest.raises(PluginError) as info:  # a TypeError inside the factory is its bug
        plugins.create("selectors", "buggy", timeline=None)
    assert str(info.value).startswith(
        'plugin "buggy-plugin" (selector "buggy"): TypeError: unsupported operand')
    assert isinstance(info.value.__cause__, TypeError)


class _Needy:
    """A selector whose factory needs a parameter of its own (no default)."""

    def __init__(self, timeline, after, threshold=None):
        self.after = after

    def feed(self, scores):
        return []

    def finish(self):
        return []


class _NeedyWriter:
    """A writer whose factory needs an argument, which m0 never gives a writer."""

    def __init__(self, title):
        self.title = title

    def write(self, result, out_dir):
        return []


class _NeedyPlugin:
    @hookimpl
    def m0_register_selectors(self, register):
        register("needy", _Needy)

    @hookimpl
    def m0_register_writers(self, register):
        register("needy", _NeedyWriter)


def test_a_parameter_a_stage_needs_is_said_before_anything_runs(register_plugin, wav,
                                                                 tmp_path):
    """A parameter a stage's factory needs (no default) and nobody gave was found when the
    stage was built, for each job of a batch; it is checked with the names, before anything
    runs (plugins.check_params in plugins.named), m0's own parameters (a selector's timeline
    and threshold) taken as given."""
    register_plugin(_NeedyPlugin(), "needy-plugin")
    plugins.check_params("selectors", "needy", {"after": 3})
    with pytest.raises(OptionError, match=r'^selector "needy" needs the parameter "after" '
                                          r"\(-P selector\.after=VALUE\)$"):
        plugins.check_params("selectors", "needy", {})
    options = plugins.named(m0core.Options(selector="NEEDY", selector_params={"after": 3}))
    assert options.selector == "needy"
    with pytest.raises(OptionError, match='needs the parameter "after"'):
        plugins.named(m0core.Options(selector="needy"))
    from m0core.batch import BatchJob, BatchProcessor

    jobs = [BatchJob(str(wav), str(tmp_path / f"o{i}"), job_id=str(i),
                     options=m0core.Options(selector="needy", clips=False)) for i in range(2)]
    with pytest.raises(OptionError, match='needs the parameter "after"'):
        BatchProcessor(1, ledger=str(tmp_path / "m0-batch.sqlite")).process_batch(jobs)
    assert not (tmp_path / "o0").exists() and not (tmp_path / "o1").exists()


def test_a_parameter_a_factory_needs_and_is_not_given_is_named(register_plugin):
    """It said 'selector "needy" does not take missing a required argument: 'after''."""
    register_plugin(_NeedyPlugin(), "needy-plugin")
    with pytest.raises(OptionError, match=r'^selector "needy" needs the parameter "after" '
                                          r"\(-P selector\.after=VALUE\)$"):
        plugins.create("selectors", "needy", timeline=None)
    assert plugins.create("selectors", "needy", timeline=None, after=300).after == 300
    with pytest.raises(PluginError, match=r'^plugin "needy-plugin" \(writer "needy"\): its '
                                          r'factory needs "title", but a writer\'s factory is '
                                          r"called without arguments$"):
        plugins.create("writers", "needy")


class _NarrowEncoder:
    """An encoder whose factory takes only media and out_dir (no **params)."""

    def __init__(self, media, out_dir):
        pass

    def submit(self, highlight):
        raise NotImplementedError

    def close(self, cancel=False):
        pass


class _NoThreshold:
    """A selector whose factory takes no threshold."""

    def __init__(self, timeline):
        pass

    def feed(self, scores):
        return []

    def finish(self):
        return []


class _NarrowPlugin:
    @hookimpl
    def m0_register_encoders(self, register):
        register("narrow", _NarrowEncoder)

    @hookimpl
    def m0_register_selectors(self, register):
        register("narrow", _NoThreshold)


def test_a_factory_not_taking_what_m0_gives_every_stage_is_the_plugins_fault(register_plugin):
    """An encoder factory without workers, cut and timeout said 'encoder "narrow" does not
    take the options "workers", "cut", "timeout" (it takes: media, out_dir)', as if the user
    had given them; m0 gives them to every encoder (and timeline, threshold to every
    selector): the plugin is at fault, not the command line."""
    register_plugin(_NarrowPlugin(), "narrow-plugin")
    with pytest.raises(PluginError, match=r'^plugin "narrow-plugin" \(encoder "narrow"\): its '
                                          r"factory does not take workers, cut, timeout, which "
                                          r"m0 gives every encoder \(take \*\*params\)$"):
        plugins.create("encoders", "narrow", media=None, out_dir=None, workers=1, cut="copy",
                       timeout=60.0)
    with pytest.raises(PluginError, match=r'^plugin "narrow-plugin" \(selector "narrow"\): its '
                                          r"factory does not take threshold, which m0 gives "
                                          r"every selector \(take \*\*params\)$"):
        plugins.create("selectors", "narrow", timeline=None, threshold=None)
    with pytest.raises(OptionError, match=r'^encoder "narrow" does not take the option '
                                          r'"crf" \(it takes no options\)$'):
        plugins.create("encoders", "narrow", media=None, out_dir=None, crf=20)


def test_an_unknown_option_suggests_the_nearest_of_those_a_user_may_give():
    """'-P selector.margn_db=8' said 'selector "standout" does not take the option "margn_db"
    (it takes: timeline, threshold, sensitivity, ...)': no hint, and timeline and threshold,
    which -P refuses as set by m0 itself, among the choices (an encoder's media, out_dir, cut
    and workers, a source's audio_track too)."""
    with pytest.raises(OptionError) as info:
        plugins.create("selectors", "standout", timeline=Timeline(hop=0.1), threshold=None,
                       margn_db=8)
    said = str(info.value)
    assert said.startswith('selector "standout" does not take the option "margn_db": did you '
                           'mean "margin_db"? (it takes: sensitivity, window, ')
    assert "timeline" not in said and "threshold" not in said
    with pytest.raises(OptionError, match=r'^encoder "ffmpeg" does not take the option "crf" '
                                          r'\(it takes: timeout\)$'):
        plugins.create("encoders", "ffmpeg", media=None, out_dir=None, workers=1, cut="copy",
                       timeout=60.0, crf=20)


class _Strict:
    """A selector whose factory refuses a parameter value with m0's OptionError (a ValueError
    of two lines for a margin above 100)."""

    def __init__(self, timeline, threshold=None, margin=1.0):
        if margin < 0:
            raise OptionError(f"margin must be at least 0, not {margin}")
        if margin > 100:
            raise ValueError(f"margin {margin} is too large\n  (at most 100)")


class _StrictPlugin:
    @hookimpl
    def m0_register_selectors(self, register):
        register("strict", _Strict)


def test_a_bad_value_refused_by_a_factory_names_the_stage(register_plugin):
    """The plugin docs: an OptionError (or a ValueError) from the factory is one line naming
    the stage."""
    register_plugin(_StrictPlugin(), "strict-plugin")
    with pytest.raises(OptionError, match='^selector "strict": margin must be at least 0, '
                                          "not -1$"):
        plugins.create("selectors", "strict", timeline=None, margin=-1)
    # it was two lines
    with pytest.raises(OptionError, match=r'^selector "strict": margin 500 is too large; '
                                          r"\(at most 100\)$"):
        plugins.create("selectors", "strict", timeline=None, margin=500)


class _Deferring:
    @hookimpl
    def m0_register_selectors(self, register):
        register("later", plugins.deferred("m0_plugins.selectors.top:Top"))
        register("missing", plugins.deferred("m0_no_such_module:Selector"))


def test_a_deferred_stage_is_imported_when_built(register_plugin):
    from m0core.model import Timeline

    register_plugin(_Deferring(), "deferring")
    timeline = Timeline(0.1, 60.0)
    assert plugins.takes("selectors", "later", "max_clips")
    with pytest.raises(OptionError, match='selector "later" does not take the option "colour"'):
        plugins.create("selectors", "later", timeline=timeline, colour="red")
    assert type(plugins.create("selectors", "later", timeline=timeline)).__name__ == "Top"
    with pytest.raises(PluginError, match=r'^plugin "deferring" \(selector "missing"\): '
                                          "ModuleNotFoundError: No module named"):
        plugins.create("selectors", "missing", timeline=timeline)


def test_origin_names_the_plugin_and_its_distribution():
    version = plugins.version_of("loudness")
    assert plugins.origin("analyzers", "loudness") == \
        f'plugin "loudness" (analyzer, from m0-clipper {version})'
    assert plugins.origin("selectors", "adaptive") == \
        f'plugin "selectors" (selector "adaptive", from m0-clipper {version})'
    assert plugins.origin("analyzers", "loudness+onset") == 'analyzer "loudness+onset"'


def test_blame_lets_m0_errors_through():
    with pytest.raises(OptionError, match="^as it was$"):
        with plugins.blame("selectors", "adaptive"):
            raise OptionError("as it was")
    with pytest.raises(PluginError, match=r'^plugin "selectors" .*: KeyError: \'x\'$'):
        with plugins.blame("selectors", "adaptive"):
            raise KeyError("x")


BROKEN = "raise ImportError('this plugin is broken')\n"
MISSPELT = """
from m0core import hookimpl

@hookimpl
def m0_register_analyser(register):
    register('x', object)
"""


def test_plugin_failing_to_import_is_named_and_others_work(fake_dist, wav, tmp_path):
    env = fake_dist("m0-broken", BROKEN, version="2.5")
    listing = run_m0("plugins", "--all", env=env)
    assert listing.returncode == 0
    expected = 'Error loading m0 plugin "m0-broken" (m0-broken 2.5): ImportError: this plugin'
    assert expected in listing.stderr
    assert "rms" in listing.stdout
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert "m0-broken" in run.stderr
    assert (tmp_path / "out" / "highlights.json").exists()


EXITS = "import sys\nsys.exit(3)\n"


def test_plugin_calling_sys_exit_on_import_is_a_load_error(fake_dist, wav, tmp_path):
    """A module that calls ``sys.exit()`` when imported failed to load like any other: m0
    goes on (it used to end every command silently, with the plugin's exit code)."""
    env = fake_dist("m0-exits", EXITS)
    listing = run_m0("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "m0-exits  (m0-exits 1.0)  failed to load: SystemExit: 3" in listing.stdout
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        'Warning: Error loading m0 plugin "m0-exits" (m0-exits 1.0): SystemExit: 3']
    assert (tmp_path / "out" / "highlights.json").exists()


FAILING_TO_REGISTER = """
from m0core import hookimpl

@hookimpl
def m0_register_selectors(register):
    register('licensed', object)

@hookimpl
def m0_register_analyzers(register):
    raise RuntimeError('no licence key')
"""


def test_a_plugin_whose_hook_raises_is_a_load_error_and_others_work(fake_dist, wav, tmp_path):
    """A plugin whose m0_register_analyzers raised ended every m0 command, 'm0 plugins' and
    runs that use none of its stages too, with 'Error: m0 plugin "m0-licensed" failed in
    m0_register_analyzers: no licence key': it is reported as a plugin that failed to load,
    none of its stages registered, and the others work."""
    env = fake_dist("m0-licensed", FAILING_TO_REGISTER)
    said = "RuntimeError in m0_register_analyzers: no licence key"
    listing = run_m0("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert f"m0-licensed  (m0-licensed 1.0)  failed to load: {said}" in listing.stdout
    assert "licensed" not in listing.stdout.replace("m0-licensed", "")
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        f'Warning: Error loading m0 plugin "m0-licensed" (m0-licensed 1.0): {said}']
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--selector", "licensed",
                 "--no-clips", "-q", env=env)
    assert run.returncode == 1
    assert 'Error: unknown selector "licensed"' in run.stderr


PLUS_IN_A_NAME = """
from m0core import hookimpl

@hookimpl
def m0_register_analyzers(register):
    register('bass+treble', object)
"""


def test_a_plugin_registering_a_name_users_cannot_type_is_a_load_error(fake_dist, wav,
                                                                       tmp_path):
    """An analyzer "bass+treble" was listed as available, and '--analyzer bass+treble' was
    'unknown analyzer "bass"' ('+' joins analyzers)."""
    env = fake_dist("m0-plus", PLUS_IN_A_NAME)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        'Warning: Error loading m0 plugin "m0-plus" (m0-plus 1.0): registered an analyzer '
        'named "bass+treble": "+" joins analyzers (--analyzer a+b), so no name has one']


WRONG_SIGNATURE = """
from m0core import hookimpl

@hookimpl
def m0_register_analyzers(reg):
    reg('x', object)
"""

TWO_LINES = """
from m0core import hookimpl


class Selector:
    def __init__(self, timeline, threshold=None):
        pass

    def feed(self, scores):
        raise RuntimeError("the model is missing\\n  run: fetch-model")

    def finish(self):
        return []


@hookimpl
def m0_register_selectors(register):
    register('two-lines', Selector)
"""


def test_a_plugins_error_of_several_lines_is_one_line(fake_dist, wav, tmp_path):
    """A hook of another signature was 'Error loading m0 plugin ...: PluginValidationError:
    Plugin ... for hook ...' and two lines more (pluggy's message); a stage raising an
    exception whose message has several lines ended the run with them all."""
    fake_dist("m0-wrong", WRONG_SIGNATURE)
    env = fake_dist("m0-two-lines", TWO_LINES)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--selector", "two-lines",
                 "--no-clips", "-q", env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Warning: Error loading m0 plugin "m0-wrong" (m0-wrong 1.0): PluginValidationError: '
        "Plugin 'm0-wrong' for hook 'm0_register_analyzers'; hookimpl definition: "
        "m0_register_analyzers(reg); Argument(s) {'reg'} are declared in the hookimpl but can "
        "not be found in the hookspec",
        'Error: plugin "m0-two-lines" (selector "two-lines", from m0-two-lines 1.0): '
        "RuntimeError: the model is missing; run: fetch-model"]


NAMED_AS_A_BUILTIN = """
from m0core import hookimpl

@hookimpl
def m0_register_selectors(register):
    register('rms-peaks', object)
"""


def test_a_plugin_named_as_a_built_in_is_a_load_error_and_the_built_in_stays(fake_dist, wav,
                                                                            tmp_path):
    """A third-party entry point named "rms" (the built-in plugin of rms-streaming) replaced
    it: 'm0 plugins' showed 'rms  (m0-clipper ...)' registering the other's selector, and every
    run with the default analyzer was 'unknown analyzer "rms-streaming"'; installed in the
    other order, the third-party plugin was skipped without a word."""
    env = fake_dist("rms", NAMED_AS_A_BUILTIN, version="0.3")
    said = ('Error loading m0 plugin "rms" (rms 0.3): another installed plugin has that name '
            '(m0-clipper ')
    listing = run_m0("plugins", "--all", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "registers: analyzer:rms-legacy, analyzer:rms-streaming" in listing.stdout
    assert "rms-peaks" not in listing.stdout
    assert said in listing.stderr
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert [line[:len("Warning: ") + len(said)] for line in run.stderr.splitlines()] == [
        "Warning: " + said]
    assert json.loads((tmp_path / "out" / "highlights.json").read_text())["analyzer"]["name"] \
        == "rms-streaming"


EXITING_STAGES = """
import sys

import numpy as np
from m0core import hookimpl


class Analyzer:
    hop = 0.1

    def feed(self, chunk):
        sys.exit(4)


class Selector:
    def __init__(self, timeline, threshold=None):
        pass

    def feed(self, scores):
        sys.exit(4)

    def finish(self):
        return []


@hookimpl
def m0_register_analyzers(register):
    register("exits", Analyzer)


@hookimpl
def m0_register_selectors(register):
    register("exits", Selector)
"""


@pytest.mark.parametrize("stage", ["analyzer", "selector"])
def test_stage_calling_sys_exit_is_one_line_naming_its_plugin(fake_dist, wav, tmp_path,
                                                                stage):
    """``sys.exit()`` in a stage (the analyzer runs in a decoding worker, the selector in m0's
    own process) ends the run as any exception of a plugin does: not with the plugin's exit
    code and no word, nor as 'a decoding worker died'."""
    env = fake_dist("m0-exits", EXITING_STAGES, version="0.2")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), f"--{stage}", "exits", "--no-clips", "-q",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-exits" ({stage} "exits", from m0-exits 0.2): SystemExit: 4']
    assert not out.exists()


NOT_CALLABLE = """
from m0core import hookimpl

@hookimpl
def m0_register_analyzers(register):
    register("answer", 42)
"""


def test_a_factory_that_is_not_callable_is_named_when_its_stage_is_built(fake_dist, wav,
                                                                          tmp_path):
    """It used to read 'analyzer "answer" does not take these options: 42 is not a callable
    object', with no option given and no plugin named."""
    env = fake_dist("m0-answer", NOT_CALLABLE)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--analyzer", "answer", "-q",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-answer" (analyzer "answer", from m0-answer 1.0): registered 42 as '
        "its factory, which is not callable"]
    assert run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q",
                  env=env).returncode == 0  # the other stages are not affected


def test_debug_shows_the_plugin_traceback_and_the_others_work(fake_dist, wav, tmp_path):
    """M0_DEBUG=1: the traceback instead of one line, and still every other plugin works
    (``m0 plugins`` lists the broken one with its error)."""
    env = fake_dist("m0-broken", BROKEN)
    env["M0_DEBUG"] = "1"
    run = run_m0("plugins", env=env)
    assert run.returncode == 0, run.stderr
    assert "Traceback" in run.stderr and "this plugin is broken" in run.stderr
    assert "m0-broken" in run.stdout and "failed to load: ImportError" in run.stdout
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0, run.stderr
    assert "Traceback" in run.stderr and (tmp_path / "out" / "highlights.json").exists()


def test_misspelt_hook_is_reported_by_plugin_name(fake_dist):
    env = fake_dist("m0-misspelt", MISSPELT)
    run = run_m0("plugins", "--all", env=env)
    assert run.returncode == 0
    assert 'm0 plugin "m0-misspelt"' in run.stderr
    assert "m0_register_analyser" in run.stderr


REGISTERS_NOTHING = """
from m0core import hookimpl

@hookimpl
def m0_register_analyzers(register):
    pass  # registers only with a licence key, say
"""


def test_m0_plugins_says_a_plugin_registers_nothing(fake_dist):
    """m0 plugins showed an empty 'registers:' line for a plugin that registered nothing (a
    line that reads as cut off): it says 'registers: nothing'."""
    run = run_m0("plugins", env=fake_dist("m0-empty", REGISTERS_NOTHING))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    at = lines.index("m0-empty  (m0-empty 1.0)")
    assert lines[at + 1:at + 3] == ["  hooks:     m0_register_analyzers",
                                    "  registers: nothing"], run.stdout


def test_plugins_json_lists_builtins():
    import json

    run = run_m0("plugins", "--all", "--json")
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert "analyzer:rms-streaming" in rows["rms"]["registers"]
    assert rows["selectors"]["builtin"] is True


EXTRA = """
from m0core import hookimpl


class Flat:
    hop = 0.1

    def feed(self, chunk):
        import numpy as np
        return np.zeros(0)


@hookimpl
def m0_register_analyzers(register):
    register('extra', Flat)
"""


def _rows(run):
    import json

    assert run.returncode == 0, run.stderr
    return {r["name"]: r for r in json.loads(run.stdout)}


@pytest.mark.parametrize("allow, loaded", [("", False), ("other, m0-extra", True)])
def test_load_plugins_allow_list_keeps_the_builtins(fake_dist, allow, loaded):
    env = fake_dist("m0-extra", EXTRA)
    env["M0_LOAD_PLUGINS"] = allow
    rows = _rows(run_m0("plugins", "--all", "--json", env=env))
    assert ("analyzer:extra" in rows["m0-extra"]["registers"]) is loaded
    assert rows["m0-extra"]["disabled"] == (None if loaded else "not in M0_LOAD_PLUGINS")
    assert "analyzer:rms-streaming" in rows["rms"]["registers"]
    assert rows["rms"]["disabled"] is None


def test_a_misspelt_name_in_load_plugins_is_named_with_the_installed_ones(fake_dist, wav,
                                                                            tmp_path):
    """M0_LOAD_PLUGINS=m0-extr loaded no m0-extra, and nothing said so (m0 plugins --json, a
    script's check of what loads, said nothing of it until it was mended)."""
    env = fake_dist("m0-extra", EXTRA)
    env["M0_LOAD_PLUGINS"] = "m0-extr"
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-q", env=env)
    assert run.returncode == 0 and run.stderr == (
        'Warning: M0_LOAD_PLUGINS names "m0-extr", not an installed m0 plugin (the '
        "third-party plugins installed: m0-extra)\n"), run.stderr
    for json_too in ([], ["--json"]):
        run = run_m0("plugins", *json_too, env=env)
        assert run.returncode == 0 and run.stderr.startswith(
            'Warning: M0_LOAD_PLUGINS names "m0-extr"'), (json_too, run.stderr)
    assert json.loads(run.stdout)[0]["disabled"] == "not in M0_LOAD_PLUGINS"
    env["M0_LOAD_PLUGINS"] = "m0-extra"  # spelt right: loaded, nothing said
    run = run_m0("plugins", env=env)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert "registers: analyzer:extra" in run.stdout, run.stdout


def test_safe_mode_skips_a_broken_plugin(fake_dist, wav, tmp_path):
    env = fake_dist("m0-broken", BROKEN)
    env["M0_LOAD_PLUGINS"] = ""
    run = run_m0("analyze", str(wav), str(tmp_path), "--no-clips", "-q", env=env)
    assert run.returncode == 0 and run.stderr == ""


def test_disable_plugin_blocks_a_third_party_plugin(fake_dist, wav, tmp_path):
    env = fake_dist("m0-extra", EXTRA)
    rows = _rows(run_m0("--disable-plugin", "m0-extra", "plugins", "--json", env=env))
    assert rows["m0-extra"]["registers"] == []
    assert rows["m0-extra"]["disabled"] == "disabled by --disable-plugin"
    run = run_m0("--disable-plugin", "m0-extra", "analyze", str(wav), str(tmp_path),
                 "--analyzer", "extra", "--no-clips", env=env)
    assert run.returncode == 1
    assert run.stderr.startswith('Error: unknown analyzer "extra" (available: ')
    # it used to say nothing of the plugin not loaded, which may have registered it
    assert run.stderr.endswith("; not loaded: m0-extra, disabled by --disable-plugin)\n")
    env["M0_LOAD_PLUGINS"] = ""
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "extra", "--no-clips",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.endswith("; not loaded: m0-extra, not in M0_LOAD_PLUGINS)\n")


def test_a_name_of_a_plugin_that_failed_to_load_says_so(fake_dist, wav, tmp_path):
    """m0 analyze --encoder logged, its plugin failing to import, ended 'Error: unknown
    encoder "logged" (available: ffmpeg)', as if no plugin gave it, where one disabled is
    named ('not loaded: …'): one that failed to load is named too."""
    env = fake_dist("m0-broken", BROKEN)
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "broken", "--no-clips",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].startswith('Error: unknown analyzer "broken" ')
    assert run.stderr.endswith("; not loaded: m0-broken, failed to load)\n"), run.stderr


def test_disable_plugin_after_the_command_says_where_it_goes():
    """m0 plugins --disable-plugin m0-extra (where a user puts an option) said only 'No such
    option', as if m0 had none of that name. It says that it goes before the command."""
    run = run_m0("cache", "info", "--disable-plugin", "m0-extra")
    assert run.returncode == 2 and run.stderr.startswith(
        "Error: No such option '--disable-plugin'. (--disable-plugin is m0's own option: it "
        "goes before the command, m0 --disable-plugin NAME cache info ...)"), run.stderr
    assert len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize("name, message", [
    ("rms", 'cannot disable plugin "rms": it is built into m0'),
    ("m0-nope", 'cannot disable plugin "m0-nope": no m0 plugin of that name is installed'),
])
def test_disable_plugin_refuses_builtins_and_unknown_names(name, message):
    run = run_m0("--disable-plugin", name, "plugins")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"Error: {message} (see 'm0 plugins')"
                                                if "nope" in name else f"Error: {message}"]


def test_trace_prints_every_hook_call():
    env = dict(os.environ, M0_TRACE_PLUGINS="1")
    run = run_m0("plugins", env=env)
    assert run.returncode == 0
    for kind, plugin in [("analyzers", "rms"), ("selectors", "selectors"),
                         ("sources", "ffmpeg-source"), ("encoders", "ffmpeg-encoder")]:
        assert f"m0 trace: m0_register_{kind}(register) → {plugin}" in run.stderr
        assert f"m0 trace: m0_register_{kind} ← {plugin}: ok" in run.stderr
    assert "m0 trace" not in run_m0("plugins").stderr


def test_loading_every_plugin_imports_no_heavy_library():
    """Every m0 process (and every segment worker) loads every plugin: a plugin module must
    import what is heavy (scipy, librosa, numba, PyAV) when it is used, not when it is loaded."""
    import subprocess
    import sys

    code = ("import sys; from m0core import plugins; plugins.registries(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'librosa', 'numba', 'sklearn', 'soundfile', 'av'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_builtin_stage_is_imported_when_a_run_builds_it():
    """The built-ins register their stages deferred (plugins.deferred): loading every plugin
    imports none of their implementations; building a stage imports its own only."""
    import subprocess
    import sys

    code = ("import sys; from m0core import plugins; plugins.registries(); "
            "before = {m for m in sys.modules if m.startswith('m0_plugins.')}; "
            "plugins.create('analyzers', 'rms-streaming'); "
            "print(sorted(m for m in before if not hasattr(sys.modules[m], '__path__'))); "
            "print(sorted({m for m in sys.modules if m.startswith('m0_plugins.')} - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    modules, built = out.stdout.splitlines()
    assert modules == "['m0_plugins.writers.timelines']", out.stderr  # the formats' names
    assert built == "['m0_plugins.rms.measure', 'm0_plugins.rms.streaming']"


def test_a_worker_builds_its_stages_without_reading_distributions():
    """A segment worker loads the plugins its parent named (:func:`plugins.load_only`) and
    builds its stages without :mod:`importlib.metadata` (reading every distribution's metadata
    costs each worker ~0.04 s of its start-up)."""
    import subprocess
    import sys

    code = ("import sys; from m0core import plugins; plugins.registries(); "
            "print(repr(plugins.modules_of([('sources', 'pyav'), "
            "('analyzers', 'rms-streaming')])))")
    named = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    code = ("import sys; from m0core import plugins; "
            f"plugins.load_only({named.stdout.strip()}); "
            "plugins.create('sources', 'pyav'); plugins.create('analyzers', 'rms-streaming'); "
            "print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", named.stdout + out.stdout + out.stderr
