"""`tonemorph plugin build|install` and `tonemorph export --format plugin` from the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from plugin_support import BUILD_DIR, FULL_TONE
from typer.testing import CliRunner

from tonemorph.cli import app


def test_export_names_the_plugin_after_the_tone_and_install_copies_it(exported, tmp_path,
                                                                      monkeypatch):
    runner = CliRunner()
    r = runner.invoke(app, ["export", str(FULL_TONE), "--format", "plugin", "-o",
                            str(BUILD_DIR)])
    assert r.exit_code == 0, r.output
    assert "tonemorph-learned-fast.lv2" in r.output
    ttl = (BUILD_DIR / "tonemorph-learned-fast.lv2" / "tonemorph-learned-fast.ttl").read_text()
    assert '"tonemorph learned_fast"' in ttl  # the name hosts list it under
    monkeypatch.setenv("HOME", str(tmp_path))
    r = runner.invoke(app, ["plugin", "install", str(FULL_TONE), "--formats", "lv2,clap",
                            "-o", str(BUILD_DIR)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / ".lv2" / "tonemorph-learned-fast.lv2" / "manifest.ttl").is_file()
    assert (tmp_path / ".clap" / "tonemorph-learned-fast.clap").is_file()


def test_export_plugin_refuses_a_bad_tone_in_one_line(tmp_path):
    bad = tmp_path / "bad.tmodel"
    bad.write_text('{"kind": "tone"}')
    r = CliRunner().invoke(app, ["export", str(bad), "--format", "plugin", "-o",
                                 str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "bad.tmodel" in r.output and len(r.output.strip().splitlines()) == 1


def test_export_plugin_refuses_a_file_as_its_folder_before_building(tmp_path):
    taken = tmp_path / "cab.wav"
    taken.write_bytes(b"an IR I like")
    r = CliRunner().invoke(app, ["export", str(FULL_TONE), "--format", "plugin", "-o",
                                 str(taken)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "is a file" in r.output and taken.read_bytes() == b"an IR I like"


def test_unknown_format_is_refused(tmp_path):
    r = CliRunner().invoke(app, ["plugin", "build", "--formats", "vst2", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "vst2" in r.output


def test_build_options_are_checked_before_any_build(tmp_path):
    taken = tmp_path / "cab.wav"
    taken.write_bytes(b"an IR I like")
    for args, says in ((["--formats", ""], "no plugin format"), (["-j", "0"], "--jobs must be"),
                       (["-o", str(taken)], "is a file")):
        r = CliRunner().invoke(app, ["plugin", "build", "-o", str(tmp_path / "b"), *args])
        assert r.exit_code == 2 and says in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cab.wav"]
    assert taken.read_bytes() == b"an IR I like"


def test_a_new_tone_exported_under_the_same_name_is_rebuilt_or_refused(built, clean_tone,
                                                                         tmp_path):
    # make rebuilt nothing for a new tone under the same name (the embedded document was no
    # prerequisite): the export said "wrote" and the bundles kept the old tone
    from tonemorph.errors import OutputPathError
    from tonemorph.plugin import export_plugin

    def embeds(result, tone) -> bool:
        return tone.read_bytes() in result.bundles["clap"].read_bytes()

    first = export_plugin(FULL_TONE, BUILD_DIR, name="same name", formats=("clap",),
                          overwrite=True)
    assert embeds(first, FULL_TONE)
    again = export_plugin(FULL_TONE, BUILD_DIR, name="same name", formats=("clap",))
    assert embeds(again, FULL_TONE)  # the same tone again: nothing to replace
    with pytest.raises(OutputPathError, match="built from another tone named 'same-name'"):
        export_plugin(clean_tone, BUILD_DIR, name="same name", formats=("clap",))
    r = CliRunner().invoke(app, ["export", str(clean_tone), "--format", "plugin", "--name",
                                 "same name", "-o", str(BUILD_DIR)])
    assert r.exit_code == 2 and "--force" in r.output, r.output
    replaced = export_plugin(clean_tone, BUILD_DIR, name="same name", formats=("clap",),
                             overwrite=True)
    assert embeds(replaced, clean_tone) and not embeds(replaced, FULL_TONE)


def test_jack_standalone_of_an_exported_tone_starts(exported, tmp_path):
    """The JACK program links and starts; without a JACK server it stops with that reason."""
    from tonemorph.plugin import export_plugin

    jack = export_plugin(FULL_TONE, BUILD_DIR, formats=("jack",)).bundles["jack"]
    try:
        r = subprocess.run([str(jack)], capture_output=True, text=True, timeout=5, check=False,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    except subprocess.TimeoutExpired:
        return  # a JACK server is running here: the program is serving audio
    assert r.returncode != 0 and "JACK" in r.stdout + r.stderr


def test_plugin_commands_do_not_import_torch():
    code = ("import sys; import tonemorph.plugin, tonemorph.plugin.builder; "
            "from tonemorph.cli import app; "
            "from typer.testing import CliRunner; "
            "assert CliRunner().invoke(app, ['plugin', '--help']).exit_code == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=False, timeout=120)
    assert r.returncode == 0, r.stderr
