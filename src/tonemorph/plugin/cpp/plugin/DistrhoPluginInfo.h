// DPF build-time description of the tonemorph plugin (one source for LV2, VST3, CLAP, JACK).
#pragma once

#include "tonemorph_identity.h"

#define DISTRHO_PLUGIN_BRAND "tonemorph"
#define DISTRHO_PLUGIN_NAME TONEMORPH_PLUGIN_NAME
#define DISTRHO_PLUGIN_URI TONEMORPH_PLUGIN_URI
#define DISTRHO_PLUGIN_CLAP_ID TONEMORPH_CLAP_ID

#define DISTRHO_PLUGIN_HAS_UI 0
#define DISTRHO_PLUGIN_IS_RT_SAFE 1
#define DISTRHO_PLUGIN_NUM_INPUTS 2
#define DISTRHO_PLUGIN_NUM_OUTPUTS 2
#define DISTRHO_PLUGIN_WANT_LATENCY 1
#if TONEMORPH_EMBEDDED
// the tone is built in: no file state, which also keeps LV2 free of atom ports (lv2apply,
// simple hosts); the host still saves the knobs
#define DISTRHO_PLUGIN_WANT_STATE 0
#else
#define DISTRHO_PLUGIN_WANT_STATE 1
#define DISTRHO_PLUGIN_WANT_FULL_STATE 1
#endif

#define DISTRHO_PLUGIN_LV2_CATEGORY "lv2:DistortionPlugin"
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Distortion|Stereo"
#define DISTRHO_PLUGIN_CLAP_FEATURES "audio-effect", "distortion", "stereo"
