#include "cab.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../fft_design.hpp"

namespace tonemorph {

namespace {
constexpr double kBandLoHz = 30.0, kBandHiHz = 20000.0;  // CAB_BAND_LO_HZ, CAB_BAND_HI_HZ

// K.log_band_weights @ band_db: linear interpolation in log-frequency, flat beyond the ends.
std::vector<double> curve_db(const std::vector<double>& band_db, int n_fft, double rate) {
    const size_t nb = band_db.size();
    std::vector<double> lb(nb);
    for (size_t i = 0; i < nb; ++i)
        lb[i] = std::log(i + 1 == nb ? kBandHiHz
                                     : kBandLoHz * std::pow(kBandHiHz / kBandLoHz,
                                                            double(i) / double(nb - 1)));
    std::vector<double> curve(n_fft / 2 + 1);
    for (size_t k = 0; k < curve.size(); ++k) {
        const double f = double(k) / (double(n_fft) * (1.0 / rate));
        const double lf = std::log(std::max(f, std::exp(lb[0])));
        long idx = std::lower_bound(lb.begin(), lb.end(), lf) - lb.begin() - 1;
        idx = std::clamp(idx, 0L, long(nb) - 2);
        const double t = std::clamp((lf - lb[idx]) / (lb[idx + 1] - lb[idx]), 0.0, 1.0);
        curve[k] = (1 - t) * band_db[idx] + t * band_db[idx + 1];
    }
    return curve;
}
}  // namespace

std::vector<double> cab_ir(const std::vector<double>& band_db, int n_taps, int n_fft,
                           double sample_rate) {
    std::vector<double> curve = curve_db(band_db, n_fft, sample_rate);
    std::vector<cplx> log_mag(curve.size());
    for (size_t k = 0; k < curve.size(); ++k) log_mag[k] = curve[k] * (std::log(10.0) / 20.0);
    // real cepstrum folded onto positive quefrencies, exponentiated back (cepstral_minimum_phase)
    std::vector<double> cep = irfft(log_mag, n_fft);
    for (int i = 1; i < n_fft / 2; ++i) cep[i] *= 2.0;
    for (int i = n_fft / 2 + 1; i < n_fft; ++i) cep[i] = 0.0;
    std::vector<cplx> spec = rfft(cep);
    for (auto& c : spec) c = std::exp(c);
    std::vector<double> ir = irfft(spec, n_fft);
    ir.resize(n_taps);
    const int fade = std::max(n_taps / 8, 1);  // half-Hann over the last eighth
    for (int i = 0; i < fade; ++i) {
        const double ang = fade > 1 ? M_PI * i / (fade - 1) : 0.0;
        ir[n_taps - fade + i] *= 0.5 * (1 + std::cos(ang));
    }
    return ir;
}

PartitionedFir::PartitionedFir(const std::vector<double>& ir) {
    const int n = static_cast<int>(ir.size());
    n_head_ = std::min(n, kPart);
    n_parts_ = (std::max(n - kPart, 0) + kPart - 1) / kPart;
    head_.resize(n_head_);
    for (int i = 0; i < n_head_; ++i) head_[i] = static_cast<float>(ir[i]);
    xbuf_.assign(2 * kPart - 1, 0.0f);
    prev_.assign(kPart, 0.0f);
    tail_out_.assign(kPart, 0.0f);
    time_.assign(2 * kPart, 0.0f);
    hspec_.resize(size_t(n_parts_) * 2 * kBins);
    fdl_.assign(size_t(n_parts_) * 2 * kBins, 0.0f);
    acc_.assign(2 * kBins, 0.0f);
    spec_.resize(kBins);
    fwd_ = kiss_fftr_alloc(2 * kPart, 0, nullptr, nullptr);
    inv_ = kiss_fftr_alloc(2 * kPart, 1, nullptr, nullptr);
    for (int p = 0; p < n_parts_; ++p) {
        std::fill(time_.begin(), time_.end(), 0.0f);
        for (int k = 0; k < kPart; ++k) {
            const int tap = kPart + p * kPart + k;
            // float32 taps, as the fast path's Fir; scaled by 1/(2 kPart) for kissfft's inverse
            if (tap < n) time_[k] = static_cast<float>(ir[tap]) / (2.0f * kPart);
        }
        kiss_fftr(fwd_, time_.data(), spec_.data());
        split(spec_.data(), &hspec_[size_t(p) * 2 * kBins]);
    }
}

PartitionedFir::~PartitionedFir() {
    kiss_fftr_free(fwd_);
    kiss_fftr_free(inv_);
}

void PartitionedFir::reset() {
    std::fill(xbuf_.begin(), xbuf_.end(), 0.0f);
    std::fill(prev_.begin(), prev_.end(), 0.0f);
    std::fill(tail_out_.begin(), tail_out_.end(), 0.0f);
    std::fill(fdl_.begin(), fdl_.end(), 0.0f);
    fill_ = 0;
    fdl_pos_ = 0;
}

void PartitionedFir::adopt(const PartitionedFir& o) {
    if (o.n_parts_ != n_parts_ || o.n_head_ != n_head_) return;
    xbuf_ = o.xbuf_;  // same sizes: vector assignment copies without allocating
    prev_ = o.prev_;
    fdl_ = o.fdl_;
    tail_out_ = o.tail_out_;  // computed with o's taps; the crossfade hides the difference
    fill_ = o.fill_;
    fdl_pos_ = o.fdl_pos_;
}

void PartitionedFir::process(float* x, int n) {
    while (n > 0) {
        const int m = std::min(n, kPart - fill_);
        std::memcpy(&xbuf_[kPart - 1 + fill_], x, sizeof(float) * m);
        convolve_head(x, m);
        for (int i = 0; i < m; ++i) x[i] += tail_out_[fill_ + i];
        fill_ += m;
        x += m;
        n -= m;
        if (fill_ == kPart) tail_step();
    }
}

void PartitionedFir::convolve_head(float* x, int n) {
    // y[i] = sum_k h[k] in[t + i - k], in = xbuf_ from position kPart - 1 + fill_
    const float* in = &xbuf_[kPart - 1 + fill_];
    float y[kPart];
    for (int i = 0; i < n; ++i) y[i] = 0.0f;
    for (int k = 0; k < n_head_; ++k) {
        const float hk = head_[k];
        const float* s = in - k;
        for (int i = 0; i < n; ++i) y[i] += hk * s[i];
    }
    std::memcpy(x, y, sizeof(float) * n);
}

void PartitionedFir::split(const kiss_fft_cpx* in, float* out) {
    for (int b = 0; b < kBins; ++b) out[b] = in[b].r, out[kBins + b] = in[b].i;
}

void PartitionedFir::tail_step() {
    const float* cur = &xbuf_[kPart - 1];
    if (n_parts_ > 0) {
        std::memcpy(time_.data(), prev_.data(), sizeof(float) * kPart);
        std::memcpy(time_.data() + kPart, cur, sizeof(float) * kPart);
        fdl_pos_ = (fdl_pos_ + n_parts_ - 1) % n_parts_;  // newest spectrum goes to fdl_pos_
        kiss_fftr(fwd_, time_.data(), spec_.data());
        split(spec_.data(), &fdl_[size_t(fdl_pos_) * 2 * kBins]);
        float* ar = acc_.data();
        float* ai = ar + kBins;
        std::fill(acc_.begin(), acc_.end(), 0.0f);
        for (int p = 0; p < n_parts_; ++p) {
            const float* xr = &fdl_[size_t((fdl_pos_ + p) % n_parts_) * 2 * kBins];
            const float* xi = xr + kBins;
            const float* hr = &hspec_[size_t(p) * 2 * kBins];
            const float* hi = hr + kBins;
            for (int b = 0; b < kBins; ++b) {
                ar[b] += xr[b] * hr[b] - xi[b] * hi[b];
                ai[b] += xr[b] * hi[b] + xi[b] * hr[b];
            }
        }
        for (int b = 0; b < kBins; ++b) spec_[b] = {ar[b], ai[b]};
        kiss_fftri(inv_, spec_.data(), time_.data());
        std::memcpy(tail_out_.data(), time_.data() + kPart, sizeof(float) * kPart);
    }
    std::memcpy(prev_.data(), cur, sizeof(float) * kPart);
    std::memmove(xbuf_.data(), xbuf_.data() + kPart, sizeof(float) * (kPart - 1));
    fill_ = 0;
}

}  // namespace tonemorph
