// A small CLAP host for tests: dlopens a .clap, runs planar float32 audio through it in
// fixed-size blocks, like a DAW would (parameters, state, latency, automation), and counts
// heap calls made on the audio thread inside process().
//
//   clap_host PLUGIN.clap --rate HZ --channels 1|2 --block N --in IN.f32 --out OUT.f32
//       [--model PATH] [--document PATH] [--state-in FILE] [--state-out FILE]
//       [--param ID=VALUE]... [--at SAMPLE:ID=VALUE]... [--settle-ms MS]
//       [--pause-at SAMPLE:MS]      (wait MS before the block holding SAMPLE)
//       [--replace-at SAMPLE:SRC]   (overwrite the --model file with SRC there, as a re-learn
//                                    would, then give the plugin's file watcher a second)
// Prints one JSON line: {"latency": L, "latency_end": L, "allocs": N, "blocks": B}.
// Parameter ids: 0 amount (%), 1 drive (dB), 2 tone (dB), 3 level (dB), 4 bypass.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "clap/entry.h"
#include "clap/ext/latency.h"
#include "clap/ext/params.h"
#include "clap/ext/state.h"
#include "clap/plugin-factory.h"
#include "alloc_hook.hpp"

namespace {

struct ParamSet {
    long sample;
    clap_id id;
    double value;
};

struct Args {
    std::string plugin, in, out, model, document, state_in, state_out;
    double rate = 48000, settle_ms = 0;
    int channels = 1, block = 512;
    std::vector<ParamSet> params, at;
    long replace_at = -1, pause_at = -1;
    double pause_ms = 0;
    std::string replace_src;
};

ParamSet parse_set(const std::string& s, long sample) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) throw std::runtime_error("expected ID=VALUE, got " + s);
    return {sample, static_cast<clap_id>(std::stoul(s.substr(0, eq))), std::stod(s.substr(eq + 1))};
}

Args parse(int argc, char** argv) {
    Args a;
    if (argc < 2) throw std::runtime_error("usage: clap_host PLUGIN.clap [options]");
    a.plugin = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
        std::string v = argv[++i];
        if (k == "--rate") a.rate = std::stod(v);
        else if (k == "--channels") a.channels = std::stoi(v);
        else if (k == "--block") a.block = std::stoi(v);
        else if (k == "--in") a.in = v;
        else if (k == "--out") a.out = v;
        else if (k == "--model") a.model = v;
        else if (k == "--document") a.document = v;
        else if (k == "--state-in") a.state_in = v;
        else if (k == "--state-out") a.state_out = v;
        else if (k == "--settle-ms") a.settle_ms = std::stod(v);
        else if (k == "--param") a.params.push_back(parse_set(v, 0));
        else if (k == "--pause-at") {  // real time passes here, as between a DAW's callbacks
            const auto colon = v.find(':');
            a.pause_at = std::stol(v.substr(0, colon));
            a.pause_ms = std::stod(v.substr(colon + 1));
        } else if (k == "--replace-at") {
            const auto colon = v.find(':');
            a.replace_at = std::stol(v.substr(0, colon));
            a.replace_src = v.substr(colon + 1);
        }
        else if (k == "--at") {
            const auto colon = v.find(':');
            a.at.push_back(parse_set(v.substr(colon + 1), std::stol(v.substr(0, colon))));
        } else throw std::runtime_error("unknown option " + k);
    }
    return a;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// --- host callbacks ---------------------------------------------------------------------------
int g_latency_changes = 0;  // the plugin told us its latency changed
void host_latency_changed(const clap_host_t*) { ++g_latency_changes; }
const clap_host_latency_t g_host_latency = {host_latency_changed};
const void* host_get_extension(const clap_host_t*, const char* id) {
    return std::strcmp(id, CLAP_EXT_LATENCY) == 0 ? &g_host_latency : nullptr;
}
void host_noop(const clap_host_t*) {}
clap_host_t g_host = {CLAP_VERSION, nullptr, "tonemorph test host", "tonemorph", "", "1",
                      host_get_extension, host_noop, host_noop, host_noop};

// --- event list of parameter changes ------------------------------------------------------------
struct Events {
    std::vector<clap_event_param_value_t> items;
    static uint32_t size(const clap_input_events_t* l) {
        return static_cast<uint32_t>(static_cast<const Events*>(l->ctx)->items.size());
    }
    static const clap_event_header_t* get(const clap_input_events_t* l, uint32_t i) {
        return &static_cast<const Events*>(l->ctx)->items[i].header;
    }
    clap_input_events_t list() { return {this, size, get}; }
    void add(uint32_t time, clap_id id, double value) {
        clap_event_param_value_t e{};
        e.header = {sizeof e, time, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_PARAM_VALUE, 0};
        e.param_id = id;
        e.note_id = -1, e.port_index = -1, e.channel = -1, e.key = -1;
        e.value = value;
        items.push_back(e);
    }
};
bool out_try_push(const clap_output_events_t*, const clap_event_header_t*) { return true; }

// --- state streams --------------------------------------------------------------------------------
struct InStream {
    std::string data;
    size_t pos = 0;
    static int64_t read(const clap_istream_t* s, void* buf, uint64_t size) {
        auto* self = static_cast<InStream*>(s->ctx);
        const size_t n = std::min<size_t>(size, self->data.size() - self->pos);
        std::memcpy(buf, self->data.data() + self->pos, n);
        self->pos += n;
        return static_cast<int64_t>(n);
    }
};
struct OutStream {
    std::string data;
    static int64_t write(const clap_ostream_t* s, const void* buf, uint64_t size) {
        static_cast<OutStream*>(s->ctx)->data.append(static_cast<const char*>(buf), size);
        return static_cast<int64_t>(size);
    }
};

// DPF's CLAP state layout: key\0value\0 pairs between markers, \xfe at the end
std::string dpf_state(const std::string& model, const std::string& document) {
    std::string s("__dpf_state_begin__", 19);
    s.push_back('\0');
    auto pair = [&s](const std::string& k, const std::string& v) {
        s += k, s.push_back('\0'), s += v, s.push_back('\0');
    };
    if (!model.empty()) pair("model", model);
    if (!document.empty()) pair("document", document);
    s += "__dpf_state_end__";
    s.push_back('\0');
    s.push_back('\xfe');
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Args a = parse(argc, argv);
        void* lib = dlopen(a.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto* entry = static_cast<const clap_plugin_entry_t*>(dlsym(lib, "clap_entry"));
        if (!entry || !entry->init(a.plugin.c_str())) throw std::runtime_error("no clap_entry");
        auto* factory = static_cast<const clap_plugin_factory_t*>(entry->get_factory(CLAP_PLUGIN_FACTORY_ID));
        const clap_plugin_descriptor_t* desc = factory->get_plugin_descriptor(factory, 0);
        const clap_plugin_t* plugin = factory->create_plugin(factory, &g_host, desc->id);
        if (!plugin || !plugin->init(plugin)) throw std::runtime_error("plugin init failed");
        auto* params = static_cast<const clap_plugin_params_t*>(plugin->get_extension(plugin, CLAP_EXT_PARAMS));
        auto* state = static_cast<const clap_plugin_state_t*>(plugin->get_extension(plugin, CLAP_EXT_STATE));
        auto* latency = static_cast<const clap_plugin_latency_t*>(plugin->get_extension(plugin, CLAP_EXT_LATENCY));

        if (!a.state_in.empty() || !a.model.empty() || !a.document.empty()) {
            InStream in{a.state_in.empty() ? dpf_state(a.model, a.document.empty() ? "" : read_file(a.document))
                                           : read_file(a.state_in)};
            clap_istream_t is{&in, InStream::read};
            if (!state->load(plugin, &is)) throw std::runtime_error("state load refused");
        }
        clap_output_events_t out_events{nullptr, out_try_push};
        {
            Events ev;
            for (auto& p : a.params) ev.add(0, p.id, p.value);
            clap_input_events_t list = ev.list();
            params->flush(plugin, &list, &out_events);
        }
        // hosts announce at least 32 frames; blocks of 1 still come one sample at a time
        if (!plugin->activate(plugin, a.rate, 1, static_cast<uint32_t>(std::max(a.block, 32))))
            throw std::runtime_error("activate failed");
        const uint32_t lat0 = latency ? latency->get(plugin) : 0;
        if (a.settle_ms > 0)  // let the worker finish (a tone loaded by path after activate)
            std::this_thread::sleep_for(std::chrono::microseconds(long(a.settle_ms * 1000)));

        std::string raw = read_file(a.in);
        const size_t n = raw.size() / sizeof(float) / a.channels;
        const float* x = reinterpret_cast<const float*>(raw.data());
        std::vector<float> y(n * a.channels);
        std::vector<float> bin[2] = {std::vector<float>(a.block), std::vector<float>(a.block)};
        std::vector<float> bout[2] = {std::vector<float>(a.block), std::vector<float>(a.block)};
        std::vector<Events> events((n + a.block - 1) / a.block);  // built before: no host allocation in process
        for (auto& p : a.at) events[p.sample / a.block].add(uint32_t(p.sample % a.block), p.id, p.value);
        plugin->start_processing(plugin);
        long allocs = 0, blocks = 0;
        for (size_t i = 0; i < n; i += a.block) {
            const uint32_t m = static_cast<uint32_t>(std::min<size_t>(a.block, n - i));
            if (a.pause_at >= long(i) && a.pause_at < long(i + m))
                std::this_thread::sleep_for(std::chrono::microseconds(long(a.pause_ms * 1000)));
            if (a.replace_at >= long(i) && a.replace_at < long(i + m)) {
                const std::string tmp = a.model + ".part";
                std::ofstream(tmp, std::ios::binary) << read_file(a.replace_src);
                std::rename(tmp.c_str(), a.model.c_str());  // atomic, as Tone.save writes
                std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            }
            for (int c = 0; c < 2; ++c)  // a mono take feeds both inputs; channel 0 comes back
                std::memcpy(bin[c].data(), x + (c % a.channels) * n + i, m * sizeof(float));
            float* ins[2] = {bin[0].data(), bin[1].data()};
            float* outs[2] = {bout[0].data(), bout[1].data()};
            clap_audio_buffer_t ain{ins, nullptr, 2, 0, 0}, aout{outs, nullptr, 2, 0, 0};
            clap_input_events_t list = events[i / a.block].list();
            clap_process_t proc{};
            proc.steady_time = static_cast<int64_t>(i);
            proc.frames_count = m;
            proc.audio_inputs = &ain;
            proc.audio_outputs = &aout;
            proc.audio_inputs_count = 1;
            proc.audio_outputs_count = 1;
            proc.in_events = &list;
            proc.out_events = &out_events;
            alloc_count.store(0);
            alloc_watch = true;
            plugin->process(plugin, &proc);
            alloc_watch = false;
            allocs += alloc_count.load();
            ++blocks;
            for (int c = 0; c < a.channels; ++c) std::memcpy(&y[c * n + i], bout[c].data(), m * sizeof(float));
        }
        plugin->stop_processing(plugin);
        const uint32_t lat1 = latency ? latency->get(plugin) : 0;
        if (!a.state_out.empty()) {
            OutStream os;
            clap_ostream_t o{&os, OutStream::write};
            if (!state->save(plugin, &o)) throw std::runtime_error("state save failed");
            std::ofstream(a.state_out, std::ios::binary) << os.data;
        }
        plugin->deactivate(plugin);
        plugin->destroy(plugin);
        entry->deinit();
        std::ofstream(a.out, std::ios::binary)
            .write(reinterpret_cast<const char*>(y.data()), y.size() * sizeof(float));
        std::printf("{\"latency\": %u, \"latency_end\": %u, \"allocs\": %ld, \"blocks\": %ld}\n", lat0,
                    lat1, allocs, blocks);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "clap_host: %s\n", e.what());
        return 2;
    }
}
