// Identity of the plugin that loads any `.tmodel` file. `tonemorph export --format plugin`
// writes its own copy of this header (name, URI, ids, built-in tone) into its build folder.
#pragma once
#define TONEMORPH_PLUGIN_NAME "tonemorph"
#define TONEMORPH_PLUGIN_URI "urn:tonemorph:plugin"
#define TONEMORPH_CLAP_ID "org.tonemorph.plugin"
#define TONEMORPH_UNIQUE_ID d_cconst('t', 'm', 'r', 'f')
#define TONEMORPH_EMBEDDED 0
