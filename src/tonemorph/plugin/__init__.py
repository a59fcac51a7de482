"""The learned tone in the DAW: a native LV2/VST3/CLAP plugin (C++ on DPF) that plays
`.tmodel` tones with the same sound as `tonemorph apply`.

`build` compiles it from the C++ sources shipped in this package (``cpp/``), `install` copies
the bundles into the user's plugin folders, `export_plugin` builds one with a tone built in.
Torch-free and numpy-free: only the standard library and the toolchain.
"""

from tonemorph.plugin.builder import (
    DEFAULT_FORMATS,
    FORMATS,
    PluginBuild,
    PluginToolchainError,
    build,
    export_plugin,
    install,
    missing_packages,
)

__all__ = ["DEFAULT_FORMATS", "FORMATS", "PluginBuild", "PluginToolchainError", "build", "export_plugin", "install",
           "missing_packages"]
